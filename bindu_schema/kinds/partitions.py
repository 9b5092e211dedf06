"""Partitioned tables, a table part: `partition_by: {method, columns | expressions}` and
`partitions: {name: {from, to} | {in} | {modulus, remainder} | {default: true}}`, plus
`monthly: {from: 'YYYY-MM', to: 'YYYY-MM'}` to generate one range partition per month.

The parent is created `PARTITION BY` through SQLAlchemy (`postgresql_partition_by`, the
column names quoted here, each expression checked to be one and put in parentheses); each
partition is `CREATE TABLE ... PARTITION OF parent FOR VALUES ...`, its bounds written as
literals (never SQL text from the YAML). Indexes and keys declared on the parent are
PostgreSQL's partitioned indexes: every partition gets them. migra creates and drops
partitions (it knows `PARTITION OF`).

A new partition of a table that already exists is not `CREATE TABLE ... PARTITION OF`
(ACCESS EXCLUSIVE on the parent) but `attach_steps`: a table `LIKE` the parent, a CHECK
equal to the partition constraint, `ATTACH PARTITION` (SHARE UPDATE EXCLUSIVE on the
parent; the check spares its scan), the check dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..catalog import Facts
    from ..compile import DDL
    from ..statements import Record
    from .tables import Table

METHODS = ("range", "list", "hash")
Bound = str | int | float | bool | None


@dataclass(frozen=True)
class PartitionBy:
    method: str
    columns: tuple[str, ...]
    expressions: tuple[str, ...] = ()  # instead of columns: `PARTITION BY RANGE ((expr))`

    @property
    def size(self) -> int:
        """How many key elements (values a range bound lists)."""
        return len(self.expressions or self.columns)


@dataclass(frozen=True)
class Partition:
    name: str
    lower: tuple[Bound, ...] = ()  # range: FROM (...)
    upper: tuple[Bound, ...] = ()  # range: TO (...)
    values: tuple[Bound, ...] = ()  # list: IN (...)
    modulus: int | None = None  # hash
    remainder: int | None = None
    default: bool = False


_WORDS = ("MINVALUE", "MAXVALUE")

_PARTITIONED = """
SELECT p.partrelid, p.partstrat::text, p.partattrs::int2[],
       ARRAY(SELECT a.attname FROM unnest(p.partattrs::int2[]) WITH ORDINALITY u(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = u.n
             ORDER BY u.i),
       pg_get_partkeydef(p.partrelid)
FROM pg_partitioned_table p
JOIN pg_class c ON c.oid = p.partrelid
WHERE c.relnamespace = %(ns)s
"""

_PARTITIONS = """
SELECT i.inhparent, c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_class c
JOIN pg_inherits i ON i.inhrelid = c.oid
WHERE c.relnamespace = %(ns)s AND c.relispartition
ORDER BY c.relname
"""


def _bound_sql(value: Bound) -> str:
    """A bound value as SQL: MINVALUE/MAXVALUE words, numbers, NULL, or a quoted literal."""
    from ..literals import quote_literal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value.upper() in _WORDS:
        return value.upper()
    return quote_literal(value)


def bound_clause(p: Partition) -> str:
    def values(vs: tuple[Bound, ...]) -> str:
        return ", ".join(_bound_sql(v) for v in vs)

    if p.default:
        return "DEFAULT"
    if p.modulus is not None:
        return f"FOR VALUES WITH (MODULUS {p.modulus}, REMAINDER {p.remainder})"
    if p.values:
        return f"FOR VALUES IN ({values(p.values)})"
    return f"FOR VALUES FROM ({values(p.lower)}) TO ({values(p.upper)})"


# The temporary CHECK that lets ATTACH PARTITION skip its scan of the new partition.
BOUND_CHECK = "bindu_partition_bound"

# What CREATE TABLE ... PARTITION OF takes from the parent and `LIKE` copies only when told
# (identity stays the parent's; indexes, keys and row triggers come with ATTACH; comments
# and extended statistics are not a partition's).
_LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE " + (
    "INCLUDING COMPRESSION"
)


def bound_check(keys: tuple[str, ...], p: Partition) -> str | None:
    """The partition constraint of a range or list bound as a CHECK expression over the
    key elements (SQL: quoted columns, parenthesized expressions; `_key_sql`) and literal
    values, shaped as PostgreSQL derives it (partbounds.c, get_qual_for_list /
    get_qual_for_range), so ATTACH PARTITION finds it implied by the check and skips its
    scan. None for hash and default partitions (ATTACH scans the new, empty table)."""
    if p.default or p.modulus is not None:
        return None
    cols = list(keys)
    if p.values:
        col = cols[0]
        known = [v for v in p.values if v is not None]
        listed = f"{col} IN ({', '.join(_bound_sql(v) for v in known)})" if known else ""
        if len(known) < len(p.values):  # NULL is in the list
            return f"{col} IS NULL OR {listed}" if listed else f"{col} IS NULL"
        return f"{col} IS NOT NULL AND {listed}"
    return " AND ".join([*(f"{c} IS NOT NULL" for c in cols), *_range_terms(cols, p)])


def _is_word(v: Bound) -> bool:
    return isinstance(v, str) and v.upper() in _WORDS


def _range_terms(cols: list[str], p: Partition) -> list[str]:
    """get_qual_for_range: `col = value` for a common prefix of equal bounds, then one
    OR of arms for the lower bound and one for the upper; MINVALUE and MAXVALUE end an
    arm (any value is above / below them)."""
    lo, up = p.lower, p.upper
    out: list[str] = []
    i = 0
    while i < len(cols) - 1 and not _is_word(lo[i]) and not _is_word(up[i]) and lo[i] == up[i]:
        out.append(f"{cols[i]} = {_bound_sql(lo[i])}")
        i += 1

    def arms(values: tuple[Bound, ...], last: str, strict: str, word: str) -> list[str]:
        found: list[str] = []
        for n in range(i, len(cols)):
            if _is_word(values[n]):
                break
            nxt = values[n + 1] if n + 1 < len(cols) else None
            op = strict
            if n == len(cols) - 1 and last:
                op = last
            elif isinstance(nxt, str) and nxt.upper() == word:
                op = strict + "="
            terms = [f"{cols[k]} = {_bound_sql(values[k])}" for k in range(i, n)]
            terms.append(f"{cols[n]} {op} {_bound_sql(values[n])}")
            found.append(" AND ".join(terms))
            if n + 1 < len(cols) and _is_word(nxt):
                break
        return found

    # The lower bound's last column is `>=` (inclusive), the upper's `<` (exclusive).
    lower = arms(lo, ">=", ">", "MINVALUE")
    upper = arms(up, "", "<", "MAXVALUE")
    for group in (lower, upper):
        if len(group) == 1:
            out.append(group[0])
        elif group:
            out.append("(" + " OR ".join(f"({a})" for a in group) + ")")
    return out


def _months(start: str, end: str) -> list[tuple[str, str, str]]:
    """(suffix YYYY_MM, first day, first day of the next month) from start to end
    (YYYY-MM, end excluded)."""
    y, m = (int(x) for x in start.split("-"))
    ey, em = (int(x) for x in end.split("-"))
    out = []
    while (y, m) < (ey, em):
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append((f"{y:04d}_{m:02d}", f"{y:04d}-{m:02d}-01", f"{ny:04d}-{nm:02d}-01"))
        y, m = ny, nm
    return out


class Partitions(base.TablePart):
    def fragments(self) -> dict[str, dict[str, Any]]:
        scalar = {"type": ["string", "number", "boolean", "null"]}
        values = {"type": "array", "items": scalar, "minItems": 1}
        month = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}
        return {
            "partition_by": base.entry(
                {
                    "method": {"enum": list(METHODS)},
                    "columns": base.names_list(),
                    "expressions": {"type": "array", "items": dict(base.NAME), "minItems": 1},
                },
                ["method"],
            ),
            "partitions": base.named_map(
                {
                    "from": dict(values),
                    "to": dict(values),
                    "in": dict(values),
                    "modulus": {"type": "integer", "minimum": 1},
                    "remainder": {"type": "integer", "minimum": 0},
                    "default": {"const": True},
                }
            ),
            "monthly": base.entry({"from": month, "to": month}, ["from", "to"]),
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        by = section.get("partition_by")
        parts = [
            Partition(
                name=name,
                lower=tuple(p.get("from") or ()),
                upper=tuple(p.get("to") or ()),
                values=tuple(p.get("in") or ()),
                modulus=p.get("modulus"),
                remainder=p.get("remainder"),
                default=bool(p.get("default")),
            )
            for name, p in (section.get("partitions") or {}).items()
        ]
        monthly = section.get("monthly")
        return {
            "partition_by": (
                PartitionBy(
                    by["method"], tuple(by.get("columns") or ()), tuple(by.get("expressions") or ())
                )
                if by
                else None
            ),
            "partitions": tuple(parts),
            "monthly": (monthly["from"], monthly["to"]) if monthly else None,
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        by = t.partition_by
        if by is None:
            if t.partitions or t.monthly:
                ctx.err(
                    (*tp, "partitions" if t.partitions else "monthly"),
                    f"table '{t.name}' has partitions but no partition_by; add partition_by",
                    key=True,
                )
            return
        from .. import fragments

        if bool(by.columns) == bool(by.expressions):
            ctx.err(
                (*tp, "partition_by"),
                f"table '{t.name}': partition_by needs exactly one of 'columns' or "
                "'expressions'; keep one of them",
                key=True,
            )
            return
        base.need_cols(ctx, (*tp, "partition_by", "columns"), by.columns, "partition_by", t)
        for n, e in enumerate(by.expressions):
            if why := fragments.expression(e):
                ctx.err(
                    (*tp, "partition_by", "expressions", n),
                    f"table '{t.name}': partition key expression is not valid SQL: {why}",
                )
        for c in t.checks:
            if c.name == BOUND_CHECK:  # the attach steps' own temporary check
                ctx.err(
                    (*tp, "checks", c.name),
                    f"table '{t.name}': check name '{BOUND_CHECK}' is the one a new partition's "
                    "attach uses for a moment; rename the check",
                    key=True,
                )
        keys = [("primary key", t.primary_key.columns)] if t.primary_key else []
        keys += [(f"unique constraint '{u.name}'", u.columns) for u in t.uniques]
        if by.expressions and keys:
            ctx.err(
                (*tp, "partition_by", "expressions"),
                f"table '{t.name}': a partition key on expressions cannot go with the "
                f"{keys[0][0]} (PostgreSQL refuses it); partition by columns or drop the key",
                key=True,
            )
            keys = []
        for what, cols in keys:
            missing = [c for c in by.columns if c not in cols]
            if missing:
                ctx.err(
                    (*tp, "partition_by"),
                    f"table '{t.name}': the {what} must include the partition columns "
                    f"({', '.join(missing)} missing); add them to it (PostgreSQL refuses it "
                    "otherwise)",
                    key=True,
                )
        if by.method == "hash" and any(p.default for p in t.partitions):
            ctx.err(
                (*tp, "partitions"),
                f"table '{t.name}': a hash-partitioned table has no default partition",
                key=True,
            )
        for p in t.partitions:
            pp: base.PathKey = (*tp, "partitions", p.name)
            ctx.check_ident(pp, p.name, "partition")
            ctx.claim(p.name, pp, "partition")
            shape = (
                "default"
                if p.default
                else "hash"
                if p.modulus is not None or p.remainder is not None
                else "list"
                if p.values
                else "range"
                if p.lower or p.upper
                else "none"
            )
            if shape == "default":
                continue
            if shape != by.method:
                ctx.err(
                    pp,
                    f"partition '{p.name}': a {by.method} partition needs "
                    + {
                        "range": "'from' and 'to'",
                        "list": "'in'",
                        "hash": "'modulus' and 'remainder'",
                    }[by.method]
                    + " (or 'default: true')",
                    key=True,
                )
            elif shape == "range" and not (len(p.lower) == len(p.upper) == by.size):
                ctx.err(
                    pp,
                    f"partition '{p.name}': 'from' and 'to' need one value per partition "
                    f"column ({by.size})",
                    key=True,
                )
            elif shape == "hash" and (
                p.modulus is None or p.remainder is None or p.remainder >= p.modulus
            ):
                ctx.err(
                    pp,
                    f"partition '{p.name}': remainder must be below modulus; fix one of them",
                    key=True,
                )
        if t.monthly is not None:
            if by.method != "range" or by.size != 1:
                ctx.err(
                    (*tp, "monthly"),
                    f"table '{t.name}': monthly partitions need range partitioning on one column",
                    key=True,
                )
            elif t.monthly[0] >= t.monthly[1]:
                ctx.err(
                    (*tp, "monthly"),
                    f"table '{t.name}': monthly 'from' must be before 'to'",
                    key=True,
                )
            else:
                for suffix, _, _ in _months(*t.monthly):
                    ctx.claim(f"{t.name}_{suffix}", (*tp, "monthly"), "partition")

    def sa_kwargs(self, t: Table) -> dict[str, Any]:
        from ..compile import quote

        if t.partition_by is None:
            return {}
        by = t.partition_by
        # an expression is checked to be one expression (fragments.expression), so its
        # own parentheses hold it
        keys = [quote(c) for c in by.columns] + [f"({e})" for e in by.expressions]
        return {"postgresql_partition_by": f"{by.method.upper()} ({', '.join(keys)})"}

    def expressions(self, t: Table) -> list[str]:
        return list(t.partition_by.expressions) if t.partition_by else []

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified

        parent = qualified(t.name, target_schema)
        out = []
        for p in all_partitions(t):
            sql = (
                f"CREATE TABLE {qualified(p.name, target_schema)} PARTITION OF {parent} "
                f"{bound_clause(p)}"
            )
            out.append((base.RELATIONS + 1, DDL(sql, f"partition {p.name} of table {t.name}")))
        return out

    # The default partition of each partitioned table: ATTACH PARTITION scans it.
    catalog_sql = """
SELECT 'pd', c.relname, p.relname, NULL FROM pg_class c
  JOIN pg_inherits i ON i.inhrelid = c.oid
  JOIN pg_class p ON p.oid = i.inhparent
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relispartition
   AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"""
    catalog_tags = ("pd",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"default_partitions": {parent: name for _, name, parent, _ in rows}}

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        """CREATE TABLE ... PARTITION OF an existing table locks that table ACCESS
        EXCLUSIVE (the plan attaches instead: attach_steps). ATTACH PARTITION takes SHARE
        UPDATE EXCLUSIVE on the parent, but ACCESS EXCLUSIVE on the parent's default
        partition, which it scans for rows of the new bound."""
        from pglast import ast, parse_sql

        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK, CONSTRAINT_VALIDATION

        defaults: dict[str, str] = facts.others.get("default_partitions", {})
        if rec.kind == "AlterTableStmt" and any(c.op == "attach_partition" for c in rec.commands):
            if rec.table in defaults and defaults[rec.table] in facts.tables:
                return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK, CONSTRAINT_VALIDATION}
            return set()
        if rec.kind != "CreateStmt" or "partition" not in rec.sql.lower():
            return set()
        stmt = parse_sql(rec.sql)[0].stmt
        if isinstance(stmt, ast.CreateStmt) and stmt.partbound is not None:
            parents = {getattr(p, "relname", None) for p in stmt.inhRelations or ()}
            if parents & set(facts.tables):
                return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        return set()

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra writes a partitioned table's indexes as PostgreSQL's catalog keeps them: one
        per partition, and the parent's `ON ONLY` (invalid until each partition's index is
        attached), keys added `USING INDEX` (which a partitioned table refuses). A
        partition's indexes and keys are its parent's: they are left out, the parent's
        index is created on every partition (`ON`, not `ON ONLY`), and its keys are added
        with their definition."""
        from .. import statements
        from ..compile import quote

        parts = {t.name for i in (i_from, i_target) for t in i.tables.values() if t.parent_table}
        parents = {
            t.name for i in (i_from, i_target) for t in i.tables.values() if t.is_partitioned
        }
        if not (parts or parents):
            return records
        keys = {c.name: c for c in i_target.constraints.values() if c.table_name in parents}
        dropped = {
            n for r in records if r.kind == "DropStmt" and r.objtype == "table" for n in r.names
        }
        by_quoted = {t.quoted_full_name: t.name for t in i_from.tables.values()}
        # DROP TABLE of a parent drops its partitions: their own drops would fail after it
        gone_with_parent = {
            t.name
            for t in i_from.tables.values()
            if t.parent_table and by_quoted.get(t.parent_table) in dropped
        }
        out: list[Record] = []
        for r in records:
            if r.kind == "DropStmt" and r.objtype == "table" and set(r.names) <= gone_with_parent:
                continue
            on_part = r.table in parts or (
                r.kind == "DropStmt"
                and r.objtype == "index"
                and r.table is None
                and _index_table(r, i_from) in parts
            )
            if (
                on_part
                and r.kind in ("IndexStmt", "AlterTableStmt", "DropStmt")
                and (r.kind != "DropStmt" or r.objtype == "index")
                and all(c.op in _KEY_OPS for c in r.commands)
            ):
                continue  # the parent's index or key, on one partition
            if r.kind == "IndexStmt" and r.table in parents:
                if r.name in keys:
                    continue  # a key's index: ADD CONSTRAINT builds it on every partition
                out.append(_without_only(r))
                continue
            c = r.commands[0] if r.kind == "AlterTableStmt" and len(r.commands) == 1 else None
            if c is not None and c.using_index and r.table in parents and c.name in keys:
                k = keys[c.name]
                sql = (
                    f"alter table {k.quoted_full_table_name} add constraint {quote(k.name)} "
                    f"{k.definition};"
                )
                out.append(statements.parse(sql, "AlterTableStmt"))
                continue
            out.append(r)
        return _attached(out, i_from, dropped)

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import FlowList, FlowMap

        for relid, strat, attrs, names, keydef in state.rows(_PARTITIONED):
            if relid not in tables:
                continue
            name = tables[relid]["__name__"]
            method = {"r": "range", "l": "list", "h": "hash"}[strat]
            elems = _key_elements(keydef)
            if elems is None or (0 in attrs and any(a != 0 for a in attrs)):
                state.warn(
                    f"table {name}: a partition key with a collation, an operator class or "
                    "both columns and expressions is not in the format"
                )
                continue
            if 0 in attrs:
                exprs = FlowList(e for _, e in elems)
                tables[relid]["partition_by"] = FlowMap(method=method, expressions=exprs)
                continue
            tables[relid]["partition_by"] = FlowMap(method=method, columns=FlowList(names))
        for parent, name, bound in state.rows(_PARTITIONS):
            if parent not in tables:
                continue
            tables[parent].setdefault("partitions", {})[name] = FlowMap(_read_bound(bound))


_KEY_OPS = frozenset({"add_constraint", "drop_constraint", "validate_constraint"})


def _attached(records: list[Record], i_from: Any, dropped: set[str]) -> list[Record]:
    """Each new partition of a partitioned table that exists (and stays) in i_from as
    `attach_steps` instead of migra's CREATE TABLE ... PARTITION OF."""
    from pglast import ast, parse_sql

    parents = {(t.schema, t.name): t for t in i_from.tables.values() if t.is_partitioned}
    out: list[Record] = []
    for r in records:
        node = parse_sql(r.sql)[0].stmt if r.kind == "CreateStmt" else None
        stmt: Any = node if isinstance(node, ast.CreateStmt) and node.partbound else None
        rv: Any = stmt.inhRelations[0] if stmt is not None else None
        t = parents.get((rv.schemaname, rv.relname)) if rv is not None else None
        if t is None or t.name in dropped:
            out.append(r)
            continue
        out += attach_steps(r, _key_sql(t.partition_def))
    return out


def _index_table(r: Record, i: Any) -> str | None:
    """The table of an index a DROP INDEX names (from the inspection it is dropped from)."""
    names = {v.name: v.table_name for v in i.indexes.values()}
    return names.get(r.names[0]) if r.names else None


def _without_only(r: Record) -> Record:
    """CREATE INDEX ... ON ONLY parent -> ON parent (built on every partition), proved by
    the parse tree: the same statement, the relation's `inh` set."""
    from pglast import parse_sql
    from pglast.parser import scan

    from .. import statements

    toks = [t for t in scan(r.sql) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    only = next((t for t in toks if t.name == "ONLY"), None)
    if only is None:
        return r
    text = r.sql[: only.start] + r.sql[only.end + 1 :].lstrip()
    want: Any = parse_sql(r.sql)[0].stmt
    got: Any = parse_sql(text)[0].stmt
    want.relation.inh = True
    if statements.plain(got(skip_none=True)) != statements.plain(want(skip_none=True)):
        raise statements.StatementError(f"removing ONLY changed more than intended: {r.sql}")
    return statements.parse(text, "IndexStmt")


def all_partitions(t: Table) -> list[Partition]:
    """The declared partitions and the generated monthly ones."""
    out = list(t.partitions)
    if t.monthly is not None:
        out += [
            Partition(f"{t.name}_{suffix}", lower=(first,), upper=(after,))
            for suffix, first, after in _months(*t.monthly)
        ]
    return out


def _read_bound(bound: str) -> dict[str, Any]:
    """pg_get_expr(relpartbound) read by PostgreSQL's parser into the YAML's keys."""
    from pglast import ast, parse_sql

    from ..introspect import FlowList

    stmt = parse_sql(f"CREATE TABLE x PARTITION OF y {bound}")[0].stmt
    assert isinstance(stmt, ast.CreateStmt) and stmt.partbound is not None
    p = _bound_of("", stmt.partbound)
    if p.default:
        return {"default": True}
    if p.modulus is not None:
        return {"modulus": p.modulus, "remainder": p.remainder}
    if p.values:
        return {"in": FlowList(p.values)}
    return {"from": FlowList(p.lower), "to": FlowList(p.upper)}


def _bound_of(name: str, b: Any) -> Partition:
    """A parsed `FOR VALUES ...` / `DEFAULT` (PartitionBoundSpec) as a Partition."""
    from pglast import ast

    if b.is_default:
        return Partition(name, default=True)
    if b.strategy == "h":
        return Partition(name, modulus=b.modulus, remainder=b.remainder)

    def value(node: Any) -> Bound:
        fields: Any = getattr(node, "fields", None)
        if isinstance(node, ast.ColumnRef) and fields:  # MINVALUE / MAXVALUE
            return str(fields[-1].sval).upper()
        if isinstance(node, ast.A_Const):
            if node.isnull:
                return None
            v: Any = node.val
            if isinstance(v, ast.Integer):
                return int(getattr(v, "ival", 0) or 0)
            if isinstance(v, ast.Float):
                return float(getattr(v, "fval", "0") or "0")
            if isinstance(v, ast.Boolean):
                return bool(getattr(v, "boolval", False))
            return str(getattr(v, "sval", ""))
        raise ValueError(f"a partition bound that is not a constant: {node}")

    if b.strategy == "l":
        return Partition(name, values=tuple(value(v) for v in b.listdatums))
    return Partition(
        name,
        lower=tuple(value(v) for v in b.lowerdatums),
        upper=tuple(value(v) for v in b.upperdatums),
    )


def _key_elements(partition_def: str) -> list[tuple[str | None, str | None]] | None:
    """(column, expression) per key element of `pg_get_partkeydef` text, read by
    PostgreSQL's parser (an expression printed back by pglast); None when an element
    names a collation or an operator class (not in the format)."""
    from pglast import ast, parse_sql
    from pglast.stream import RawStream

    stmt = parse_sql(f"CREATE TABLE x () PARTITION BY {partition_def}")[0].stmt
    assert isinstance(stmt, ast.CreateStmt) and stmt.partspec is not None
    out: list[tuple[str | None, str | None]] = []
    for e in stmt.partspec.partParams or ():
        if not isinstance(e, ast.PartitionElem) or e.collation or e.opclass:
            return None
        if e.name is not None:
            out.append((str(e.name), None))
        elif e.expr is not None:
            out.append((None, str(RawStream()(e.expr))))
        else:
            return None
    return out


def _key_sql(partition_def: str) -> tuple[str, ...] | None:
    """The key elements of `pg_get_partkeydef` text as SQL: a column quoted, an expression
    (printed back by pglast) in parentheses; None when an element names a collation or an
    operator class (a check without them would not be the constraint PostgreSQL compares)."""
    from ..compile import quote

    elems = _key_elements(partition_def)
    if elems is None:
        return None
    return tuple(quote(c) if c is not None else f"({e})" for c, e in elems)


_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})


def _only_bounds(sql: str, keys: tuple[str, ...]) -> None:
    """Prove by the parse tree that the ADD CONSTRAINT holds one CHECK made only of
    AND / OR, `key IS [NOT] NULL`, `key <op> constant` and `key IN (constants)`, each
    key one of the partition key's elements (a bound value cannot have become SQL of its
    own, nor a key anything else)."""
    from pglast import ast, parse_sql
    from pglast.enums import A_Expr_Kind

    from .. import statements

    def plain(n: Any) -> Any:
        return statements.plain(n(skip_none=True))

    selects: list[Any] = [parse_sql(f"SELECT {k}")[0].stmt for k in keys]
    trees = [plain(q.targetList[0].val) for q in selects]

    def const(n: Any) -> bool:
        return isinstance(n, ast.A_Const)

    def ok(n: Any) -> bool:
        if isinstance(n, ast.BoolExpr):
            return all(ok(a) for a in n.args or ())
        if isinstance(n, ast.NullTest):
            return plain(n.arg) in trees
        if not isinstance(n, ast.A_Expr) or plain(n.lexpr) not in trees:
            return False
        op = [getattr(x, "sval", None) for x in n.name or ()]
        if n.kind == A_Expr_Kind.AEXPR_IN:
            return op == ["="] and isinstance(n.rexpr, tuple) and all(map(const, n.rexpr))
        return (
            n.kind == A_Expr_Kind.AEXPR_OP
            and len(op) == 1
            and op[0] in _OPERATORS
            and (const(n.rexpr))
        )

    node = parse_sql(sql)[0].stmt
    stmt: Any = node if isinstance(node, ast.AlterTableStmt) else None
    cmd = stmt.cmds[0] if stmt is not None and len(stmt.cmds or ()) == 1 else None
    expr = getattr(getattr(cmd, "def_", None), "raw_expr", None)
    if expr is None:
        raise statements.StatementError(f"not one CHECK constraint: {sql}")
    if not ok(expr):
        raise statements.StatementError(f"a partition bound check that is not only bounds: {sql}")


def attach_steps(rec: Record, keys: tuple[str, ...] | None) -> list[Record]:
    """`CREATE TABLE new PARTITION OF parent FOR VALUES ...` (ACCESS EXCLUSIVE on the
    parent) as: CREATE TABLE new (LIKE parent ...), ADD CONSTRAINT <BOUND_CHECK> CHECK
    (<partition constraint>), ALTER TABLE parent ATTACH PARTITION new FOR VALUES ...
    (SHARE UPDATE EXCLUSIVE on the parent, no scan of new), DROP CONSTRAINT. The names
    and bounds come from the parsed statement; every name is quoted again, every bound
    written as a literal."""
    from pglast import ast, parse_sql

    from .. import statements
    from ..compile import qualified, quote

    node = parse_sql(rec.sql)[0].stmt
    assert isinstance(node, ast.CreateStmt) and node.partbound is not None
    stmt: Any = node
    parent_rv = stmt.inhRelations[0]
    new = qualified(stmt.relation.relname, stmt.relation.schemaname)
    parent = qualified(parent_rv.relname, parent_rv.schemaname)
    p = _bound_of(stmt.relation.relname, stmt.partbound)
    check = bound_check(keys, p) if keys is not None else None
    sqls = [f"CREATE TABLE {new} (LIKE {parent} {_LIKE})"]
    if check is not None:
        sqls.append(f"ALTER TABLE {new} ADD CONSTRAINT {quote(BOUND_CHECK)} CHECK ({check})")
        _only_bounds(sqls[-1], keys or ())
    sqls.append(f"ALTER TABLE {parent} ATTACH PARTITION {new} {bound_clause(p)}")
    if check is not None:
        sqls.append(f"ALTER TABLE {new} DROP CONSTRAINT {quote(BOUND_CHECK)}")
    return [statements.parse(sql + ";") for sql in sqls]


PART = Partitions()
