"""Constraints of a table: `primary_key`, `foreign_keys`, `unique` and `checks`.

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
    from .tables import Table


@dataclass(frozen=True)
class PrimaryKey:
    name: str | None
    columns: tuple[str, ...]


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


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    renamed_from: str | None = None


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
       pg_get_constraintdef(k.oid, true)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_class rt ON rt.oid = k.confrelid
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND k.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY k.conrelid, k.conname
"""


class Constraints(base.TablePart):
    rename_rank = 2

    def fragments(self) -> dict[str, dict[str, Any]]:
        actions = {"enum": ["cascade", "restrict", "no action", "set null", "set default"]}
        return {
            "primary_key": base.entry(
                {"name": dict(base.NAME), "columns": base.names_list()}, ["columns"]
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
                {"columns": base.names_list(), "renamed_from": dict(base.RENAMED_FROM)},
                ["columns"],
            ),
            "checks": base.named_map(
                {"expression": dict(base.NAME), "renamed_from": dict(base.RENAMED_FROM)},
                ["expression"],
            ),
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        pk = section.get("primary_key")
        return {
            "primary_key": PrimaryKey(pk.get("name"), tuple(pk["columns"])) if pk else None,
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
                Unique(uname, tuple(u["columns"]), u.get("renamed_from"))
                for uname, u in (section.get("unique") or {}).items()
            ),
            "checks": tuple(
                Check(cname, c["expression"], c.get("renamed_from"))
                for cname, c in (section.get("checks") or {}).items()
            ),
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        schema, err = ctx.schema, ctx.err
        table_names = [x.name for x in schema.tables]
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
            if fk.initially_deferred and not fk.deferrable:
                err(
                    (*fp, "initially_deferred"),
                    f"foreign key '{fk.name}': initially_deferred needs 'deferrable: true'",
                )
        for u in t.uniques:
            up: base.PathKey = (*tp, "unique", u.name)
            ctx.check_ident(up, u.name, "unique constraint")
            ctx.claim(u.name, up, "unique constraint")
            ctx.claim_constraint(t.name, u.name, up, "unique constraint")
            need_cols(ctx, (*up, "columns"), u.columns, f"unique constraint '{u.name}'", t)
        for ch in t.checks:
            chp: base.PathKey = (*tp, "checks", ch.name)
            ctx.check_ident(chp, ch.name, "check constraint")
            ctx.claim_constraint(t.name, ch.name, chp, "check constraint")
        if t.primary_key and t.primary_key.name:
            ctx.claim_constraint(
                t.name, t.primary_key.name, (*tp, "primary_key", "name"), "primary key"
            )

    def expressions(self, t: Table) -> list[str]:
        return [ch.expression for ch in t.checks]

    def sa_args(self, t: Table, schema: model.Schema) -> list[Any]:
        import sqlalchemy as sa

        out: list[sa.Constraint] = []
        if t.primary_key:
            out.append(sa.PrimaryKeyConstraint(*t.primary_key.columns, name=t.primary_key.name))
        for u in t.uniques:
            out.append(sa.UniqueConstraint(*u.columns, name=u.name))
        for ch in t.checks:
            out.append(sa.CheckConstraint(sa.literal_column(ch.expression), name=ch.name))
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

        from ..compile import DDL, DIALECT, clean

        fks = sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        return [
            (
                base.LINKS,
                DDL(
                    clean(AddConstraint(fk).compile(dialect=DIALECT)),
                    f"foreign key {fk.name} on table {table.name}",
                ),
            )
            for fk in fks
        ]

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
            if contype == "p":
                if deferrable:
                    warn(f"{where}: a deferrable primary key is not in the format; not deferrable")
                t["primary_key"] = FlowMap(name=name, columns=FlowList(cols))
            elif contype == "u":
                facts = statements.constraint_facts(definition)
                if deferrable or facts.nulls_not_distinct or facts.include:
                    warn(
                        f"{where}: {definition} is more than the format says; rendered as "
                        f"UNIQUE ({', '.join(cols)})"
                    )
                t.setdefault("unique", {})[name] = FlowMap(columns=FlowList(cols))
            elif contype == "c":
                t.setdefault("checks", {})[name] = compact(
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


PART = Constraints()
