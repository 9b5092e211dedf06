"""literals.py and the revision file's escaping, unit by unit.

quote_literal's output must mean the same text on a server with standard_conforming_strings
on and off (checked on the real server, both settings); tidy must change layout only
outside tokens; executable_sql must survive SQLAlchemy's text() byte for byte; the
revision template must turn any -m message into inert docstring text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT
from mako.template import Template
from sqlalchemy import text

from bindu_schema import literals, statements
from bindu_schema.compile import DIALECT
from bindu_schema.errors import BinduSchemaError
from bindu_schema.revfile import executable_sql
from bindu_schema.server import connect

TEXTS = [
    "plain",
    "it's",
    "tab\there",
    "cr\rhere and crlf\r\n",
    "line\u2028separator and \u2029 paragraph",
    "back\\slash",
    "\\'; DELETE FROM v; --",
    "ends with a backslash\\",
    "colon \\: escaped \\:name and :name and ::int",
    "percent % and %(x)s",
    "dollar $$ and $tag$",
    "ünïcödé 名前",
    "",
]


@pytest.mark.parametrize("value", TEXTS)
def test_quote_literal_parses_back_to_the_text(value: str) -> None:
    lit = literals.quote_literal(value)
    assert literals.string_constants(f"SELECT {lit}") == [value]
    assert lit.startswith("E'") == ("\\" in value)


@pytest.mark.parametrize("setting", ["on", "off"])
def test_quote_literal_means_the_same_under_both_settings(dev_server, setting: str) -> None:
    """On the real server: SELECT <literal> returns the text, whatever the setting."""
    conn = connect(dev_server, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET standard_conforming_strings = {setting}")
            cur.execute("SET escape_string_warning = off")
            for value in TEXTS:
                cur.execute(f"SELECT {literals.quote_literal(value)}")
                assert cur.fetchone() == (value,)
            # the plain literal these texts used to get means something else when off
            cur.execute("SELECT '" + "a\\tb".replace("'", "''") + "'")
            got = cur.fetchone()
            assert got == (("a\\tb",) if setting == "on" else ("a\tb",))
    finally:
        conn.close()


def test_quote_literal_refuses_nul() -> None:
    with pytest.raises(BinduSchemaError, match="NUL"):
        literals.quote_literal("a\x00b")
    assert literals.quote_literal_or_null(None) == "NULL"


def test_tidy_changes_layout_only_outside_tokens() -> None:
    ddl = (
        "CREATE TABLE t (\r\n\ta text DEFAULT 'x\ty\r\u2028z' , \n"
        '\t"col\tname" text, -- a\tcomment\n'
        "\tb text DEFAULT $q$\t$q$ \n)\t"
    )
    out = literals.tidy(ddl)
    assert out == (
        "CREATE TABLE t (\n    a text DEFAULT 'x\ty\r\u2028z' ,\n"
        '    "col\tname" text, -- a\tcomment\n'
        "    b text DEFAULT $q$\t$q$\n)"
    )
    assert literals.string_constants(out) == literals.string_constants(ddl)
    assert statements.parse(out).name == "t"


@pytest.mark.parametrize(
    "sql",
    [
        "COMMENT ON TABLE t IS E'a\\\\:b'",
        "COMMENT ON TABLE t IS 'x\\:y'",
        "COMMENT ON TABLE t IS 'x\\:'",
        "COMMENT ON TABLE t IS 'x\\\\:y'",
        "COMMENT ON TABLE t IS 'x\\\\\\:y :name ::int \\::z'",
        "SELECT 'a:b', x::int, :v, \\:q, \\\\:r, \\::s, 'é\\:ü'",
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT 'x\\:y'::text;",
    ],
)
def test_executable_sql_survives_text(sql: str) -> None:
    """op.execute hands the statement to text(); what text() compiles is the statement."""
    passed = executable_sql(sql)
    compiled = str(text(passed).compile(dialect=DIALECT))
    assert compiled == sql.rstrip(";")


TEMPLATE = ROOT / "generated" / "script.py.mako"
MESSAGES = [
    "plain",
    '"""; import os; os.system(\'touch /tmp/pwned\')',
    'ends with a quote"',
    "back\\slash \\N{BULLET} \\x41 \\",
    "two\nlines\r\nstatements sha256: " + "0" * 64,
    "separator\u2028here\x85\x00nul",
    "ünïcödé 名前",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_revision_message_is_inert_docstring_text(message: str, tmp_path: Path) -> None:
    src = Template(filename=str(TEMPLATE)).render_unicode(
        message=message,
        up_revision="20260101_0001",
        down_revision=None,
        branch_labels=None,
        depends_on=None,
        create_date="2026-01-01",
        bindu=None,
        imports="",
        upgrades="",
        downgrades="",
        comma=", ".join,
    )
    tree = ast.parse(src)  # valid Python
    doc = ast.get_docstring(tree, clean=False)
    assert doc is not None and doc.startswith(message + "\n\nRevision ID: 20260101_0001")
    # nothing but the docstring, imports, assignments and two functions
    kinds = {type(n).__name__ for n in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Import", "AnnAssign", "FunctionDef"}
    assert sum(isinstance(n, ast.Expr) for n in tree.body) == 1
    # the message stays on the docstring's first source line
    assert src.splitlines()[0].startswith('"""')
    assert "Revision ID" in src.splitlines()[2]
