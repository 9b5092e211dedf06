"""Constraints of a table: `primary_key`, `foreign_keys`, `unique`, `checks`, `exclusions`.

One part for the four because PostgreSQL keeps them in one catalog (pg_constraint) and
one namespace per table: their checks, inspection and renames read the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base
from .base import need_cols

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..statements import Record
    from .tables import Table


@dataclass(frozen=True)
class PrimaryKey:
    name: str | None
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False
    renamed_from: str | None = None


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]
    renamed_from: str | None = None
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    renamed_from: str | None = None
    no_inherit: bool = False


@dataclass(frozen=True)
class ExclusionElement:
    """One `key WITH operator` of an exclusion constraint: a column or an expression."""

    operator: str
    column: str | None = None
    expression: str | None = None


@dataclass(frozen=True)
class Exclusion:
    name: str
    elements: tuple[ExclusionElement, ...]
    method: str = "gist"
    where: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False
    renamed_from: str | None = None


EXCLUSION_METHODS = ("gist", "spgist", "btree", "hash")
_DEFERRAL = {"deferrable": {"type": "boolean"}, "initially_deferred": {"type": "boolean"}}


_FK_ACTIONS = {"a": None, "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}

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
       pg_get_constraintdef(k.oid, true), k.connoinherit
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_class rt ON rt.oid = k.confrelid
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p') AND k.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY k.conrelid, k.conname
"""


class Constraints(base.TablePart):
    rename_rank = 2

    def fragments(self) -> dict[str, dict[str, Any]]:
        actions = {"enum": ["cascade", "restrict", "no action", "set null", "set default"]}
        return {
            "primary_key": base.entry(
                {
                    "name": dict(base.NAME),
                    "columns": base.names_list(),
                    "include": base.names_list(),
                    **_DEFERRAL,
                },
                ["columns"],
            ),
            "foreign_keys": base.named_map(
                {
                    "columns": base.names_list(),
                    "references": base.entry(
                        {"table": dict(base.NAME), "columns": base.names_list()},
                        ["table", "columns"],
                    ),
                    "on_delete": dict(actions),
                    "on_update": dict(actions),
                    "deferrable": {"type": "boolean"},
                    "initially_deferred": {"type": "boolean"},
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["columns", "references"],
            ),
            "unique": base.named_map(
                {
                    "columns": base.names_list(),
                    "include": base.names_list(),
                    "nulls_not_distinct": {"type": "boolean"},
                    **_DEFERRAL,
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["columns"],
            ),
            "checks": base.named_map(
                {
                    "expression": dict(base.NAME),
                    "no_inherit": {"type": "boolean"},
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["expression"],
            ),
            "exclusions": base.named_map(
                {
                    "method": {"enum": list(EXCLUSION_METHODS)},
                    "elements": {
                        "type": "array",
                        "minItems": 1,
                        "items": base.entry(
                            {
                                "column": dict(base.NAME),
                                "expression": dict(base.NAME),
                                "operator": {"type": "string", "minLength": 1, "maxLength": 63},
                            },
                            ["operator"],
                        ),
                    },
                    "where": dict(base.NAME),
                    **_DEFERRAL,
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["elements"],
            ),
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        pk = section.get("primary_key")
        return {
            "primary_key": (
                PrimaryKey(
                    pk.get("name"),
                    tuple(pk["columns"]),
                    tuple(pk.get("include") or ()),
                    pk.get("deferrable", False),
                    pk.get("initially_deferred", False),
                )
                if pk
                else None
            ),
            "foreign_keys": tuple(
                ForeignKey(
                    name=fname,
                    columns=tuple(f["columns"]),
                    ref_table=f["references"]["table"],
                    ref_columns=tuple(f["references"]["columns"]),
                    on_delete=f.get("on_delete"),
                    on_update=f.get("on_update"),
                    deferrable=f.get("deferrable", False),
                    initially_deferred=f.get("initially_deferred", False),
                    renamed_from=f.get("renamed_from"),
                )
                for fname, f in (section.get("foreign_keys") or {}).items()
            ),
            "uniques": tuple(
                Unique(
                    uname,
                    tuple(u["columns"]),
                    u.get("renamed_from"),
                    tuple(u.get("include") or ()),
                    u.get("nulls_not_distinct", False),
                    u.get("deferrable", False),
                    u.get("initially_deferred", False),
                )
                for uname, u in (section.get("unique") or {}).items()
            ),
            "checks": tuple(
                Check(cname, c["expression"], c.get("renamed_from"), c.get("no_inherit", False))
                for cname, c in (section.get("checks") or {}).items()
            ),
            "exclusions": tuple(
                Exclusion(
                    name=xname,
                    elements=tuple(
                        ExclusionElement(e["operator"], e.get("column"), e.get("expression"))
                        for e in x["elements"]
                    ),
                    method=x.get("method", "gist"),
                    where=x.get("where"),
                    deferrable=x.get("deferrable", False),
                    initially_deferred=x.get("initially_deferred", False),
                    renamed_from=x.get("renamed_from"),
                )
                for xname, x in (section.get("exclusions") or {}).items()
            ),
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        schema, err = ctx.schema, ctx.err
        if t.primary_key:
            pkp: base.PathKey = (*tp, "primary_key")
            need_cols(
                ctx, (*pkp, "columns"), t.primary_key.columns, f"primary key of '{t.name}'", t
            )
            if t.primary_key.name:
                ctx.check_ident((*pkp, "name"), t.primary_key.name, "primary key")
                ctx.claim(t.primary_key.name, (*pkp, "name"), "primary key")
        for fk in t.foreign_keys:
            fp: base.PathKey = (*tp, "foreign_keys", fk.name)
            ctx.check_ident(fp, fk.name, "foreign key")
            ctx.claim_constraint(t.name, fk.name, fp, "foreign key")
            need_cols(ctx, (*fp, "columns"), fk.columns, f"foreign key '{fk.name}'", t)
            ref = schema.table(fk.ref_table)
            if ref is None:
                table_names = [x.name for x in schema.tables]  # only for the message
                hint = ctx.did_you_mean(fk.ref_table, table_names) or (
                    "declare it under 'tables' or fix the name; declared tables: "
                    + ", ".join(table_names)
                )
                err(
                    (*fp, "references", "table"),
                    f"foreign key '{fk.name}' references table '{fk.ref_table}', which is not "
                    f"declared; {hint}",
                )
            else:
                need_cols(
                    ctx,
                    (*fp, "references", "columns"),
                    fk.ref_columns,
                    f"foreign key '{fk.name}' reference",
                    ref,
                )
            if len(fk.ref_columns) != len(fk.columns):
                err(
                    (*fp, "references", "columns"),
                    f"foreign key '{fk.name}' has {len(fk.columns)} column(s) but references "
                    f"{len(fk.ref_columns)}; list one referenced column per column",
                )
            _deferral(ctx, fp, fk, f"foreign key '{fk.name}'")
        if t.primary_key:
            pkp = (*tp, "primary_key")
            _deferral(ctx, pkp, t.primary_key, f"primary key of '{t.name}'")
            if t.primary_key.include:
                who = f"primary key of '{t.name}' INCLUDE"
                need_cols(ctx, (*pkp, "include"), t.primary_key.include, who, t)
        for u in t.uniques:
            up: base.PathKey = (*tp, "unique", u.name)
            ctx.check_ident(up, u.name, "unique constraint")
            ctx.claim(u.name, up, "unique constraint")
            ctx.claim_constraint(t.name, u.name, up, "unique constraint")
            need_cols(ctx, (*up, "columns"), u.columns, f"unique constraint '{u.name}'", t)
            if u.include:
                who = f"unique constraint '{u.name}' INCLUDE"
                need_cols(ctx, (*up, "include"), u.include, who, t)
            _deferral(ctx, up, u, f"unique constraint '{u.name}'")
        for ch in t.checks:
            chp: base.PathKey = (*tp, "checks", ch.name)
            ctx.check_ident(chp, ch.name, "check constraint")
            ctx.claim_constraint(t.name, ch.name, chp, "check constraint")
        for x in t.exclusions:
            _check_exclusion(ctx, t, (*tp, "exclusions", x.name), x)
        if t.primary_key and t.primary_key.name:
            ctx.claim_constraint(
                t.name, t.primary_key.name, (*tp, "primary_key", "name"), "primary key"
            )

    def expressions(self, t: Table) -> list[str]:
        out = [ch.expression for ch in t.checks]
        for x in t.exclusions:
            out += [e.expression for e in x.elements if e.expression]
            out += [x.where] if x.where else []
        return out

    def sa_args(self, t: Table, schema: model.Schema) -> list[Any]:
        import sqlalchemy as sa
        from sqlalchemy.dialects.postgresql import ExcludeConstraint

        out: list[sa.Constraint] = []
        pk = t.primary_key
        if pk:
            out.append(
                sa.PrimaryKeyConstraint(
                    *pk.columns, name=pk.name, postgresql_include=list(pk.include), **_sa_defer(pk)
                )
            )
        for u in t.uniques:
            out.append(
                sa.UniqueConstraint(
                    *u.columns,
                    name=u.name,
                    postgresql_include=list(u.include),
                    postgresql_nulls_not_distinct=u.nulls_not_distinct or None,
                    **_sa_defer(u),
                )
            )
        for ch in t.checks:
            if not ch.no_inherit:  # NO INHERIT: SQLAlchemy has no such option (ddl() adds it)
                out.append(sa.CheckConstraint(sa.literal_column(ch.expression), name=ch.name))
        for x in t.exclusions:
            # Operators are checked to be one operator name each (fragments.py); keys are
            # quoted columns or parsed expressions.
            elements: list[tuple[Any, str]] = [
                (
                    sa.column(e.column) if e.column is not None else sa.text(f"({e.expression})"),
                    e.operator,
                )
                for e in x.elements
            ]
            out.append(
                ExcludeConstraint(
                    *elements,
                    name=x.name,
                    using=x.method,
                    where=sa.text(x.where) if x.where else None,
                    **_sa_defer(x),
                )
            )
        return out

    def sa_link(self, table: sa.Table, t: Table, tables: dict[str, sa.Table]) -> None:
        import sqlalchemy as sa

        for fk in t.foreign_keys:
            ref = tables[fk.ref_table]
            table.append_constraint(
                sa.ForeignKeyConstraint(
                    [table.c[c] for c in fk.columns],
                    [ref.c[rc] for rc in fk.ref_columns],
                    name=fk.name,
                    ondelete=fk.on_delete.upper() if fk.on_delete else None,
                    onupdate=fk.on_update.upper() if fk.on_update else None,
                    deferrable=fk.deferrable or None,
                    initially="DEFERRED" if fk.initially_deferred else None,
                    use_alter=True,
                )
            )

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from sqlalchemy.schema import AddConstraint

        from ..compile import DDL, DIALECT, clean, qualified, quote

        fks = sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        out = [
            (
                base.LINKS,
                DDL(
                    clean(AddConstraint(fk).compile(dialect=DIALECT)),
                    f"foreign key {fk.name} on table {table.name}",
                ),
            )
            for fk in fks
        ]
        for ch in t.checks:
            if ch.no_inherit:
                sql = (
                    f"ALTER TABLE {qualified(t.name, target_schema)} ADD CONSTRAINT "
                    f"{quote(ch.name)} CHECK ({ch.expression}) NO INHERIT"
                )
                out.append((base.RELATION_PARTS, DDL(sql, f"check {ch.name} on table {t.name}")))
        return out

    def renames(
        self,
        t: Table,
        hint: Callable[..., Rename | None],
        on_table: Callable[[Any], Callable[[str], bool]],
        facts: Facts,
        ts: str,
    ) -> list[Rename | None]:
        from ..compile import qualified, quote

        qt = qualified(t.name, ts)
        return self.rename_hints(
            hint,
            "constraint",
            t.name,
            (
                *((fk.name, fk.renamed_from) for fk in t.foreign_keys),
                *((u.name, u.renamed_from) for u in t.uniques),
                *((ch.name, ch.renamed_from) for ch in t.checks),
                *((x.name, x.renamed_from) for x in t.exclusions),
            ),
            on_table(facts.constraints),
            lambda a, b: f"ALTER TABLE {qt} RENAME CONSTRAINT {quote(a)} TO {quote(b)};",
        )

    catalog_sql = """
SELECT 'k', k.conname, t.relname, NULL FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s"""
    catalog_tags = ("k",)
    inspection_attrs = ("constraints",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"constraints": frozenset((rel, name) for _, name, rel, _ in rows)}

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from .. import statements
        from ..introspect import FlowList, FlowMap, compact, strip_outer_parens
        from .columns import NAME

        warn = state.warn
        table_names = {t[NAME] for t in tables.values()}
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
            no_inherit,
        ) in state.rows(_CONSTRAINTS):
            if relid not in tables:
                continue
            t = tables[relid]
            where = f"constraint {t[NAME]}.{name}"
            if not is_local:
                continue  # inherited from a parent table
            if not validated:
                warn(
                    f"{where}: NOT VALID is not in the format; it renders as a validated constraint"
                )
            defer: dict[str, Any] = {}
            if deferrable:
                defer["deferrable"] = True
            if deferred:
                defer["initially_deferred"] = True
            if contype in ("p", "u"):
                facts = statements.constraint_facts(definition)
                key: dict[str, Any] = {"columns": FlowList(cols)}
                if facts.include:
                    key["include"] = FlowList(facts.include)
                if facts.nulls_not_distinct:
                    key["nulls_not_distinct"] = True
                if contype == "p":
                    t["primary_key"] = FlowMap(name=name, **key, **defer)
                else:
                    t.setdefault("unique", {})[name] = FlowMap(**key, **defer)
            elif contype == "c":
                check: dict[str, Any] = {"expression": strip_outer_parens(check_expr)}
                if no_inherit:
                    check["no_inherit"] = True
                t.setdefault("checks", {})[name] = compact(check)
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
                found = statements.exclusion_facts(definition)
                x: dict[str, Any] = {"elements": FlowList(FlowMap(e) for e in found.elements)}
                if found.method != "gist":
                    x = {"method": found.method, **x}
                if found.where:
                    x["where"] = found.where
                if found.include:
                    warn(f"{where}: INCLUDE of an exclusion constraint is not in the format")
                t.setdefault("exclusions", {})[name] = {**x, **defer}

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """schemainspect writes the index of an exclusion constraint as `select 1; -- CREATE
        INDEX ...` (the ADD CONSTRAINT builds it): a statement that does nothing, left out."""
        from .. import statements

        noop = statements.tree("select 1")
        return [
            r for r in records if not (r.kind == "SelectStmt" and statements.tree(r.sql) == noop)
        ]

    def unique_sets(self, t: Table) -> list[frozenset[str]]:
        sets = [frozenset(u.columns) for u in t.uniques]
        if t.primary_key:
            sets.append(frozenset(t.primary_key.columns))
        return sets

    def column_flags(self, t: Table) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in t.primary_key.columns if t.primary_key else ():
            out.setdefault(c, []).append("PK")
        for c in {c for f in t.foreign_keys for c in f.columns}:
            out.setdefault(c, []).append("FK")
        return out

    def relationships(self, t: Table, names: set[str], uniques: list[frozenset[str]]) -> list[str]:
        """A foreign key is a relationship from the referenced table to the referencing one
        (see diagram.py for the notation)."""
        from ..diagram import entity

        pk = set(t.primary_key.columns) if t.primary_key else set()
        lines = []
        for f in t.foreign_keys:
            if f.ref_table not in names:
                continue
            required = all((col := t.column(c)) is not None and not col.nullable for c in f.columns)
            one_child = frozenset(f.columns) in uniques
            left = "||" if required else "|o"
            right = "o|" if one_child else "o{"
            line = "--" if set(f.columns) <= pk else ".."
            label = '"' + ", ".join(f.columns) + '"'
            lines.append(
                f"    {entity(f.ref_table)} {left}{line}{right} {entity(t.name)} : {label}"
            )
        return lines


def _deferral(ctx: base.CheckContext, path: base.PathKey, c: Any, who: str) -> None:
    if c.initially_deferred and not c.deferrable:
        ctx.err(
            (*path, "initially_deferred"), f"{who}: initially_deferred needs 'deferrable: true'"
        )


def _sa_defer(c: Any) -> dict[str, Any]:
    """SQLAlchemy's deferrable/initially keywords for a constraint."""
    return {
        "deferrable": c.deferrable or None,
        "initially": "DEFERRED" if c.initially_deferred else None,
    }


def _check_exclusion(ctx: base.CheckContext, t: Table, xp: base.PathKey, x: Exclusion) -> None:
    from .. import fragments

    who = f"exclusion constraint '{x.name}'"
    ctx.check_ident(xp, x.name, "exclusion constraint")
    ctx.claim(x.name, xp, "exclusion constraint")  # it has an index of that name
    ctx.claim_constraint(t.name, x.name, xp, "exclusion constraint")
    _deferral(ctx, xp, x, who)
    known = [c.name for c in t.columns]
    for n, e in enumerate(x.elements):
        ep: base.PathKey = (*xp, "elements", n)
        if (e.column is None) == (e.expression is None):
            ctx.err(
                ep, f"{who}: each element needs exactly one of 'column' or 'expression'; keep one"
            )
        elif e.column is not None and t.column(e.column) is None:
            hint = ctx.did_you_mean(e.column, known) or f"known columns: {', '.join(known)}"
            ctx.err(
                (*ep, "column"),
                f"{who}: column '{e.column}' does not exist in table '{t.name}'; {hint}",
            )
        elif e.expression is not None and (why := fragments.expression(e.expression)):
            ctx.err(
                (*ep, "expression"),
                f"{who}: the expression must be exactly one SQL expression, but {why}; "
                "fix the expression",
            )
        why = fragments.exclusion_operator(e.operator)
        if why is not None:
            ctx.err(
                (*ep, "operator"),
                f"{who}: the operator must be one operator name such as && or =, but {why}; "
                "fix the operator",
            )
    if x.where is not None and (why := fragments.expression(x.where)):
        ctx.err(
            (*xp, "where"),
            f"{who}: 'where' must be exactly one SQL expression, but {why}; fix the expression",
        )


PART = Constraints()
