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
from .sqlnames import IDENT, QNAME, unquote

_CREATE_INDEX = re.compile(
    rf"^(create\s+(?:unique\s+)?index)\s+(?!concurrently\b)(.*?\s+on\s+(?:only\s+)?{QNAME}\s.*)$",
    re.I | re.S,
)
_DROP_INDEX = re.compile(
    rf"^drop\s+index\s+(?!concurrently\b)(if\s+exists\s+)?({QNAME})\s*;?$", re.I | re.S
)
_ADD_CHECK = re.compile(
    rf"^(alter\s+table\s+(?:only\s+)?{QNAME}\s+add\s+constraint\s+({IDENT})\s+check\s*\(.*\))"
    r"\s*;?$",
    re.I | re.S,
)
_VALIDATE = re.compile(
    rf"^alter\s+table\s+(?:only\s+)?{QNAME}\s+validate\s+constraint\s+({IDENT})\s*;?$", re.I
)
_NOT_VALID = re.compile(
    rf"^alter\s+table\s+(?:only\s+)?{QNAME}\s+add\s+constraint\s+({IDENT})\s.*\snot\s+valid"
    r"\s*;?$",
    re.I | re.S,
)


def _names(m: re.Match[str], *groups: int) -> tuple[str, ...]:
    return tuple(unquote(m.group(g)) for g in groups)


def is_transactional(sql: str) -> bool:
    """CONCURRENTLY cannot run in a transaction; VALIDATE runs in its own so the scan does
    not extend the exclusive lock taken by the rest of the revision."""
    s = sql.strip()
    if _VALIDATE.match(s):
        return False
    return re.search(r"\bconcurrently\b", s.split("(")[0], re.I) is None


def _collapse_new_table_validation(statements: list[str], facts: Facts) -> list[str]:
    """On a table created by the same plan NOT VALID + VALIDATE is pointless: add it valid."""
    validates = {_names(m, 1, 2) for s in statements if (m := _VALIDATE.match(s.strip()))}
    out: list[str] = []
    collapsed: set[tuple[str, ...]] = set()
    for s in statements:
        st = s.strip()
        m = _NOT_VALID.match(st)
        if m and unquote(m.group(1)) not in facts.tables and _names(m, 1, 2) in validates:
            out.append(re.sub(r"\s+not\s+valid\s*;?$", ";", st, flags=re.I))
            collapsed.add(_names(m, 1, 2))
            continue
        v = _VALIDATE.match(st)
        if v and _names(v, 1, 2) in collapsed:
            continue
        out.append(st)
    return out


def rewrite(statements: list[str], facts: Facts) -> list[str]:
    out: list[str] = []
    for sql in _collapse_new_table_validation(statements, facts):
        s = sql.strip()
        if (m := _CREATE_INDEX.match(s)) and unquote(m.group(3)) in facts.tables:
            out.append(f"{m.group(1)} CONCURRENTLY {m.group(2)}")
            continue
        if (m := _DROP_INDEX.match(s)) and facts.indexes.get(unquote(m.group(3))) in facts.tables:
            out.append(f"drop index concurrently {m.group(1) or ''}{m.group(2)};")
            continue
        if (
            (m := _ADD_CHECK.match(s))
            and unquote(m.group(2)) in facts.tables
            and not re.search(r"\bnot\s+valid\s*;?$", s, re.I)
        ):
            table_part = s[: s.lower().index(" add constraint")]
            out.append(f"{m.group(1)} NOT VALID;")
            out.append(f"{table_part} VALIDATE CONSTRAINT {m.group(3)};")
            continue
        out.append(s)
    return out
