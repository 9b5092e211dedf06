"""Triggers of a table: `triggers: {name: {timing, events, for_each, function, when, ...}}`
(also `update_of`, `arguments`, `enabled`, `constraint`, `referencing`).

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
    update_of: tuple[str, ...] = ()  # UPDATE OF these columns
    arguments: tuple[str, ...] = ()  # TG_ARGV, as string literals
    enabled: str = "origin"  # origin (ENABLE), disabled, replica, always
    constraint: bool = False  # CREATE CONSTRAINT TRIGGER
    deferrable: bool = False
    initially_deferred: bool = False
    old_table: str | None = None  # REFERENCING OLD TABLE AS ...
    new_table: str | None = None  # REFERENCING NEW TABLE AS ...


_ENABLED = {True: "origin", False: "disabled", "replica": "replica", "always": "always"}
# ALTER TABLE ... <clause> TRIGGER name, per state other than the default
_ENABLE_CLAUSE = {"disabled": "DISABLE", "replica": "ENABLE REPLICA", "always": "ENABLE ALWAYS"}
_TGENABLED = {"O": "origin", "D": "disabled", "R": "replica", "A": "always"}


_TRIGGERS = """
SELECT g.tgrelid, g.tgname, g.tgtype, p.proname, p.pronamespace = %(ns)s, g.tgenabled,
       pg_get_triggerdef(g.oid, true)
FROM pg_trigger g
JOIN pg_class c ON c.oid = g.tgrelid
JOIN pg_proc p ON p.oid = g.tgfoid
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p') AND NOT g.tgisinternal
ORDER BY g.tgrelid, g.tgname
"""


def trigger_sql(t: Table, tr: Trigger, target_schema: str | None = None) -> str:
    from ..compile import qualified, quote
    from ..literals import quote_literal

    events = " OR ".join(
        "UPDATE OF " + ", ".join(quote(c) for c in tr.update_of)
        if e == "update" and tr.update_of
        else e.upper()
        for e in tr.events
    )
    when = f"\nWHEN ({tr.when})" if tr.when else ""
    kind = "CONSTRAINT TRIGGER" if tr.constraint else "TRIGGER"
    defer = ""
    if tr.deferrable:
        defer = "\nDEFERRABLE INITIALLY " + ("DEFERRED" if tr.initially_deferred else "IMMEDIATE")
    referencing = ""
    if tr.old_table or tr.new_table:
        referencing = "\nREFERENCING" + (
            f" OLD TABLE AS {quote(tr.old_table)}" if tr.old_table else ""
        )
        referencing += f" NEW TABLE AS {quote(tr.new_table)}" if tr.new_table else ""
    args = ", ".join(quote_literal(a) for a in tr.arguments)
    return (
        f"CREATE {kind} {quote(tr.name)} {tr.timing.upper()} {events} "
        f"ON {qualified(t.name, target_schema)}{defer}{referencing}\n"
        f"FOR EACH {tr.for_each.upper()}{when}\n"
        f"EXECUTE FUNCTION {qualified(tr.function, target_schema)}({args})"
    )


def state_sql(t: Table, tr: Trigger, target_schema: str | None = None) -> str | None:
    """ALTER TABLE ... DISABLE / ENABLE REPLICA / ENABLE ALWAYS TRIGGER, where not enabled."""
    from ..compile import qualified, quote

    clause = _ENABLE_CLAUSE.get(tr.enabled)
    if clause is None:
        return None
    return f"ALTER TABLE {qualified(t.name, target_schema)} {clause} TRIGGER {quote(tr.name)}"


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
                    "update_of": base.names_list(),
                    "arguments": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "enabled": {"enum": [True, False, "replica", "always"]},
                    "constraint": {"type": "boolean"},
                    "deferrable": {"type": "boolean"},
                    "initially_deferred": {"type": "boolean"},
                    "referencing": base.entry(
                        {"old_table": dict(base.NAME), "new_table": dict(base.NAME)}
                    ),
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
                    update_of=tuple(tr.get("update_of") or ()),
                    arguments=tuple(tr.get("arguments") or ()),
                    enabled=_ENABLED[tr.get("enabled", True)],
                    constraint=tr.get("constraint", False),
                    deferrable=tr.get("deferrable", False),
                    initially_deferred=tr.get("initially_deferred", False),
                    old_table=(tr.get("referencing") or {}).get("old_table"),
                    new_table=(tr.get("referencing") or {}).get("new_table"),
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
                # a trigger calls name(): the overload without arguments, if there are several
                same = [f for f in schema.functions if f.name == tr.function]
                fn = next((f for f in same if not f.arguments), same[0])
                if fn.returns.strip().lower() != "trigger":
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' "
                        "must be declared with 'returns: trigger'",
                    )
                if fn.arguments:
                    which = "must take no arguments"
                    if len(same) > 1:  # the trigger calls name()
                        which = "needs an overload without arguments"
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' {which} (a trigger "
                        "function reads TG_ARGV instead)",
                    )
            if tr.timing == "instead of" and tr.for_each != "row":
                err(
                    trp,
                    f"trigger '{tr.name}': INSTEAD OF triggers must be FOR EACH ROW; set "
                    "'for_each: row'",
                )
            _check_options(ctx, t, trp, tr)
            if tr.for_each == "statement" and tr.when and statements.refers_to_row(tr.when):
                err(
                    (*trp, "when"),
                    f"trigger '{tr.name}': a FOR EACH STATEMENT trigger cannot "
                    "refer to OLD or NEW in 'when'; use 'for_each: row'",
                )

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL

        out = []
        for tr in t.triggers:
            what = f"trigger {tr.name} on table {t.name}"
            out.append((base.BEHAVIOUR, DDL(trigger_sql(t, tr, target_schema), what)))
            state = state_sql(t, tr, target_schema)
            if state is not None:
                out.append((base.BEHAVIOUR, DDL(state, f"state of {what}")))
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
            definition,
        ) in state.rows(_TRIGGERS):
            if relid not in tables:
                continue
            where = f"trigger {name} on {tables[relid][NAME]}"
            if not f_same_schema or fname not in functions:
                warn(f"{where}: calls {fname}(), which is not an inspected function; left out")
                continue
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
            tr.update(_options(definition))
            mode = _TGENABLED.get(enabled, "origin")
            if mode != "origin":
                tr["enabled"] = next(k for k, v in _ENABLED.items() if v == mode)
            tables[relid].setdefault("triggers", {})[name] = tr


def _options(definition: str) -> dict[str, Any]:
    """The YAML options a trigger's definition (pg_get_triggerdef) holds beyond timing,
    events, level, function and WHEN, read with PostgreSQL's parser."""
    from pglast import ast, parse_sql

    from ..introspect import FlowList, FlowMap

    stmt = parse_sql(definition)[0].stmt
    assert isinstance(stmt, ast.CreateTrigStmt)
    out: dict[str, Any] = {}
    if stmt.columns:
        out["update_of"] = FlowList(c.sval for c in stmt.columns)
    if stmt.args:
        out["arguments"] = FlowList(a.sval for a in stmt.args)
    if stmt.isconstraint:
        out["constraint"] = True
    if stmt.deferrable:
        out["deferrable"] = True
    if stmt.initdeferred:
        out["initially_deferred"] = True
    rels = {("new_table" if r.isNew else "old_table"): r.name for r in stmt.transitionRels or ()}
    if rels:
        out["referencing"] = FlowMap(dict(sorted(rels.items(), reverse=True)))
    return out


def _check_options(ctx: base.CheckContext, t: Table, trp: base.PathKey, tr: Trigger) -> None:
    """What PostgreSQL refuses about UPDATE OF, constraint triggers and transition tables,
    said at the YAML line with what to do."""
    who = f"trigger '{tr.name}'"
    if tr.update_of:
        if "update" not in tr.events:
            ctx.err((*trp, "update_of"), f"{who}: update_of needs the event 'update'; add it")
        base.need_cols(ctx, (*trp, "update_of"), tr.update_of, f"{who} UPDATE OF", t)
    if tr.constraint and (tr.timing != "after" or tr.for_each != "row"):
        ctx.err(
            (*trp, "constraint"),
            f"{who}: a constraint trigger is AFTER ... FOR EACH ROW; set timing: after and "
            "for_each: row",
        )
    if (tr.deferrable or tr.initially_deferred) and not tr.constraint:
        ctx.err(trp, f"{who}: only a constraint trigger can be deferrable; add constraint: true")
    if tr.initially_deferred and not tr.deferrable:
        ctx.err((*trp, "initially_deferred"), f"{who}: initially_deferred needs deferrable: true")
    if tr.old_table or tr.new_table:
        path = (*trp, "referencing")
        if tr.timing != "after" or tr.constraint:
            ctx.err(path, f"{who}: transition tables need an AFTER trigger (not a constraint one)")
        if len(tr.events) != 1 or tr.update_of:
            ctx.err(
                path,
                f"{who}: transition tables need exactly one event and no update_of; split "
                "the trigger",
            )
        if tr.old_table and tr.events[0] == "insert":
            ctx.err(path, f"{who}: an INSERT trigger has no old_table; remove it")
        if tr.new_table and tr.events[0] == "delete":
            ctx.err(path, f"{who}: a DELETE trigger has no new_table; remove it")


PART = Triggers()
