"""Statement -> hazards. A hazard is a named risk an operator must know before applying.

Classification reads the SQL that migra (or our gap fillers) emit, together with facts
about the live database (which tables, columns and functions already exist), because
the same statement is harmless on a new table and dangerous on a populated one.
"""

from __future__ import annotations

import re

from .catalog import Facts
from .sqlnames import IDENT, QNAME, unquote

DELETES_DATA = "DELETES_DATA"
TABLE_REWRITE = "TABLE_REWRITE"
ACQUIRES_ACCESS_EXCLUSIVE_LOCK = "ACQUIRES_ACCESS_EXCLUSIVE_LOCK"
INDEX_BUILD = "INDEX_BUILD"
NOT_NULL_SCAN = "NOT_NULL_SCAN"
CONSTRAINT_VALIDATION = "CONSTRAINT_VALIDATION"
INDEX_DROPPED = "INDEX_DROPPED"
FUNCTION_CHANGE = "FUNCTION_CHANGE"

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
}
ALL = tuple(EXPLANATIONS)


_ALTER_TABLE = re.compile(
    rf"^alter\s+table\s+(?:only\s+)?(?:if\s+exists\s+)?{QNAME}\s+(.*)$", re.I | re.S
)
_CREATE_INDEX = re.compile(
    rf"^create\s+(unique\s+)?index\s+(concurrently\s+)?(?:if\s+not\s+exists\s+)?{IDENT}?\s*"
    rf"on\s+(?:only\s+)?{QNAME}",
    re.I | re.S,
)
_DROP = re.compile(
    r"^drop\s+(table|index|sequence|schema|function|trigger|type|view)\b"
    r"(\s+concurrently)?",
    re.I,
)
_FUNCTION = re.compile(rf"^create\s+(?:or\s+replace\s+)?function\s+{QNAME}\s*\(", re.I)
_ALTER_COLUMN_TYPE = re.compile(
    rf"alter\s+column\s+({IDENT})\s+(?:set\s+data\s+)?type\s+(.+?)(?:\s+using\s+.*)?$", re.I | re.S
)
_ADD_COLUMN = re.compile(
    rf"^add\s+column\s+(?:if\s+not\s+exists\s+)?({IDENT})\s+(.*)$", re.I | re.S
)
_VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v[14]\w*|clock_timestamp|"
    r"timeofday|nextval)\s*\(",
    re.I,
)
_RENAME = re.compile(r"^rename\s+", re.I)


def _norm_type(t: str) -> str:
    t = " ".join(t.strip().rstrip(";").lower().split())
    aliases = {
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
    t = re.sub(r"^varchar\b", "character varying", t)
    return aliases.get(t, t)


def _varchar_len(t: str) -> int | None:
    m = re.match(r"^character varying\((\d+)\)$", t)
    return int(m.group(1)) if m else None


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


def without_dropped_tables(statements: list[str], facts: Facts) -> Facts:
    """Facts as seen by a plan that drops some tables: those no longer count as existing."""
    dropped = {
        unquote(m.group(1))
        for s in statements
        if (m := re.match(rf"^drop\s+table\s+(?:if\s+exists\s+)?{QNAME}", s.strip(), re.I))
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


def classify(sql: str, facts: Facts) -> tuple[str, ...]:
    """The hazards of one statement, in the fixed order of ALL."""
    s = sql.strip().rstrip(";").strip()
    low = s.lower()
    found: set[str] = set()

    if m := _DROP.match(s):
        kind = m.group(1).lower()
        if kind in ("table", "sequence", "schema"):
            found |= {DELETES_DATA, ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        elif kind == "index":
            name = re.search(rf"{QNAME}\s*$", s)
            table = facts.indexes.get(unquote(name.group(1))) if name else None
            # An index whose table goes away in the same plan is not a loss of its own.
            if table is None or table in facts.tables:
                found.add(INDEX_DROPPED)
                if not m.group(2):
                    found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
        elif kind == "function":
            found.add(FUNCTION_CHANGE)
        elif kind in ("trigger", "type", "view"):
            found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
    elif m := _CREATE_INDEX.match(s):
        table = unquote(m.group(3))
        if table in facts.tables and not m.group(2):
            found |= {INDEX_BUILD}
    elif m := _FUNCTION.match(s):
        if unquote(m.group(1)) in facts.functions:
            found.add(FUNCTION_CHANGE)
    elif low.startswith("create trigger") or low.startswith("create or replace trigger"):
        pass  # SHARE ROW EXCLUSIVE, brief
    elif m := _ALTER_TABLE.match(s):
        table = unquote(m.group(1))
        rest = m.group(2).strip()
        existing = table in facts.tables
        rl = rest.lower()
        # VALIDATE and ADD FOREIGN KEY take weaker locks (SHARE UPDATE / SHARE ROW EXCLUSIVE).
        weaker = re.match(r"^validate\s+constraint", rl) or re.match(
            r"^add\s+constraint\s+\S+\s+foreign\s+key", rl
        )
        if existing and not weaker:
            found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
        if re.match(r"^drop\s+column\b", rl):
            found.add(DELETES_DATA)
        elif c := _ALTER_COLUMN_TYPE.search(rest):
            col = unquote(c.group(1))
            found |= type_change_hazards(facts.columns.get((table, col)), c.group(2))
        elif re.search(r"alter\s+column\s+\S+\s+set\s+not\s+null", rl) and existing:
            found.add(NOT_NULL_SCAN)
        elif a := _ADD_COLUMN.match(rest):
            spec = a.group(2).lower()
            if existing and re.search(r"\bnot\s+null\b", spec) and " default " not in f" {spec} ":
                found.add(NOT_NULL_SCAN)
            if (
                existing
                and (d := re.search(r"\bdefault\s+(.*)$", spec))
                and _VOLATILE.search(d.group(1))
            ):
                found.add(TABLE_REWRITE)
        elif re.match(r"^validate\s+constraint", rl):
            if existing:
                found.add(CONSTRAINT_VALIDATION)
        elif re.match(r"^add\s+constraint", rl) and existing:
            if "not valid" not in rl:
                if (
                    re.search(r"\b(primary\s+key|unique)\b", rl)
                    and " using index " not in f" {rl} "
                ):
                    found.add(INDEX_BUILD)
                else:
                    found.add(CONSTRAINT_VALIDATION)
        elif _RENAME.match(rest):
            pass  # lock only, already added
    return tuple(h for h in ALL if h in found)
