"""A live database -> YAML in our format (`bindu-schema inspect`).

Everything is read from the catalogs of one schema (default public), with search_path set
to that schema so names and types come back unqualified. The result is plain data in the
key order of schema/bindu.yaml, dumped by a YAML dumper that keeps that order, writes short
entries as flow maps (`{type: uuid, nullable: false}`) and multi-line bodies as block
literals.

Ordering: columns keep their attnum order; tables, constraints, indexes, triggers,
functions, enums and extensions are sorted by name. Objects the format cannot express
(views, partitions, domains, OUT parameters, trigger arguments, ...) are left out, each
with a warning, so the output always loads with loader.py.

Normalizations (all are whitespace or spelling only; PostgreSQL sees the same objects):
- types use the short names of the format: varchar(n), char(n), timestamptz, timetz,
  timestamp, time, varbit (format_type spells them out);
- a function body drops leading blank lines, the common indentation and trailing
  whitespace (the differ compares bodies modulo whitespace, too);
- check expressions, index expressions, index predicates and trigger WHEN conditions are
  PostgreSQL's pretty-printed text with one redundant pair of outer parentheses removed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
import yaml

from . import server, statements
from .settings import DatabaseURL

ALEMBIC_TABLE = "alembic_version"
_SERIAL_INTS = ("integer", "bigint", "smallint")
_METHODS = ("btree", "gin", "gist", "brin", "hash", "spgist")
_FK_ACTIONS = {"a": None, "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": None}


@dataclass
class Inspection:
    """The YAML data (plain dicts and lists, in output order) and what was left out."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    schema_name: str = "public"


# --------------------------------------------------------------------------- text helpers


def strip_outer_parens(text: str) -> str:
    """'(a > 0)' -> 'a > 0', but '(a) AND (b)' stays: only a pair that encloses everything."""
    s = text.strip()
    while s.startswith("(") and s.endswith(")") and _matching_paren(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    return s


def _matching_paren(s: str, start: int) -> int:
    """Index of the parenthesis closing the one at s[start], skipping quoted text; -1 if none."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(s):
        ch = s[i]
        if quote:
            if ch == quote:
                if i + 1 < len(s) and s[i + 1] == quote:
                    i += 1  # doubled quote inside a literal or identifier
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at separators outside parentheses, brackets and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    current.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
            current.append(ch)
        elif ch in "([":
            depth += 1
            current.append(ch)
        elif ch in ")]":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _find_top_level(text: str, word: str) -> int:
    """Index of ` word ` outside quotes and parentheses, or -1."""
    depth = 0
    quote: str | None = None
    upper = text.upper()
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and upper.startswith(word, i):
            return i
    return -1


# The format's short spelling of format_type's long ones, by the parser's internal name.
_SHORT = {
    "varchar": "varchar",
    "bpchar": "char",
    "varbit": "varbit",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "timetz": "timetz",
    "time": "time",
}


def short_type(formatted: str, enums: set[str] | None = None) -> str:
    """format_type's spelling -> the format's short spelling ('character varying(20)[]' ->
    'varchar(20)[]'); a quoted enum name is unquoted when it names one of our enums."""
    try:
        t = statements.parse_type(formatted)
    except statements.StatementError:
        return formatted
    dims = "[]" * t.dims
    if t.schema == "pg_catalog" and t.name in _SHORT and not t.other_mods:
        mods = f"({','.join(map(str, t.mods))})" if t.mods else ""
        return _SHORT[t.name] + mods + dims
    if enums and t.schema is None and t.name in enums:
        return t.name + dims
    return formatted


def clean_body(body: str) -> str:
    """Leading blank lines, common indentation and trailing whitespace removed; one final
    newline for multi-line bodies (a block literal), none for one-line bodies."""
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    lines = [_expand_leading_tabs(line) for line in lines]
    text = textwrap.dedent("\n".join(lines))
    return text + "\n" if "\n" in text else text


def _expand_leading_tabs(line: str) -> str:
    stripped = line.lstrip(" \t")
    return line[: len(line) - len(stripped)].expandtabs(4) + stripped


def trigger_when(definition: str) -> str | None:
    """The WHEN condition of pg_get_triggerdef's text, without its parentheses."""
    when = statements.trigger_when(definition)
    return strip_outer_parens(when) if when else None


# --------------------------------------------------------------------------------- queries

_TABLES = """
SELECT c.oid, c.relname, c.relkind, c.relispartition, obj_description(c.oid, 'pg_class'),
       c.relpersistence, c.relrowsecurity
FROM pg_class c
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       col_description(a.attrelid, a.attnum),
       a.attcollation <> t.typcollation AS custom_collation,
       seq.relname AS owned_seq,
       seq.is_nextval
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT s.relname,
           pg_get_expr(ad.adbin, ad.adrelid)
             = 'nextval(' || quote_literal(s.oid::regclass::text) || '::regclass)' AS is_nextval
    FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid
    WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
      AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
      AND dep.deptype = 'a' AND s.relkind = 'S'
    ORDER BY s.relname LIMIT 1
) seq ON true
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_CONSTRAINTS = """
SELECT k.conrelid, k.conname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
       rt.relname, rt.relnamespace = %(ns)s,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i),
       k.confupdtype, k.confdeltype, k.confmatchtype, k.condeferrable, k.condeferred,
       k.convalidated, k.conislocal,
       CASE WHEN k.contype = 'c' THEN pg_get_expr(k.conbin, k.conrelid, true) END,
       pg_get_constraintdef(k.oid, true)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_class rt ON rt.oid = k.confrelid
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND k.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY k.conrelid, k.conname
"""

_INDEXES = """
SELECT x.indrelid, i.relname, am.amname, x.indisunique, x.indnkeyatts, x.indnatts,
       x.indkey::int2[], x.indoption::int2[],
       ARRAY(SELECT CASE WHEN o.opcdefault THEN NULL ELSE o.opcname END
             FROM unnest(x.indclass::oid[]) WITH ORDINALITY u(oid, n)
             JOIN pg_opclass o ON o.oid = u.oid ORDER BY u.n),
       ARRAY(SELECT CASE WHEN u.coll = 0 OR u.coll = coalesce(a.attcollation, u.coll)
                         OR u.coll = 'pg_catalog.default'::regcollation THEN NULL
                         ELSE u.coll::regcollation::text END
             FROM unnest(x.indcollation::oid[], x.indkey::int2[]) WITH ORDINALITY
                  u(coll, attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.attnum
             ORDER BY u.n),
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnatts) k ORDER BY k),
       ARRAY(SELECT coalesce(a.attname, '')
             FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
             ORDER BY u.i),
       pg_get_expr(x.indpred, x.indrelid, true), obj_description(i.oid, 'pg_class'),
       x.indisvalid, pg_get_indexdef(x.indexrelid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE t.relnamespace = %(ns)s AND t.relkind = 'r'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                    AND k.contype IN ('p', 'u', 'x'))
ORDER BY x.indrelid, i.relname
"""

_TRIGGERS = """
SELECT g.tgrelid, g.tgname, g.tgtype, p.proname, p.pronamespace = %(ns)s, g.tgenabled,
       g.tgnargs, array_length(g.tgattr::int2[], 1), g.tgconstraint <> 0,
       g.tgoldtable IS NOT NULL OR g.tgnewtable IS NOT NULL,
       pg_get_triggerdef(g.oid, true)
FROM pg_trigger g
JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_proc p ON p.oid = g.tgfoid
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND NOT g.tgisinternal
ORDER BY g.tgrelid, g.tgname
"""

_FUNCTIONS = """
SELECT p.proname, p.prokind, l.lanname, pg_get_function_arguments(p.oid),
       pg_get_function_result(p.oid), p.prosrc, p.provolatile, p.prosecdef, p.proisstrict,
       p.proconfig, p.pronargs, p.proargnames, p.proargmodes::text[],
       ARRAY(SELECT format_type(u.t, NULL) FROM unnest(p.proargtypes::oid[])
             WITH ORDINALITY u(t, n) ORDER BY u.n),
       {sqlbody} AS has_sql_body, p.proleakproof, p.proparallel,
       pg_get_function_identity_arguments(p.oid)
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""

_TYPES = """
SELECT t.typname, t.typtype,
       ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder)
FROM pg_type t
LEFT JOIN pg_class r ON r.oid = t.typrelid
WHERE t.typnamespace = %(ns)s
  AND (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND r.relkind = 'c'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.typname
"""

_SEQUENCES = """
SELECT s.relname
FROM pg_class s
WHERE s.relnamespace = %(ns)s AND s.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = s.oid AND d.deptype IN ('a', 'i', 'e'))
ORDER BY s.relname
"""

_EXTENSIONS = """
SELECT e.extname, n.nspname FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
ORDER BY e.extname
"""


# ------------------------------------------------------------------------------ inspection


class _Reader:
    def __init__(self, conn: psycopg2.extensions.connection, ns: int) -> None:
        self.conn = conn
        self.ns = ns

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(query, {"ns": self.ns})
            return list(cur.fetchall())


def inspect(url: DatabaseURL, schema_name: str = "public") -> Inspection:
    """Read one schema of the database at url into our YAML data."""
    conn = server.connect(url)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (schema_name,))
            found = cur.fetchone()
            if found is None:
                from .errors import BinduSchemaError

                raise BinduSchemaError(f"{url.safe}: there is no schema '{schema_name}'")
            cur.execute("SELECT set_config('search_path', quote_ident(%s), false)", (schema_name,))
            cur.execute("SHOW server_version_num")
            row = cur.fetchone()
            version = int(row[0]) if row else 0
        return _inspect(_Reader(conn, int(found[0])), schema_name, version)
    finally:
        conn.rollback()
        conn.close()


def _inspect(r: _Reader, schema_name: str, version: int) -> Inspection:
    out = Inspection(data={}, schema_name=schema_name)
    warn = out.warnings.append

    extensions: list[Any] = []
    for name, nsp in r.rows(_EXTENSIONS):
        extensions.append(name if nsp == schema_name else FlowMap(name=name, schema=nsp))
    extensions = FlowList(extensions) if all(isinstance(e, str) for e in extensions) else extensions

    enums: dict[str, Any] = {}
    for name, typtype, labels in r.rows(_TYPES):
        if typtype == "e":
            enums[name] = FlowMap(values=FlowList(labels))
        else:
            what = {"d": "domain", "r": "range type", "m": "multirange type"}.get(
                typtype, "composite type"
            )
            if typtype != "m":  # a multirange comes with its range
                warn(f"{what} {name}: not in the format; left out")

    functions = _functions(r, version, schema_name, warn)

    tables_rows = r.rows(_TABLES)
    tables: dict[int, dict[str, Any]] = {}
    names: dict[int, str] = {}
    for oid, name, relkind, is_partition, comment, persistence, rls in tables_rows:
        if name == ALEMBIC_TABLE:
            continue
        if relkind != "r" or is_partition:
            what = {
                "p": "partitioned table",
                "v": "view",
                "m": "materialized view",
                "f": "foreign table",
            }.get(relkind, "partition")
            warn(f"{what} {name}: not in the format; left out")
            continue
        if persistence == "u":
            warn(f"table {name}: UNLOGGED is not in the format; it renders as a logged table")
        if rls:
            warn(f"table {name}: row level security is not in the format; left out")
        t: dict[str, Any] = {}
        if comment is not None:
            t["comment"] = comment
        t["columns"] = {}
        tables[oid] = t
        names[oid] = name
    table_names = set(names.values())

    enum_names = set(enums)
    for (
        relid,
        col,
        typ,
        notnull,
        default,
        identity,
        generated,
        comment,
        collation,
        owned_seq,
        is_nextval,
    ) in r.rows(_COLUMNS):
        if relid not in tables:
            continue
        tname = names[relid]
        c: dict[str, Any] = {"type": short_type(typ, enum_names)}
        if notnull:
            c["nullable"] = False
        if generated:
            warn(
                f"column {tname}.{col}: GENERATED ALWAYS AS ({default}) is not in the format; "
                "it renders as a plain column"
            )
            default = None
        if identity in ("a", "d"):
            c["identity"] = "always" if identity == "a" else "by default"
        elif owned_seq and is_nextval and c["type"] in _SERIAL_INTS:
            c["serial"] = True
            expected = f"{tname}_{col}_seq"
            if owned_seq != expected and len(expected.encode()) <= 63:
                warn(
                    f"column {tname}.{col}: its sequence is named {owned_seq}; rendered as "
                    f"serial it will be named {expected}"
                )
        elif default is not None:
            c["default"] = default
            if owned_seq:
                warn(
                    f"column {tname}.{col}: its default uses sequence {owned_seq}, which only "
                    "a serial column (integer, bigint, smallint) can own in the format; the "
                    "sequence is left out"
                )
        if collation:
            warn(f"column {tname}.{col}: a non-default collation is not in the format; left out")
        if comment is not None:
            c["comment"] = comment
        tables[relid]["columns"][col] = c

    _constraints(r, tables, names, table_names, warn)
    _indexes(r, tables, names, warn)
    _triggers(r, tables, names, functions, warn)

    for (seq,) in r.rows(_SEQUENCES):
        warn(f"sequence {seq}: only sequences owned by serial columns are in the format; left out")

    data: dict[str, Any] = {"version": 1}
    if extensions:
        data["extensions"] = extensions
    if enums:
        data["enums"] = enums
    if functions:
        data["functions"] = functions
    for oid in [o for o, t in tables.items() if not t["columns"]]:
        warn(f"table {names[oid]}: a table without columns is not in the format; left out")
        del tables[oid]
    data["tables"] = {
        names[oid]: _ordered_table(tables[oid]) for oid in sorted(tables, key=lambda o: names[o])
    }
    out.data = data
    return out


def _ordered_table(t: dict[str, Any]) -> dict[str, Any]:
    order = (
        "comment",
        "columns",
        "primary_key",
        "foreign_keys",
        "unique",
        "checks",
        "indexes",
        "triggers",
    )
    out = {k: t[k] for k in order if k in t}
    out["columns"] = {name: _compact(c) for name, c in t["columns"].items()}
    return out


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A flow map when it fits on a line and has no multi-line text."""
    text = ", ".join(f"{k}: {v}" for k, v in entry.items())
    if "\n" in text or len(text) > 72:
        return entry
    return FlowMap(entry)


def _constraints(
    r: _Reader,
    tables: dict[int, dict[str, Any]],
    names: dict[int, str],
    table_names: set[str],
    warn: Any,
) -> None:
    for (
        relid,
        name,
        contype,
        cols,
        ref_table,
        ref_same_schema,
        ref_cols,
        upd,
        dele,
        match,
        deferrable,
        deferred,
        validated,
        is_local,
        check_expr,
        definition,
    ) in r.rows(_CONSTRAINTS):
        if relid not in tables:
            continue
        t = tables[relid]
        where = f"constraint {names[relid]}.{name}"
        if not is_local:
            continue  # inherited from a parent table
        if not validated:
            warn(f"{where}: NOT VALID is not in the format; it renders as a validated constraint")
        if contype == "p":
            if deferrable:
                warn(f"{where}: a deferrable primary key is not in the format; not deferrable")
            t["primary_key"] = FlowMap(name=name, columns=FlowList(cols))
        elif contype == "u":
            facts = statements.constraint_facts(definition)
            if deferrable or facts.nulls_not_distinct or facts.include:
                warn(
                    f"{where}: {definition} is more than the format says; rendered as UNIQUE "
                    f"({', '.join(cols)})"
                )
            t.setdefault("unique", {})[name] = FlowMap(columns=FlowList(cols))
        elif contype == "c":
            t.setdefault("checks", {})[name] = _compact(
                {"expression": strip_outer_parens(check_expr)}
            )
        elif contype == "f":
            if not ref_same_schema or ref_table not in table_names:
                warn(f"{where}: references {ref_table} outside the inspected tables; left out")
                continue
            if match == "f" or statements.constraint_facts(definition).fk_set_columns:
                warn(
                    f"{where}: {definition} is more than the format says; MATCH FULL and "
                    "column lists of SET NULL/SET DEFAULT are left out"
                )
            fk: dict[str, Any] = {
                "columns": FlowList(cols),
                "references": FlowMap(table=ref_table, columns=FlowList(ref_cols)),
            }
            if _FK_ACTIONS.get(dele):
                fk["on_delete"] = _FK_ACTIONS[dele]
            if _FK_ACTIONS.get(upd):
                fk["on_update"] = _FK_ACTIONS[upd]
            if deferrable:
                fk["deferrable"] = True
            if deferred:
                fk["initially_deferred"] = True
            t.setdefault("foreign_keys", {})[name] = fk
        else:
            warn(f"{where}: exclusion constraints are not in the format; left out")


def _indexes(
    r: _Reader, tables: dict[int, dict[str, Any]], names: dict[int, str], warn: Any
) -> None:
    for (
        relid,
        name,
        method,
        unique,
        nkey,
        natts,
        indkey,
        indoption,
        opclasses,
        collations,
        keydefs,
        attnames,
        predicate,
        comment,
        valid,
        definition,
    ) in r.rows(_INDEXES):
        if relid not in tables:
            continue
        where = f"index {name} on {names[relid]}"
        if method not in _METHODS:
            warn(f"{where}: method {method} is not in the format; left out")
            continue
        if not valid:
            warn(f"{where}: the index is INVALID (a failed CONCURRENTLY build?); kept anyway")
        if "NULLS NOT DISTINCT" in definition:
            warn(f"{where}: NULLS NOT DISTINCT is not in the format; left out of the index")
        items: list[Any] = []
        simple = True
        for k in range(nkey):
            item: dict[str, Any] = {}
            if indkey[k] != 0:
                item["column"] = attnames[k]
            else:
                item["expression"] = strip_outer_parens(keydefs[k])
            if method == "btree":
                opt = indoption[k]
                desc, nulls_first = bool(opt & 1), bool(opt & 2)
                if desc:
                    item["order"] = "desc"
                    if not nulls_first:
                        item["nulls"] = "last"
                elif nulls_first:
                    item["nulls"] = "first"
            if opclasses[k]:
                item["opclass"] = opclasses[k]
            if collations[k]:
                warn(f"{where}: COLLATE {collations[k]} is not in the format; left out")
            if list(item) == ["column"]:
                items.append(item["column"])
            else:
                simple = False
                items.append(FlowMap(item))
        ix: dict[str, Any] = {"columns": FlowList(items)}
        if method != "btree":
            ix["method"] = method
        if unique:
            ix["unique"] = True
        if predicate:
            ix["where"] = strip_outer_parens(predicate)
        if natts > nkey:
            ix["include"] = FlowList(attnames[nkey:natts])
        if comment is not None:
            ix["comment"] = comment
        t = tables[relid]
        t.setdefault("indexes", {})[name] = _compact(ix) if simple or len(ix) == 1 else ix


def _triggers(
    r: _Reader,
    tables: dict[int, dict[str, Any]],
    names: dict[int, str],
    functions: dict[str, Any],
    warn: Any,
) -> None:
    for (
        relid,
        name,
        tgtype,
        fname,
        f_same_schema,
        enabled,
        nargs,
        ncols,
        is_constraint,
        transition,
        definition,
    ) in r.rows(_TRIGGERS):
        if relid not in tables:
            continue
        where = f"trigger {name} on {names[relid]}"
        if not f_same_schema or fname not in functions:
            warn(f"{where}: calls {fname}(), which is not an inspected function; left out")
            continue
        if nargs or ncols or is_constraint or transition:
            warn(
                f"{where}: {definition} is more than the format says (arguments, UPDATE OF, "
                "CONSTRAINT or REFERENCING); left out"
            )
            continue
        if enabled == "D":
            warn(f"{where}: the trigger is disabled; it renders enabled")
        timing = "instead of" if tgtype & 64 else ("before" if tgtype & 2 else "after")
        events = [
            e
            for bit, e in ((4, "insert"), (16, "update"), (8, "delete"), (32, "truncate"))
            if tgtype & bit
        ]
        tr: dict[str, Any] = {
            "timing": timing,
            "events": FlowList(events),
            "for_each": "row" if tgtype & 1 else "statement",
            "function": fname,
        }
        when = trigger_when(definition)
        if when:
            tr["when"] = when
        tables[relid].setdefault("triggers", {})[name] = tr


def _functions(r: _Reader, version: int, schema_name: str, warn: Any) -> dict[str, Any]:
    sqlbody = "p.prosqlbody IS NOT NULL" if version >= 140000 else "false"
    out: dict[str, Any] = {}
    for (
        name,
        kind,
        language,
        arguments,
        result,
        body,
        volatility,
        secdef,
        strict,
        config,
        nargs,
        argnames,
        argmodes,
        argtypes,
        has_sql_body,
        leakproof,
        parallel,
        identity,
    ) in r.rows(_FUNCTIONS.format(sqlbody=sqlbody)):
        where = f"function {name}({identity})"
        if kind != "f":
            what = {"p": "procedure", "a": "aggregate", "w": "window function"}.get(kind, kind)
            warn(f"{what} {name}({identity}): not in the format; left out")
            continue
        if name in out:
            warn(f"{where}: an overload of {name}; the format has one function per name; left out")
            continue
        if has_sql_body or language in ("c", "internal"):
            warn(
                f"{where}: a {'BEGIN ATOMIC' if has_sql_body else language} body is not in "
                "the format; left out"
            )
            continue
        modes = set(argmodes or ())
        if modes - {"i", "t"}:
            warn(f"{where}: OUT, INOUT and VARIADIC parameters are not in the format; left out")
            continue
        pieces = split_top_level(arguments) if arguments else []
        if len(pieces) != nargs:
            warn(f"{where}: could not read its argument list ({arguments}); left out")
            continue
        args: list[Any] = []
        for i in range(nargs):
            a: dict[str, Any] = {}
            if argnames and i < len(argnames) and argnames[i]:
                a["name"] = argnames[i]
            a["type"] = short_type(argtypes[i])
            at = _find_top_level(pieces[i], " DEFAULT ")
            if at >= 0:
                a["default"] = pieces[i][at + len(" DEFAULT ") :].strip()
            args.append(FlowMap(a))
        # compile.py sets search_path to the target schema itself (--target-schema).
        own_path = {f"search_path={schema_name}", f'search_path="{schema_name}"'}
        config = [c for c in config or () if c not in own_path]
        extras = [
            label
            for label, on in (
                ("STRICT", strict),
                ("LEAKPROOF", leakproof),
                ("PARALLEL SAFE/RESTRICTED", parallel != "u"),
                (f"SET {', '.join(config or ())}", bool(config)),
            )
            if on
        ]
        if extras:
            warn(f"{where}: {', '.join(extras)} is not in the format; it renders without")
        f: dict[str, Any] = {}
        if args:
            f["arguments"] = args
        f["returns"] = short_type(result)
        f["language"] = language
        if _VOLATILITY.get(volatility):
            f["volatility"] = _VOLATILITY[volatility]
        if secdef:
            f["security_definer"] = True
        f["body"] = clean_body(body)
        out[name] = f
    return out


# ------------------------------------------------------------------------------------ YAML


class FlowMap(dict[str, Any]):
    """A mapping written in flow style: {type: uuid, nullable: false}."""


class FlowList(list[Any]):
    """A sequence written in flow style: [a, b]."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent block sequences under their key, as schema/bindu.yaml does.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif "'" in value:
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow_map(dumper: yaml.SafeDumper, value: FlowMap) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, value: FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(FlowMap, _represent_flow_map)
_Dumper.add_representer(FlowList, _represent_flow_list)
_Dumper.add_representer(dict, _represent_dict)


def dump(data: dict[str, Any]) -> str:
    """YAML text in the given key order; short entries as flow maps, bodies as literals."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )
    # Blank lines between top-level sections and between tables, as in schema/bindu.yaml.
    lines = text.splitlines()
    out: list[str] = []
    in_tables = False
    for line in lines:
        top = bool(line) and not line.startswith(" ")
        if top and out:
            out.append("")
        if top:
            in_tables = line.startswith("tables:")
        elif in_tables and re.match(r"^  \S", line) and not out[-1].endswith("tables:"):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def to_yaml(inspection: Inspection) -> str:
    header = (
        "# yaml-language-server: $schema=./bindu-schema.json\n"
        "#\n"
        f"# Generated by `bindu-schema inspect` from schema {inspection.schema_name}.\n"
        "# Review it before committing: see docs/schema-format.md for the format.\n"
    )
    if inspection.warnings:
        header += "#\n# Left out or changed (not expressible in the format):\n"
        header += "".join(f"#   - {' '.join(w.split())}\n" for w in inspection.warnings)
    return header + dump(inspection.data)
