"""Statement -> hazards. A hazard is a named risk an operator must know before applying.

Classification reads the parsed statement (statements.Record: what kind of statement,
which object, which ALTER TABLE sub-commands) together with facts about the live database
(which tables, columns and functions already exist), because the same statement is
harmless on a new table and dangerous on a populated one. Pure: no server, no SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

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
ROW_ACCESS_CHANGE = "ROW_ACCESS_CHANGE"
ENUM_REBUILD = "ENUM_REBUILD"
PRIVILEGE_CHANGE = "PRIVILEGE_CHANGE"
MATERIALIZED_VIEW_REBUILD = "MATERIALIZED_VIEW_REBUILD"

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
    ROW_ACCESS_CHANGE: "changes which rows roles may read or write (a policy created, changed "
    "or dropped; row level security enabled, disabled or forced; a view's security options "
    "changed): access widens or narrows "
    "as soon as it commits",
    ENUM_REBUILD: "the enum loses, renames or reorders a value, which PostgreSQL cannot do in "
    "place: the type is recreated and every column of it cast through text under an "
    "exclusive lock; a row holding a removed value makes the upgrade fail",
    PRIVILEGE_CHANGE: "changes what roles may do with an object (GRANT widens access, REVOKE "
    "narrows it, a new owner takes every right on it) as soon as it commits",
    MATERIALIZED_VIEW_REBUILD: "creates (or recreates) a materialized view over existing "
    "data: its query runs inside the migration, taking time proportional to what it reads; "
    "created WITH NO DATA it cannot be read until REFRESH MATERIALIZED VIEW, which no plan runs",
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
    return replace(facts, tables=facts.tables - dropped)


def classify(rec: Record, facts: Facts) -> tuple[str, ...]:
    """The hazards of one parsed statement, in the fixed order of ALL: a pure function of
    the record and the facts about the database it runs on. Each kind names the hazards
    of statements on its objects (kinds/); a schema no kind declares is dropped here."""
    from . import kinds

    found: set[str] = set()
    for kind in kinds.KINDS:
        found |= kind.hazards(rec, facts)
    if rec.kind == "DropStmt" and rec.objtype == "schema":
        found |= {DELETES_DATA, ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
    return tuple(h for h in ALL if h in found)
