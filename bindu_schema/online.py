"""Online DDL: rewrite statements on existing tables so they do not block traffic.

- CREATE INDEX on a table that already exists -> CREATE INDEX CONCURRENTLY (cannot run in
  a transaction: the record says it is not transactional);
- DROP INDEX on an existing table -> DROP INDEX CONCURRENTLY;
- foreign keys and checks added to existing tables are NOT VALID + VALIDATE (migra
  already emits foreign keys that way; checks are split here).

Pure functions of (records, facts): every rewrite is made and proved by statements.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import statements
from .catalog import Facts
from .statements import Record


def _constraint(rec: Record) -> tuple[str, str] | None:
    """(table, constraint) of an ALTER TABLE with one constraint sub-command."""
    if rec.kind != "AlterTableStmt" or len(rec.commands) != 1 or rec.table is None:
        return None
    c = rec.commands[0]
    if c.name is None or c.op not in ("add_constraint", "validate_constraint"):
        return None
    return rec.table, c.name


def _collapse_new_table_validation(records: Sequence[Record], facts: Facts) -> list[Record]:
    """On a table created by the same plan NOT VALID + VALIDATE is pointless: add it valid."""
    validates = {
        key
        for r in records
        if (key := _constraint(r)) and r.commands[0].op == "validate_constraint"
    }
    out: list[Record] = []
    collapsed: set[tuple[str, str]] = set()
    for r in records:
        key = _constraint(r)
        if key and r.commands[0].op == "add_constraint" and r.commands[0].not_valid:
            if key[0] not in facts.tables and key in validates:
                out.append(statements.without_not_valid(r))
                collapsed.add(key)
                continue
        if key and r.commands[0].op == "validate_constraint" and key in collapsed:
            continue
        out.append(r)
    return out


def rewrite(records: Sequence[Record], facts: Facts) -> list[Record]:
    out: list[Record] = []
    for r in _collapse_new_table_validation(records, facts):
        if r.kind == "IndexStmt" and not r.concurrently and r.table in facts.tables:
            out.append(statements.with_concurrently(r))
            continue
        if (
            r.kind == "DropStmt"
            and r.object_type == "index"
            and not r.concurrently
            and len(r.names) == 1
            and facts.indexes.get(r.names[0]) in facts.tables
        ):
            out.append(statements.with_concurrently(r))
            continue
        key = _constraint(r)
        c = r.commands[0] if r.commands else None
        if (
            key
            and c is not None
            and c.op == "add_constraint"
            and c.constraint == "check"
            and not c.not_valid
            and key[0] in facts.tables
        ):
            out.append(statements.with_not_valid(r))
            out.append(statements.validate_constraint(r))
            continue
        out.append(r)
    return out
