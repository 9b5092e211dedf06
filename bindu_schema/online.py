"""Online DDL: rewrite statements on existing tables so they do not block traffic.

- CREATE INDEX on a table that already exists -> CREATE INDEX CONCURRENTLY (cannot run in
  a transaction: the record says it is not transactional);
- DROP INDEX on an existing table -> DROP INDEX CONCURRENTLY;
- an index whose definition changes (migra: DROP INDEX name, later CREATE INDEX name) on a
  table the plan does not otherwise alter -> CREATE INDEX CONCURRENTLY under a temporary
  name, DROP INDEX CONCURRENTLY the old one, ALTER INDEX ... RENAME: the table keeps an
  index all along instead of going without one while the new one builds;
- foreign keys and checks added to existing tables are NOT VALID + VALIDATE (migra
  already emits foreign keys that way; checks are split here).

Pure functions of (records, facts): every rewrite is made and proved by statements.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from . import parse_cache, statements
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
    collapse = [
        i
        for i, r in enumerate(records)
        if (key := _constraint(r))
        and r.commands[0].op == "add_constraint"
        and r.commands[0].not_valid
        and key[0] not in facts.tables
        and key in validates
    ]
    valid = parse_cache.rewritten(statements.without_not_valid, [records[i] for i in collapse])
    instead = dict(zip(collapse, valid, strict=True))
    collapsed = {_constraint(records[i]) for i in collapse}
    out: list[Record] = []
    for i, r in enumerate(records):
        key = _constraint(r)
        if key and r.commands[0].op == "validate_constraint" and key in collapsed:
            continue
        out.append(instead.get(i, r))
    return out


REPLACED = "replaced"  # Record.note of the DROP of an index whose replacement is built


def replacement_name(name: str, taken: set[str], word: str = "new") -> str:
    """A temporary name beside relation `name` (the new build of an index; "old": a
    sequence moved out of the way, serial_identity.py): short enough (63 bytes), not a
    relation of the schema, the same in every plan of the same change."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    stem = name.encode()[:40].decode(errors="ignore")
    for n in range(100):
        candidate = f"{stem}_{word}_{digest[n : n + 8]}"
        if candidate not in taken:
            return candidate
    raise AssertionError("no free temporary name")  # 100 taken names: not a schema


def _replace_changed_indexes(records: Sequence[Record], facts: Facts) -> list[Record]:
    """DROP INDEX n ... CREATE INDEX n on an existing table -> build, swap, rename."""
    from .compile import qualified, quote

    altered = {r.table for r in records if r.kind != "IndexStmt" and r.table}
    created = {r.name: i for i, r in enumerate(records) if r.kind == "IndexStmt" and r.name}
    taken = set(facts.indexes) | set(facts.tables) | {r.name for r in records if r.name}
    swaps: dict[int, tuple[int, str]] = {}  # create position -> (drop position, name)
    for i, r in enumerate(records):
        if r.kind != "DropStmt" or r.object_type != "index" or len(r.names) != 1:
            continue
        name = r.names[0]
        table = facts.indexes.get(name)
        at = created.get(name)
        if table is None or table not in facts.tables or at is None or at < i:
            continue
        if records[at].table != table or table in altered:
            continue  # the table changes too (a column the index reads): keep migra's order
        swaps[at] = (i, name)
    if not swaps:
        return list(records)
    dropped = {i for i, _ in swaps.values()}
    out: list[Record] = []
    for i, r in enumerate(records):
        if i in dropped:
            continue
        if i not in swaps:
            out.append(r)
            continue
        drop, name = records[swaps[i][0]], swaps[i][1]
        temp = replacement_name(name, taken)
        taken.add(temp)
        build = statements.with_concurrently(statements.with_index_name(r, temp))
        rename = f"ALTER INDEX {qualified(temp, r.schema)} RENAME TO {quote(name)};"
        # The old index is not lost: its replacement is already built (hazards read the note).
        gone = replace(statements.with_concurrently(drop), note=REPLACED)
        out += [build, gone, statements.parse(rename)]
    return out


def rewrite(records: Sequence[Record], facts: Facts) -> list[Record]:
    out: list[Record] = []
    replaced = _replace_changed_indexes(records, facts)
    for r in _collapse_new_table_validation(replaced, facts):
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
