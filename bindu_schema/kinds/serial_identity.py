"""A column changing between `serial` (a default nextval() of a sequence it owns) and
`identity`, planned as a conversion that keeps the counter.

migra sees a default dropped, an identity added and a sequence dropped (or the reverse):
the new identity sequence would start at 1 again, handing out ids the table already holds,
and would be named `t_c_seq1` while the old sequence still holds `t_c_seq`. Here the old
sequence is renamed out of the way first, the new one is created under the name
PostgreSQL gives it (the name a database built from the YAML has), the counter is copied
at run time (`setval` from the old sequence's `last_value` and `is_called`, so a
revision applied later to a database with more rows continues after them too), and only
then is the old sequence dropped. The identity's options that differ from PostgreSQL's
defaults are set by fidelity.py afterwards, without a RESTART (its `_owns_sequence`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType

from ..statements import Record
from . import base

HELPS = "columns"  # this module is the columns part's (tests/test_kinds_layout.py)

# The note of the conversion's DROP SEQUENCE and OWNED BY: the counter was copied, so the
# drop deletes nothing, and ownership is no change of a sequence's type or limits.
COUNTER_COPIED = "counter copied"

_COLUMN_CHANGES = (
    AlterTableType.AT_ColumnDefault,
    AlterTableType.AT_AddIdentity,
    AlterTableType.AT_DropIdentity,
    AlterTableType.AT_SetIdentity,
)


def owned_sequence(i: Any, table: Any, column: str) -> Any:
    """The serial sequence of a column (schemainspect's inspection `i`): a sequence the
    column owns that its default calls nextval() of; None otherwise."""
    c = table.columns[column]
    if c.is_identity or not c.default or not _is_nextval(c.default):
        return None
    for s in i.sequences.values():
        if (s.schema, s.table_name, s.column_name) == (table.schema, table.name, column):
            return s
    return None


def _is_nextval(expression: str) -> bool:
    stmt = parse_sql(f"SELECT {expression}")[0].stmt
    targets = stmt.targetList if isinstance(stmt, ast.SelectStmt) else None
    target = targets[0].val if targets else None
    while isinstance(target, ast.TypeCast):
        target = target.arg
    names = target.funcname if isinstance(target, ast.FuncCall) else None
    return names is not None and getattr(names[-1], "sval", None) == "nextval"


def _mine(r: Record, table: Any, column: str, sequence: str) -> bool:
    """A statement migra writes for this conversion (on the column's default or identity,
    or on the sequence), replaced by the conversion."""
    if r.kind in ("CreateSeqStmt", "AlterSeqStmt") or (
        r.kind == "DropStmt" and r.objtype == "sequence"
    ):
        return r.name == sequence or sequence in r.names
    if r.kind != "AlterTableStmt" or r.table != table.name:
        return False
    stmt = parse_sql(r.sql)[0].stmt
    cmds = [c for c in getattr(stmt, "cmds", None) or () if isinstance(c, ast.AlterTableCmd)]
    return bool(cmds) and all(c.subtype in _COLUMN_CHANGES and c.name == column for c in cmds)


def _temporary(name: str, taken: set[str]) -> str:
    """A name for the old sequence while the new one takes its name."""
    from ..online import replacement_name

    return replacement_name(name, taken, "old")


def conversions(records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
    """migra's statements with each serial <-> identity change replaced by a conversion."""
    out = list(records)
    # relations share one namespace: sequences, tables, views, indexes (both sides)
    taken = {
        x.name
        for i in (i_from, i_target)
        for found in (i.sequences, i.selectables, i.indexes)
        for x in found.values()
    }
    for t, before, name, c, b in base.kept_columns(i_from, i_target):
        if b.is_identity == c.is_identity:  # a conversion changes just this; parse nothing
            continue
        old_seq = owned_sequence(i_from, before, name)
        new_seq = owned_sequence(i_target, t, name)
        if old_seq is not None and c.is_identity:
            temp = _temporary(old_seq.name, taken)
            sqls = _to_identity(t, c, old_seq, temp)
            seq = old_seq.name
        elif b.is_identity and new_seq is not None:
            temp = _temporary(new_seq.name, taken)
            sqls = _to_serial(t, c, new_seq, temp)
            seq = new_seq.name
        else:
            continue
        taken.add(temp)
        gone = [n for n, r in enumerate(out) if _mine(r, t, name, seq)]
        at = gone[0] if gone else len(out)
        out = [r for n, r in enumerate(out) if n not in gone]
        out[at:at] = sqls
    return out


def _lit_name(name: str, schema: str) -> str:
    """A relation name as a text literal, quoted as an identifier inside it. Unqualified in
    `public` (a revision runs in a tenant's schema through its search_path, and the
    qualifier of identifiers is removed, never a literal's), qualified elsewhere."""
    from ..compile import qualified
    from ..literals import quote_literal

    return quote_literal(qualified(name, None if schema == "public" else schema))


def _to_identity(t: Any, c: Any, seq: Any, temp: str) -> list[Record]:
    from ..compile import qualified, quote
    from ..literals import quote_literal

    qt, qc = t.quoted_full_name, c.quoted_name
    kind = "always" if c.is_identity_always else "by default"
    ident = f"{_lit_name(t.name, t.schema)}, {quote_literal(c.name)}"
    old = qualified(temp, seq.schema)
    copy = (
        f"SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence({ident}), "
        f"s.last_value, s.is_called) FROM {old} s;"
    )
    return _parsed(
        [
            (f"ALTER TABLE {qt} ALTER COLUMN {qc} DROP DEFAULT;", "AlterTableStmt"),
            # no longer the column's (pg_get_serial_sequence finds the identity's)
            (f"ALTER SEQUENCE {seq.quoted_full_name} OWNED BY NONE;", "AlterSeqStmt"),
            (f"ALTER SEQUENCE {seq.quoted_full_name} RENAME TO {quote(temp)};", "RenameStmt"),
            (f"ALTER TABLE {qt} ALTER COLUMN {qc} ADD GENERATED {kind.upper()} AS IDENTITY;", None),
            (copy, "SelectStmt"),
            (f"DROP SEQUENCE {old};", "DropStmt"),
        ]
    )


def _to_serial(t: Any, c: Any, seq: Any, temp: str) -> list[Record]:
    from ..compile import quote
    from ..literals import quote_literal

    qt, qc = t.quoted_full_name, c.quoted_name
    new = seq.quoted_full_name
    ident = f"{_lit_name(t.name, t.schema)}, {quote_literal(c.name)}"
    # The identity's sequence usually holds the name the new one needs (PostgreSQL names
    # both t_c_seq): renamed out of the way when it does; DROP IDENTITY drops it later.
    # Its counter is read through the column, whatever the sequence is called.
    last = "pg_catalog.pg_sequence_last_value(q.seqrelid)"
    copy = (
        f"SELECT pg_catalog.setval({_lit_name(seq.name, seq.schema)}::regclass, "
        f"COALESCE({last}, q.seqstart), {last} IS NOT NULL) FROM pg_catalog.pg_sequence q "
        f"WHERE q.seqrelid = pg_catalog.pg_get_serial_sequence({ident})::regclass;"
    )
    return _parsed(
        [
            (f"ALTER SEQUENCE IF EXISTS {new} RENAME TO {quote(temp)};", "RenameStmt"),
            (f"CREATE SEQUENCE {new};", "CreateSeqStmt"),
            (copy, "SelectStmt"),
            (f"ALTER TABLE {qt} ALTER COLUMN {qc} DROP IDENTITY;", "AlterTableStmt"),
            (f"ALTER TABLE {qt} ALTER COLUMN {qc} SET DEFAULT {c.default};", "AlterTableStmt"),
            (f"ALTER SEQUENCE {new} OWNED BY {qt}.{qc};", "AlterSeqStmt"),
        ]
    )


def _parsed(rows: list[tuple[str, str | None]]) -> list[Record]:
    from .. import statements

    out = []
    for sql, kind in rows:
        rec = statements.parse(sql, kind or "AlterTableStmt")
        if kind in ("DropStmt", "AlterSeqStmt"):  # hazards read the note
            rec = replace(rec, note=COUNTER_COPIED)
        elif kind == "SelectStmt":  # setval: in the plan summary, a sequence changed
            rec = replace(rec, object_type="sequence", action="alter")
        out.append(rec)
    return out
