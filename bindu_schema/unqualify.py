"""Schema-agnostic SQL: drop the `public` qualifier of identifiers in migra's statements.

migra qualifies every name (`"public"."tasks"`, `public.tasks`,
`public.update_updated_at_column()`). A revision in generated/versions/ must migrate
public and every tenant schema alike, so its statements name objects unqualified and
generated/env.py runs them with `search_path` set to the schema being migrated.

Only the qualifier of an identifier is removed: string literals ('...', E'...'),
dollar-quoted bodies ($tag$...$tag$), quoted identifiers other than "public" and comments
are copied verbatim. A `'public.x'::regclass` inside a literal is therefore left alone
(`literal_mentions_public` finds those, so a caller can warn about them).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_PUBLIC_IN_LITERAL = re.compile(r"""(?<![\w"])"?public"?\.""", re.I)


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) >= 0x80


def _previous_significant(out: list[str]) -> str:
    for piece in reversed(out):
        stripped = piece.rstrip()
        if stripped:
            return stripped[-1]
    return ""


def _closing(sql: str, start: int, backslash: bool = False) -> int:
    """Index just past the literal ('...') or quoted identifier ("...") opening at
    sql[start]: a doubled quote stays inside; backslash escapes too in E'...' strings."""
    quote = sql[start]
    i = start + 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def segments(sql: str) -> list[tuple[str, str]]:
    """(kind, text) pieces: kind is 'literal', 'comment', 'quoted', 'word' or 'other'."""
    out: list[tuple[str, str]] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            prev = sql[i - 1] if i else ""
            before = sql[i - 2] if i > 1 else ""
            backslash = prev in "eE" and not (before and _is_ident_char(before))
            end = _closing(sql, i, backslash)
            out.append(("literal", sql[i:end]))
            i = end
        elif ch == '"':
            end = _closing(sql, i)
            out.append(("quoted", sql[i:end]))
            i = end
        elif (
            ch == "$"
            and not (i and _is_ident_char(sql[i - 1]))
            and (m := _DOLLAR_TAG.match(sql, i))
        ):
            tag = m.group(0)
            close = sql.find(tag, m.end())
            end = n if close < 0 else close + len(tag)
            out.append(("literal", sql[i:end]))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(("comment", sql[i:end]))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(("comment", sql[i:end]))
            i = end
        elif (m := _WORD.match(sql, i)) and not (i and _is_ident_char(sql[i - 1])):
            out.append(("word", m.group(0)))
            i = m.end()
        else:
            out.append(("other", ch))
            i += 1
    return out


def unqualify(sql: str, schema: str = "public") -> str:
    """sql with `schema.` / `"schema".` removed in front of identifiers."""
    pieces = segments(sql)
    out: list[str] = []
    k = 0
    while k < len(pieces):
        kind, text = pieces[k]
        is_schema = (kind == "word" and text.lower() == schema) or (
            kind == "quoted" and text == f'"{schema}"'
        )
        if (
            is_schema
            and k + 1 < len(pieces)
            and pieces[k + 1] == ("other", ".")
            and _previous_significant(out) != "."
        ):
            k += 2  # the qualifier and its dot
            continue
        out.append(text)
        k += 1
    return "".join(out)


def literal_mentions_public(sql: str) -> bool:
    """True when a string literal or body still names `public.` (left as written)."""
    return any(
        kind == "literal" and _PUBLIC_IN_LITERAL.search(text) for kind, text in segments(sql)
    )
