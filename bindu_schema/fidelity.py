"""Catalog fidelity: the attributes migra does not compare, read from pg_catalog.

migra compares sequences by name only and never looks at storage parameters, replica
identity, column storage/compression, a function's PARALLEL or SET clauses, or an index's
NULLS NOT DISTINCT. Two databases that migra calls equal can still differ in what
`pg_dump --schema-only` prints. This module reads those attributes into a snapshot
(`read`) and compares two snapshots (`compare`, pure). Each attribute has a category:

- FIX: the YAML decides it and migra is blind to it; the comparison yields the statement
  (a sequence's type and options: ALTER SEQUENCE; a table's storage parameters and replica
  identity, a column's storage, compression and identity options: ALTER TABLE). A table
  or column that exists on one side only is compared with what CREATE gives it.
- MIGRA: the YAML decides it and migra (or differ.py's comment filler) already emits the
  statement; compared here as a safety net (the rehearsal, check, adopt).
- DRIFT: the YAML format cannot declare it; a difference needs a human.
- column order is a NOTE: it cannot be changed in place.

Objects that exist on one side only are migra's business, not this module's.
docs/fidelity.md lists what is covered and what is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import model, server, statements
from .compile import qualified, quote
from .literals import quote_literal
from .settings import DatabaseURL
from .statements import Record

FIX = "fix"
MIGRA = "migra"
DRIFT = "drift"

ALEMBIC_TABLE = "alembic_version"

# kind -> attribute -> category. The attribute names are the columns of the queries below.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "sequence": {
        "type": FIX,
        "start": FIX,
        "increment": FIX,
        "min": FIX,
        "max": FIX,
        "cache": FIX,
        "cycle": FIX,
        "owned_by": MIGRA,
        "comment": MIGRA,
    },
    "table": {
        "persistence": MIGRA,
        "reloptions": FIX,
        "replica_identity": FIX,
        "comment": MIGRA,
    },
    "column": {
        "collation": MIGRA,
        "storage": FIX,
        "compression": FIX,
        "identity": FIX,
        "comment": MIGRA,
    },
    "function": {
        "volatility": MIGRA,
        "strict": MIGRA,
        "security_definer": MIGRA,
        "arguments": MIGRA,
        "parallel": MIGRA,
        "config": MIGRA,
        "comment": DRIFT,
    },
    "trigger": {"enabled": MIGRA, "definition": MIGRA, "comment": DRIFT},
    "constraint": {
        "definition": MIGRA,
        "deferrable": MIGRA,
        "deferred": MIGRA,
        "no_inherit": MIGRA,
        "comment": DRIFT,
    },
    "index": {"nulls_not_distinct": MIGRA, "reloptions": MIGRA, "comment": MIGRA},
}

# What a human reads in a "cannot declare" line.
_DECLARE = {
    "reloptions": "storage parameters (WITH (...))",
    "replica_identity": "REPLICA IDENTITY",
    "storage": "column STORAGE",
    "compression": "column COMPRESSION",
    "parallel": "a function's PARALLEL safety",
    "config": "a function's SET clauses",
    "nulls_not_distinct": "NULLS NOT DISTINCT",
    "comment": "comments on functions, triggers, constraints and sequences",
}

# Columns that older servers lack, with the value they mean there.
_COMPRESSION_SINCE = 140000  # pg_attribute.attcompression
_NULLS_NOT_DISTINCT_SINCE = 150000  # pg_index.indnullsnotdistinct

_OPTIONS = "(SELECT string_agg(o, ', ' ORDER BY o) FROM unnest({}) o)"

_SEQUENCES = """
SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart::text, q.seqincrement::text,
       q.seqmin::text, q.seqmax::text, q.seqcache::text, q.seqcycle::text,
       (SELECT quote_ident(t.relname) || '.' || quote_ident(a.attname)
          FROM pg_depend d
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'),
       (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = s.oid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'),
       obj_description(s.oid, 'pg_class')
  FROM pg_sequence q
  JOIN pg_class s ON s.oid = q.seqrelid
  JOIN pg_namespace n ON n.oid = s.relnamespace
 WHERE n.nspname = %(schema)s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = s.oid AND d.deptype IN ('i', 'e'))
"""

_TABLES = f"""
SELECT c.relname, c.relpersistence::text, {_OPTIONS.format("c.reloptions")},
       CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'n' THEN 'nothing'
            WHEN 'f' THEN 'full'
            ELSE 'using index ' || (SELECT i.relname::text FROM pg_index x
                   JOIN pg_class i ON i.oid = x.indexrelid
                  WHERE x.indrelid = c.oid AND x.indisreplident) END,
       obj_description(c.oid, 'pg_class')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
"""

_COLUMNS = """
SELECT c.relname, a.attname, a.attnum,
       CASE WHEN a.attcollation <> t.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END,
       nullif(a.attstorage, t.typstorage)::text, {compression}, t.typstorage::text,
       col_description(c.oid, a.attnum),
       (SELECT format('as=%%s start=%%s increment=%%s minvalue=%%s maxvalue=%%s '
                      'cache=%%s cycle=%%s', format_type(q.seqtypid, NULL), q.seqstart,
                      q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle::text)
          FROM pg_depend d JOIN pg_sequence q ON q.seqrelid = d.objid
         WHERE a.attidentity <> '' AND d.classid = 'pg_class'::regclass
           AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
           AND d.refobjsubid = a.attnum AND d.deptype = 'i'),
       EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'a')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
"""

_FUNCTIONS = """
SELECT p.proname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.provolatile::text, p.proisstrict::text, p.prosecdef::text,
       pg_get_function_arguments(p.oid), p.proparallel::text,
       {config}, obj_description(p.oid, 'pg_proc')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
""".replace("{config}", _OPTIONS.format("p.proconfig"))

# pg_get_triggerdef always qualifies the trigger's own table: that name is dropped (in SQL,
# on the server), so a trigger compares equal across two schemas of one database.
_TRIGGERS = """
SELECT t.relname, g.tgname, g.tgenabled::text,
       replace(pg_get_triggerdef(g.oid),
               ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(t.relname) || ' ',
               ' ON ' || quote_ident(t.relname) || ' '),
       obj_description(g.oid, 'pg_trigger')
  FROM pg_trigger g
  JOIN pg_class t ON t.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s AND NOT g.tgisinternal
"""

# NOT NULL constraints (pg_constraint since PostgreSQL 18) are columns' business: migra's.
_CONSTRAINTS = """
SELECT t.relname, k.conname, pg_get_constraintdef(k.oid), k.condeferrable::text,
       k.condeferred::text, k.connoinherit::text, obj_description(k.oid, 'pg_constraint')
  FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s AND k.contype <> 'n'
   -- a partition's keys are its parent's (pg_dump restores them ALTER TABLE ONLY: NO INHERIT)
   AND NOT (t.relispartition AND k.conparentid <> 0)
"""

_INDEXES = f"""
SELECT t.relname, i.relname, {{nnd}}, {_OPTIONS.format("i.reloptions")},
       obj_description(i.oid, 'pg_class')
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
 WHERE n.nspname = %(schema)s
"""

Key = tuple[str, str]  # (kind, name as shown: "table.column", "f(integer)", ...)
Values = dict[str, str | None]


@dataclass(frozen=True)
class Facts:
    """One schema's attributes at catalog fidelity."""

    schema: str
    objects: dict[Key, Values] = field(default_factory=dict)
    column_order: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns


@dataclass(frozen=True)
class Difference:
    kind: str
    name: str
    attribute: str
    have: str | None
    want: str | None
    category: str

    def line(self) -> str:
        base = (
            f"{self.kind} {self.name}: {self.attribute} is {_show(self.have)} here, "
            f"{_show(self.want)} in the desired schema"
        )
        if self.category == DRIFT:
            what = _DECLARE.get(self.attribute, self.attribute)
            return f"{base}; the schema format cannot declare {what}: resolve it by hand"
        return base


@dataclass(frozen=True)
class Comparison:
    """What differs from a snapshot to the desired one."""

    differences: tuple[Difference, ...] = ()
    fixes: tuple[Record, ...] = ()  # statements for the FIX differences
    notes: tuple[str, ...] = ()

    @property
    def drift(self) -> tuple[str, ...]:
        """Lines for what needs a human (the format cannot declare it)."""
        return tuple(d.line() for d in self.differences if d.category == DRIFT)

    @property
    def unexplained(self) -> tuple[str, ...]:
        """Every difference a statement should have removed (FIX and MIGRA)."""
        return tuple(d.line() for d in self.differences if d.category != DRIFT)


def _show(v: str | None) -> str:
    return "(none)" if v is None or v == "" else repr(v)


def read(url: DatabaseURL, schema: str = "public", exclude: model.Exclude | None = None) -> Facts:
    """The snapshot of one schema (_read), from the disk cache when the database's catalog
    is one read before (readcache.py)."""
    from . import readcache

    ex = exclude or model.Exclude()
    return readcache.cached(
        "fidelity", url, (schema, repr(ex)), lambda: _read(url, schema, ex), _is_facts
    )


def _is_facts(hit: object) -> bool:
    return isinstance(hit, Facts)


def _read(url: DatabaseURL, schema: str, exclude: model.Exclude) -> Facts:
    """The snapshot of one schema; excluded tables, functions and alembic_version left out.

    search_path is set to the schema, so definitions (pg_get_triggerdef, ...) print names
    unqualified and two schemas of the same database compare equal."""
    ex = exclude or model.Exclude()
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('search_path', quote_ident(%(schema)s), false)",
                {"schema": schema},
            )
            cur.execute("SHOW server_version_num")
            row = cur.fetchone()
            version = int(row[0]) if row else 0
            p = {"schema": schema}
            rows = {}
            for name, sql in (
                ("sequences", _SEQUENCES),
                ("tables", _TABLES),
                (
                    "columns",
                    _COLUMNS.replace(
                        "{compression}",
                        "nullif(a.attcompression::text, '')"
                        if version >= _COMPRESSION_SINCE
                        else "''",
                    ),
                ),
                ("functions", _FUNCTIONS),
                ("triggers", _TRIGGERS),
                ("constraints", _CONSTRAINTS),
                (
                    "indexes",
                    _INDEXES.replace(
                        "{nnd}",
                        "x.indnullsnotdistinct::text"
                        if version >= _NULLS_NOT_DISTINCT_SINCE
                        else "'false'",
                    ),
                ),
            ):
                cur.execute(sql, p)
                rows[name] = cur.fetchall()
        conn.rollback()
    finally:
        conn.close()
    return _facts(schema, rows, ex)


def excluded_function(bare: str, full: str, names: Iterable[str]) -> bool:
    squeezed = {n.replace(" ", "") for n in names}
    return bare in squeezed or full.replace(" ", "") in squeezed


def _facts(schema: str, rows: dict[str, list[tuple[object, ...]]], ex: model.Exclude) -> Facts:
    skip = {ALEMBIC_TABLE, *ex.tables}
    objects: dict[Key, Values] = {}
    order: dict[str, list[tuple[int, str]]] = {}

    def s(v: object) -> str | None:
        return None if v is None or v == "" else str(v)

    for name, typ, start, inc, lo, hi, cache, cycle, owned, owner, comment in rows["sequences"]:
        if owner in skip:
            continue
        objects[("sequence", str(name))] = {
            "type": s(typ),
            "start": s(start),
            "increment": s(inc),
            "min": s(lo),
            "max": s(hi),
            "cache": s(cache),
            "cycle": s(cycle),
            "owned_by": s(owned),
            "comment": s(comment),
        }
    for table, persistence, reloptions, replident, comment in rows["tables"]:
        if table in skip:
            continue
        objects[("table", str(table))] = {
            "_table": str(table),
            "persistence": s(persistence),
            "reloptions": s(reloptions),
            "replica_identity": s(replident),
            "comment": s(comment),
        }
    for table, col, num, collation, storage, compression, typstorage, comment, ident, owns in rows[
        "columns"
    ]:
        if table in skip:
            continue
        order.setdefault(str(table), []).append((int(str(num)), str(col)))
        objects[("column", f"{table}.{col}")] = {
            "collation": s(collation),
            "storage": s(storage),
            "compression": s(compression),
            "identity": s(ident),
            "comment": s(comment),
            # not compared: what the statements need
            "_table": str(table),
            "_column": str(col),
            "_type_storage": s(typstorage),
            "_owns_sequence": s(owns),
        }
    for bare, full, vol, strict, secdef, args, parallel, config, comment in rows["functions"]:
        if excluded_function(str(bare), str(full), ex.functions):
            continue
        objects[("function", str(full))] = {
            "volatility": s(vol),
            "strict": s(strict),
            "security_definer": s(secdef),
            "arguments": s(args),
            "parallel": s(parallel),
            "config": s(config),
            "comment": s(comment),
        }
    for table, name, enabled, definition, comment in rows["triggers"]:
        if table in skip:
            continue
        objects[("trigger", f"{table}.{name}")] = {
            "enabled": s(enabled),
            "definition": s(definition),
            "comment": s(comment),
        }
    for table, name, definition, deferrable, deferred, noinherit, comment in rows["constraints"]:
        if table in skip:
            continue
        objects[("constraint", f"{table}.{name}")] = {
            "definition": s(definition),
            "deferrable": s(deferrable),
            "deferred": s(deferred),
            "no_inherit": s(noinherit),
            "comment": s(comment),
        }
    for table, name, nnd, reloptions, comment in rows["indexes"]:
        if table in skip:
            continue
        objects[("index", str(name))] = {
            "nulls_not_distinct": s(nnd),
            "reloptions": s(reloptions),
            "comment": s(comment),
        }
    return Facts(
        schema,
        objects,
        {t: tuple(c for _, c in sorted(cols)) for t, cols in order.items()},
    )


def compare(have: Facts, want: Facts, target_schema: str | None = None) -> Comparison:
    """What differs from `have` to `want` (pure), with ALTER SEQUENCE records for the FIX
    differences, names qualified by target_schema (None: unqualified, as in revisions)."""
    found: list[Difference] = []
    for key in sorted(have.objects.keys() & want.objects.keys()):
        kind, name = key
        a, b = have.objects[key], want.objects[key]
        for attr, category in ATTRIBUTES[kind].items():
            old, new = a.get(attr), b.get(attr)
            if attr == "identity" and (old is None or new is None):
                # migra adds or drops the identity; only options it does not give count
                if new is None or new == _created_identity(new):
                    continue
                # a serial column the columns kind converts (kinds/serial_identity.py):
                # its identity is added with the defaults and keeps the serial's counter,
                # so its options are set without a RESTART
                old = _created_identity(new) if a.get("_owns_sequence") == "True" else None
            if old != new:
                found.append(Difference(kind, name, attr, old, new, category))
    # What CREATE TABLE / ADD COLUMN (migra's) leave at their defaults.
    for key in sorted(want.objects.keys() - have.objects.keys()):
        kind, name = key
        for attr, value in _CREATED.get(kind, {}).items():
            new = want.objects[key].get(attr)
            if attr == "identity" and new == _created_identity(new):
                continue
            old = None if attr == "identity" else value
            if old != new:
                found.append(Difference(kind, name, attr, old, new, FIX))
    notes = []
    for table in sorted(have.column_order.keys() & want.column_order.keys()):
        both = set(have.column_order[table]) & set(want.column_order[table])
        x = [c for c in have.column_order[table] if c in both]
        y = [c for c in want.column_order[table] if c in both]
        if x != y:
            notes.append(
                f"table {table}: column order is ({', '.join(x)}) here, ({', '.join(y)}) in "
                "the desired schema; a column cannot be moved in place (not drift)"
            )
    fixes = tuple(
        _alter_sequence(
            name,
            [d for d in found if d.kind == "sequence" and d.name == name and d.category == FIX],
            want,
            target_schema,
        )
        for name in sorted({d.name for d in found if d.kind == "sequence" and d.category == FIX})
    )
    fixes += tuple(
        r
        for kind, name in sorted({(d.kind, d.name) for d in found if d.kind != "sequence"})
        for r in _alter_table(
            [d for d in found if (d.kind, d.name) == (kind, name) and d.category == FIX],
            {
                "_table": name.partition(".")[0],
                "_column": name.partition(".")[2],
                **want.objects[(kind, name)],
            },
            target_schema,
        )
    )
    return Comparison(tuple(found), fixes, tuple(notes))


# What a table or column that CREATE TABLE / ADD COLUMN makes has (identity: see below).
_CREATED: dict[str, Values] = {
    "table": {"reloptions": None, "replica_identity": "default"},
    "column": {"storage": None, "compression": None, "identity": None},
}

_IDENTITY_CLAUSES = {
    "increment": "SET INCREMENT BY {}",
    "minvalue": "SET MINVALUE {}",
    "maxvalue": "SET MAXVALUE {}",
    "start": "SET START WITH {}",
    "cache": "SET CACHE {}",
}
_INT_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


def _options(text: str | None, sep: str = ", ") -> dict[str, str]:
    """`k=v` items (reloptions as read; identity options) as a dict."""
    return dict(o.split("=", 1) for o in text.split(sep)) if text else {}


def _created_identity(want: str | None) -> str | None:
    """The options of an identity column that `GENERATED ... AS IDENTITY` makes, of the
    desired one's type (None: not an identity column)."""
    if want is None:
        return None
    typ = _options(want, " ").get("as", "")
    top = _INT_MAX.get(typ)
    if top is None:
        return None
    return f"as={typ} start=1 increment=1 minvalue=1 maxvalue={top} cache=1 cycle=false"


_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?")
_STORAGE_WORDS = {"p": "PLAIN", "e": "EXTERNAL", "x": "EXTENDED", "m": "MAIN"}
_COMPRESSION_WORDS = {"p": "pglz", "l": "lz4"}


def _option_name(name: str) -> str:
    if not _OPTION_NAME.fullmatch(name):
        raise statements.StatementError(f"storage parameter {name!r} is not a parameter name")
    return ".".join(quote(p) for p in name.split("."))


def _number(attr: str, value: str | None) -> int:
    if value is None or not value.lstrip("-").isdigit():
        raise statements.StatementError(f"identity option {attr}={value!r} is not an integer")
    return int(value)


def _alter_table(diffs: Sequence[Difference], want: Values, schema: str | None) -> list[Record]:
    """ALTER TABLE for a table's or column's FIX differences; every value is checked to
    be what the catalog can hold (a letter code, an integer, a parameter name) or quoted
    as a literal, so nothing else reaches SQL."""
    if not diffs:
        return []
    qt = qualified(str(want["_table"]), schema)
    clauses: list[str] = []
    for d in diffs:
        if d.attribute == "reloptions":
            have, wanted = _options(d.have), _options(d.want)
            changed = [
                f"{_option_name(k)}={quote_literal(v)}"
                for k, v in wanted.items()
                if have.get(k) != v
            ]
            gone = [_option_name(k) for k in have if k not in wanted]
            if changed:
                clauses.append(f"SET ({', '.join(changed)})")
            if gone:
                clauses.append(f"RESET ({', '.join(gone)})")
        elif d.attribute == "replica_identity":
            value = d.want or "default"
            if value.startswith("using index "):
                clauses.append(f"REPLICA IDENTITY USING INDEX {quote(value[12:])}")
            elif value in ("default", "full", "nothing"):
                clauses.append(f"REPLICA IDENTITY {value.upper()}")
            else:
                raise statements.StatementError(f"replica identity {value!r} is not one")
        else:
            col = f"ALTER COLUMN {quote(str(want['_column']))}"
            if d.attribute == "storage":
                code = d.want or want.get("_type_storage") or ""
                if code not in _STORAGE_WORDS:
                    raise statements.StatementError(f"column storage {code!r} is not one")
                clauses.append(f"{col} SET STORAGE {_STORAGE_WORDS[code]}")
            elif d.attribute == "compression":
                word = _COMPRESSION_WORDS.get(d.want or "", "default")
                if d.want is not None and d.want not in _COMPRESSION_WORDS:
                    raise statements.StatementError(f"compression {d.want!r} is not one")
                clauses.append(f"{col} SET COMPRESSION {word}")
            elif d.attribute == "identity" and d.want is not None:
                # no options here: the identity is new (added by this plan's statements)
                have = _options(d.have or _created_identity(d.want), " ")
                wanted = _options(d.want, " ")
                sets = [
                    clause.format(_number(k, wanted.get(k)))
                    for k, clause in _IDENTITY_CLAUSES.items()
                    if have.get(k) != wanted.get(k)
                ]
                if have.get("cycle") != wanted.get("cycle"):
                    sets.append("SET CYCLE" if wanted.get("cycle") == "true" else "SET NO CYCLE")
                if d.have is None:
                    # its sequence is unused: restart it at the desired start (a
                    # minvalue above the start CREATE gave is refused without it)
                    sets.append("RESTART")
                if sets:
                    clauses.append(f"{col} {' '.join(sets)}")
    if not clauses:
        return []
    return [statements.parse(f"ALTER TABLE {qt} {', '.join(clauses)};", "AlterTableStmt")]


# The clause of each sequence option, in the order PostgreSQL's grammar prints them.
_CLAUSES = (
    ("type", "AS {}"),
    ("increment", "INCREMENT BY {}"),
    ("min", "MINVALUE {}"),
    ("max", "MAXVALUE {}"),
    ("start", "START WITH {}"),
    ("cache", "CACHE {}"),
    ("cycle", "{}"),
)

_TYPES = {"smallint", "integer", "bigint"}


def _clause(attr: str, value: str | None) -> str:
    """One option clause from a catalog value, refused unless it is what the catalog can
    hold (an integer type name, an integer, a boolean), so nothing else reaches SQL."""
    if value is None:
        raise statements.StatementError(f"sequence option {attr} has no value")
    if attr == "type":
        if value not in _TYPES:
            raise statements.StatementError(f"sequence type {value!r} is not an integer type")
        return f"AS {value}"
    if attr == "cycle":
        return "CYCLE" if value == "true" else "NO CYCLE"
    if not value.lstrip("-").isdigit():
        raise statements.StatementError(f"sequence option {attr}={value!r} is not an integer")
    return dict(_CLAUSES)[attr].format(int(value))


def sequence_sql(
    name: str, options: Values, attrs: Sequence[str], schema: str | None, verb: str
) -> str:
    """CREATE/ALTER SEQUENCE with the given options (in grammar order)."""
    clauses = [_clause(a, options.get(a)) for a, _ in _CLAUSES if a in attrs]
    return " ".join([f"{verb} SEQUENCE {qualified(name, schema)}", *clauses]) + ";"


def _alter_sequence(name: str, diffs: list[Difference], want: Facts, schema: str | None) -> Record:
    sql = sequence_sql(
        name, want.objects[("sequence", name)], [d.attribute for d in diffs], schema, "ALTER"
    )
    return statements.parse(sql, "AlterSeqStmt")


# What CREATE SEQUENCE without options makes (what migra writes for a new sequence).
_BIGINT_DEFAULTS: Values = {
    "type": "bigint",
    "start": "1",
    "increment": "1",
    "min": "1",
    "max": "9223372036854775807",
    "cache": "1",
    "cycle": "false",
}


def complete_creates(records: Sequence[Record], want: Facts, schema: str | None) -> list[Record]:
    """migra writes `create sequence "x"` for a new sequence: a bigint one, whatever the
    desired sequence is (a serial column's is integer). Each such CREATE SEQUENCE is
    replaced by one carrying the desired options that differ from those defaults."""
    out = []
    for r in records:
        options = want.objects.get(("sequence", r.name or ""))
        if r.kind == "CreateSeqStmt" and options is not None:
            attrs = [a for a, _ in _CLAUSES if options.get(a) != _BIGINT_DEFAULTS[a]]
            if attrs:
                r = statements.parse(
                    sequence_sql(r.name or "", options, attrs, schema, "CREATE"), "CreateSeqStmt"
                )
        out.append(r)
    return out


def differences(
    a: DatabaseURL, b: DatabaseURL, exclude: model.Exclude, schema: str = "public"
) -> list[str]:
    """Every difference (FIX, MIGRA and DRIFT; not notes) from database a to b, as lines."""
    c = compare(read(a, schema, exclude), read(b, schema, exclude))
    return [d.line() for d in c.differences]
