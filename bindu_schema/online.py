"""Online DDL: rewrite statements on existing tables so they do not block traffic.

- CREATE INDEX on a table that already exists -> CREATE INDEX CONCURRENTLY (cannot run in
  a transaction: the statement is marked non-transactional);
- DROP INDEX on an existing table -> DROP INDEX CONCURRENTLY;
- foreign keys and checks added to existing tables are NOT VALID + VALIDATE (migra
  already emits foreign keys that way; checks are split here).
"""

from __future__ import annotations

import re

from .catalog import Facts

_CREATE_INDEX = re.compile(
    r"^(create\s+(?:unique\s+)?index)\s+(?!concurrently\b)(.*?\s+on\s+(?:only\s+)?"
    r'(?:"?[\w$]+"?\.)?"?([\w$]+)"?\s.*)$',
    re.I | re.S,
)
_DROP_INDEX = re.compile(
    r"^drop\s+index\s+(?!concurrently\b)(if\s+exists\s+)?"
    r'((?:"?[\w$]+"?\.)?"?([\w$]+)"?)\s*;?$',
    re.I | re.S,
)
_ADD_CHECK = re.compile(
    r'^(alter\s+table\s+(?:only\s+)?(?:"?[\w$]+"?\.)?"?([\w$]+)"?\s+add\s+'
    r'constraint\s+("?[\w$]+"?)\s+check\s*\(.*\))\s*;?$',
    re.I | re.S,
)


def is_transactional(sql: str) -> bool:
    return re.search(r"\bconcurrently\b", sql.split("(")[0], re.I) is None


def rewrite(statements: list[str], facts: Facts) -> list[str]:
    out: list[str] = []
    for sql in statements:
        s = sql.strip()
        if (m := _CREATE_INDEX.match(s)) and m.group(3) in facts.tables:
            out.append(f"{m.group(1)} CONCURRENTLY {m.group(2)}")
            continue
        if (m := _DROP_INDEX.match(s)) and facts.indexes.get(m.group(3)) in facts.tables:
            out.append(f"drop index concurrently {m.group(1) or ''}{m.group(2)};")
            continue
        if (
            (m := _ADD_CHECK.match(s))
            and m.group(2) in facts.tables
            and not re.search(r"\bnot\s+valid\s*;?$", s, re.I)
        ):
            table_part = s[: s.lower().index(" add constraint")]
            out.append(f"{m.group(1)} NOT VALID;")
            out.append(f"{table_part} VALIDATE CONSTRAINT {m.group(3)};")
            continue
        out.append(s)
    return out
