"""Triggers of a table: `triggers: {name: {timing, events, for_each, function, when}}`.

Plain SQL (SQLAlchemy has no trigger construct). A trigger calls a declared function
that returns trigger, so it is created after the functions and the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..statements import Record
    from .tables import Table


@dataclass(frozen=True)
class Trigger:
    name: str
    timing: str  # "before" | "after" | "instead of"
    events: tuple[str, ...]
    function: str
    for_each: str = "row"
    when: str | None = None
    renamed_from: str | None = None


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


def trigger_sql(t: Table, tr: Trigger, target_schema: str | None = None) -> str:
    from ..compile import qualified, quote

    events = " OR ".join(e.upper() for e in tr.events)
    when = f"\nWHEN ({tr.when})" if tr.when else ""
    return (
        f"CREATE TRIGGER {quote(tr.name)} {tr.timing.upper()} {events} "
        f"ON {qualified(t.name, target_schema)}\n"
        f"FOR EACH {tr.for_each.upper()}{when}\n"
        f"EXECUTE FUNCTION {qualified(tr.function, target_schema)}()"
    )


def trigger_when(definition: str) -> str | None:
    """The WHEN condition of pg_get_triggerdef's text, without its parentheses."""
    from .. import statements
    from ..introspect import strip_outer_parens

    when = statements.trigger_when(definition)
    return strip_outer_parens(when) if when else None


class Triggers(base.TablePart):
    rename_rank = 3
    inspection_attrs = ("triggers",)

    def fragments(self) -> dict[str, dict[str, Any]]:
        events = {
            "type": "array",
            "items": {"enum": ["insert", "update", "delete", "truncate"]},
            "minItems": 1,
            "uniqueItems": True,
        }
        return {
            "triggers": base.named_map(
                {
                    "timing": {"enum": ["before", "after", "instead of"]},
                    "events": events,
                    "for_each": {"enum": ["row", "statement"]},
                    "function": dict(base.NAME),
                    "when": dict(base.NAME),
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["timing", "events", "function"],
            )
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        return {
            "triggers": tuple(
                Trigger(
                    name=trname,
                    timing=tr["timing"],
                    events=tuple(tr["events"]),
                    function=tr["function"],
                    for_each=tr.get("for_each", "row"),
                    when=tr.get("when"),
                    renamed_from=tr.get("renamed_from"),
                )
                for trname, tr in (section.get("triggers") or {}).items()
            )
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        from .. import statements

        schema, err = ctx.schema, ctx.err
        fn_names = [f.name for f in schema.functions]
        for tr in t.triggers:
            trp: base.PathKey = (*tp, "triggers", tr.name)
            ctx.check_ident(trp, tr.name, "trigger")
            if tr.function not in fn_names:
                hint = ctx.did_you_mean(tr.function, fn_names) or (
                    "declare it under 'functions' (returns: trigger) or fix the name"
                )
                err(
                    (*trp, "function"),
                    f"trigger '{tr.name}' calls function '{tr.function}', which is not declared; "
                    f"{hint}",
                )
            else:
                fn = schema.function(tr.function)
                if fn is not None and fn.returns.strip().lower() != "trigger":
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' "
                        "must be declared with 'returns: trigger'",
                    )
                if fn is not None and fn.arguments:
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' "
                        "must take no arguments (a trigger function reads "
                        "TG_ARGV instead)",
                    )
            if tr.timing == "instead of" and tr.for_each != "row":
                err(
                    trp,
                    f"trigger '{tr.name}': INSTEAD OF triggers must be FOR EACH ROW; set "
                    "'for_each: row'",
                )
            if tr.for_each == "statement" and tr.when and statements.refers_to_row(tr.when):
                err(
                    (*trp, "when"),
                    f"trigger '{tr.name}': a FOR EACH STATEMENT trigger cannot "
                    "refer to OLD or NEW in 'when'; use 'for_each: row'",
                )

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL

        return [
            (
                base.BEHAVIOUR,
                DDL(trigger_sql(t, tr, target_schema), f"trigger {tr.name} on table {t.name}"),
            )
            for tr in t.triggers
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
            "trigger",
            t.name,
            ((tr.name, tr.renamed_from) for tr in t.triggers),
            on_table(facts.triggers),
            lambda a, b: f"ALTER TRIGGER {quote(a)} ON {qt} RENAME TO {quote(b)};",
        )

    catalog_sql = """
SELECT 'g', g.tgname, t.relname, NULL FROM pg_trigger g
  JOIN pg_class t ON t.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s AND NOT g.tgisinternal"""
    catalog_tags = ("g",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"triggers": frozenset((rel, name) for _, name, rel, _ in rows)}

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK

        if rec.kind == "DropStmt" and rec.objtype == "trigger":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        return set()

    object_types = ("trigger",)
    pg_objects = (("OBJECT_TRIGGER", "trigger"),)
    on_table = ("OBJECT_TRIGGER",)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import relation

        if not isinstance(stmt, ast.CreateTrigStmt):
            return None
        schema, table = relation(stmt.relation)
        return replace(rec, object_type="trigger", schema=schema, name=stmt.trigname, table=table)

    def change(self, rec: Record, owners: Mapping[str, str]) -> base.Change | None:
        if rec.object_type == "trigger":
            return ("trigger", rec.action, rec.table, rec.column, rec.note)
        return None

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        obj.InspectedTrigger.drop_statement = property(
            lambda self: (
                f"drop trigger if exists {ident(self.name)} on "
                f"{ident(self.table_name, self.schema)};"
            )
        )

    def split_migra(self, sql: str) -> list[Record] | None:
        """A trigger that is not simply enabled: CREATE TRIGGER and its ALTER TABLE ...
        DISABLE (or ENABLE REPLICA/ALWAYS) TRIGGER in one string."""
        from .. import statements

        return statements.parse_trigger_with_state(sql)

    def inside_dropped(self, r: Record, dropped: set[str], i_from: Any) -> bool:
        return r.kind == "DropStmt" and r.objtype == "trigger" and r.table in dropped

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import FlowList
        from .columns import NAME

        warn = state.warn
        functions = state.sections.get("functions") or {}
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
        ) in state.rows(_TRIGGERS):
            if relid not in tables:
                continue
            where = f"trigger {name} on {tables[relid][NAME]}"
            if not f_same_schema or fname not in functions:
                warn(f"{where}: calls {fname}(), which is not an inspected function; left out")
                continue
            if nargs or ncols or is_constraint or transition:
                warn(
                    f"{where}: {definition} is more than the format says (arguments, UPDATE "
                    "OF, CONSTRAINT or REFERENCING); left out"
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


PART = Triggers()
