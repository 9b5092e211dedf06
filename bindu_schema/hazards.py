"""Statement -> hazards. A hazard is a named risk an operator must know before applying.

Classification reads the parsed statement (statements.Record: what kind of statement,
which object, which ALTER TABLE sub-commands) together with facts about the live database
(which tables, columns and functions already exist), because the same statement is
harmless on a new table and dangerous on a populated one. Pure: no server, no SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable

from .catalog import Facts
from .statements import Record

DELETES_DATA = "DELETES_DATA"
TABLE_REWRITE = "TABLE_REWRITE"
ACQUIRES_ACCESS_EXCLUSIVE_LOCK = "ACQUIRES_ACCESS_EXCLUSIVE_LOCK"
INDEX_BUILD = "INDEX_BUILD"
NOT_NULL_SCAN = "NOT_NULL_SCAN"
CONSTRAINT_VALIDATION = "CONSTRAINT_VALIDATION"
INDEX_DROPPED = "INDEX_DROPPED"
FUNCTION_CHANGE = "FUNCTION_CHANGE"
SEQUENCE_CHANGE = "SEQUENCE_CHANGE"

EXPLANATIONS: dict[str, str] = {
    DELETES_DATA: "data is deleted or may be truncated (drop table/column/sequence/schema, "
    "narrowing type change)",
    TABLE_REWRITE: "the whole table is rewritten (type change needing a rewrite, volatile "
    "default); takes time proportional to its size",
    ACQUIRES_ACCESS_EXCLUSIVE_LOCK: "blocks all reads and writes on the table while it runs",
    INDEX_BUILD: "builds an index without CONCURRENTLY on an existing table: writes are "
    "blocked for the duration",
    NOT_NULL_SCAN: "SET NOT NULL scans the whole table under an exclusive lock",
    CONSTRAINT_VALIDATION: "validating a constraint scans the whole table",
    INDEX_DROPPED: "queries that used this index may become slow",
    FUNCTION_CHANGE: "changes the behaviour of code that calls the function (triggers "
    "included) as soon as it commits",
    SEQUENCE_CHANGE: "changes a sequence's type or limits: a narrower type fails if the "
    "sequence is already past its maximum, and nextval() fails once the new limit is reached",
}
ALL = tuple(EXPLANATIONS)


_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "varchar": "character varying",
    "timestamptz": "timestamp with time zone",
    "bool": "boolean",
    "float8": "double precision",
    "float4": "real",
}


def _norm_type(t: str) -> str:
    """A type name in format_type spelling, lower case, single spaces."""
    t = " ".join(t.strip().rstrip(";").lower().split())
    if t.startswith("varchar(") or t.startswith("varchar "):
        t = "character varying" + t[len("varchar") :]
    return _ALIASES.get(t, t)


def _varchar_len(t: str) -> int | None:
    head = "character varying("
    if t.startswith(head) and t.endswith(")") and t[len(head) : -1].isdigit():
        return int(t[len(head) : -1])
    return None


def type_change_hazards(old: str | None, new: str) -> set[str]:
    """Hazards of ALTER COLUMN TYPE from old to new (format_type spellings)."""
    if old is None:
        return {TABLE_REWRITE, DELETES_DATA}
    o, n = _norm_type(old), _norm_type(new)
    if o == n:
        return set()
    ov, nv = _varchar_len(o), _varchar_len(n)
    # Binary-coercible widenings: no rewrite, no loss.
    if (
        (ov is not None and (n in ("text", "character varying") or (nv is not None and nv >= ov)))
        or (o == "character varying" and n == "text")
        or (o == "text" and n == "character varying")
    ):
        return set()
    widenings = {
        ("smallint", "integer"),
        ("smallint", "bigint"),
        ("integer", "bigint"),
        ("real", "double precision"),
        ("json", "jsonb"),
        ("timestamp without time zone", "timestamp with time zone"),
    }
    if (o, n) in widenings:
        return {TABLE_REWRITE}
    if n == "text":
        return {TABLE_REWRITE}
    return {TABLE_REWRITE, DELETES_DATA}


def without_dropped_tables(records: Iterable[Record], facts: Facts) -> Facts:
    """Facts as seen by a plan that drops some tables: those no longer count as existing."""
    dropped = {
        name
        for r in records
        if r.kind == "DropStmt" and r.object_type == "table"
        for name in r.names
    }
    if not dropped:
        return facts
    return Facts(
        facts.tables - dropped,
        facts.columns,
        facts.functions,
        facts.indexes,
        facts.constraints,
        facts.triggers,
    )


# ALTER TABLE sub-commands that take a weaker lock than ACCESS EXCLUSIVE.
_WEAKER_LOCK = ("validate_constraint",)


def _alter_table(rec: Record, facts: Facts) -> set[str]:
    found: set[str] = set()
    table = rec.table or ""
    existing = table in facts.tables
    cmds = rec.commands
    # VALIDATE (SHARE UPDATE EXCLUSIVE) and ADD FOREIGN KEY (SHARE ROW EXCLUSIVE).
    weaker = bool(cmds) and all(
        c.op in _WEAKER_LOCK or (c.op == "add_constraint" and c.constraint == "foreign")
        for c in cmds
    )
    if existing and not weaker:
        found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
    for c in cmds:
        if c.op == "drop_column":
            found.add(DELETES_DATA)
        elif c.op == "alter_type" and c.type_name is not None:
            old = facts.columns.get((table, c.name or ""))
            found |= type_change_hazards(old, c.type_name)
        elif c.op == "set_not_null" and existing:
            found.add(NOT_NULL_SCAN)
        elif c.op == "add_column" and existing:
            if c.not_null and not c.has_default:
                found.add(NOT_NULL_SCAN)
            if c.volatile_default:
                found.add(TABLE_REWRITE)
        elif c.op == "validate_constraint" and existing:
            found.add(CONSTRAINT_VALIDATION)
        elif c.op == "add_constraint" and existing and not c.not_valid:
            if c.constraint in ("primary", "unique") and not c.using_index:
                found.add(INDEX_BUILD)
            else:
                found.add(CONSTRAINT_VALIDATION)
    return found


def classify(rec: Record, facts: Facts) -> tuple[str, ...]:
    """The hazards of one parsed statement, in the fixed order of ALL: a pure function of
    the record and the facts about the database it runs on."""
    found: set[str] = set()
    if rec.kind == "DropStmt":
        if rec.objtype in ("table", "sequence", "schema"):
            found |= {DELETES_DATA, ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        elif rec.object_type == "index":
            table = facts.indexes.get(rec.name or "")
            # An index whose table goes away in the same plan is not a loss of its own.
            if table is None or table in facts.tables:
                found.add(INDEX_DROPPED)
                if not rec.concurrently:
                    found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
        elif rec.object_type == "function":
            found.add(FUNCTION_CHANGE)
        elif rec.objtype in ("trigger", "type", "view"):
            found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
    elif rec.kind == "IndexStmt":
        if rec.table in facts.tables and not rec.concurrently:
            found.add(INDEX_BUILD)
    elif rec.kind == "CreateFunctionStmt":
        if rec.name in facts.functions:
            found.add(FUNCTION_CHANGE)
    elif rec.kind == "AlterSeqStmt":
        found.add(SEQUENCE_CHANGE)
    elif rec.kind == "AlterTableStmt" and rec.object_type != "index":
        found |= _alter_table(rec, facts)
    elif (
        rec.kind == "RenameStmt"
        and rec.object_type in ("table", "column", "constraint")
        and rec.table in facts.tables
    ):
        found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
    return tuple(h for h in ALL if h in found)
