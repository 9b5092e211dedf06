"""String literals are never altered: written so that their meaning does not depend on
the server's settings, and left byte for byte as they are when DDL text is tidied.

`quote_literal` writes the SQL literal of a text. A text with a backslash is written as an
escape string (E'...', backslashes doubled), which every server reads the same way; a
plain '...' literal would mean something else on a server with
standard_conforming_strings = off, where `\\'` ends nothing and a comment such as
`\\'; DELETE FROM v; --` turns into a statement of its own. A text without a backslash is
the same under both settings, so it stays a plain, readable '...'.

`tidy` normalizes the layout of rendered DDL (SQLAlchemy indents with tabs and leaves
trailing spaces) only between PostgreSQL's tokens, as its scanner finds them: string
constants, quoted identifiers, dollar-quoted bodies and comments are tokens, so tabs,
CR, backslashes and U+2028 inside them are kept.
"""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan
from pglast.visitors import Visitor

from .errors import BinduSchemaError


def quote_literal(text: str) -> str:
    """The SQL string literal for text (E'...' when it holds a backslash)."""
    if "\x00" in text:
        raise BinduSchemaError("a PostgreSQL text cannot hold a NUL character")
    body = text.replace("'", "''")
    if "\\" in text:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def quote_literal_or_null(text: str | None) -> str:
    return "NULL" if text is None else quote_literal(text)


def _layout(gap: str) -> str:
    """Whitespace between two tokens: tabs as four spaces, no trailing blanks, \\n only."""
    lines = gap.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(
        [line.replace("\t", "    ").rstrip() for line in lines[:-1]]
        + [lines[-1].replace("\t", "    ")]
    )


def tidy(sql: str) -> str:
    """sql with its layout normalized outside tokens; every token kept as written."""
    text = sql.strip()
    out: list[str] = []
    at = 0
    for tok in scan(text):
        out.append(_layout(text[at : tok.start]))
        out.append(text[tok.start : tok.end + 1])
        at = tok.end + 1
    out.append(_layout(text[at:]))
    return "".join(out).strip()


class _Strings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def visit_A_Const(self, ancestors: object, node: ast.A_Const) -> None:
        if isinstance(node.val, ast.String):
            self.found.append(node.val.sval or "")


def string_constants(sql: str) -> list[str]:
    """The values of the string constants in sql, as PostgreSQL (with
    standard_conforming_strings on) reads them; comments' texts included."""
    try:
        tree = parse_sql(sql)
    except ParseError as exc:
        raise BinduSchemaError(f"not valid SQL ({exc})") from None
    v = _Strings()
    v(tree)
    for raw in tree:
        if isinstance(raw.stmt, ast.CommentStmt) and raw.stmt.comment is not None:
            v.found.append(raw.stmt.comment)
    return v.found
