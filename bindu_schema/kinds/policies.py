"""Row-level security of a table: `row_level_security: {enabled, force}` and
`policies: {name: {command, permissive, roles, using, with_check, renamed_from}}`.

Plain SQL (SQLAlchemy has no construct): ALTER TABLE ... ENABLE / FORCE ROW LEVEL
SECURITY and CREATE POLICY, after the functions a policy may call (phase BEHAVIOUR).
migra diffs policies (drop and create) and ENABLE/DISABLE, but pastes role names
unescaped (replaced here) and never sees FORCE (added here, in differ_order).
"""

from __future__ import annotations

from collections.abc import Callable
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

COMMANDS = ("all", "select", "insert", "update", "delete")
_POLCMD = {"*": "all", "r": "select", "a": "insert", "w": "update", "d": "delete"}
PUBLIC = "public"  # the pseudo-role: a keyword, never quoted (no role may take the name)


@dataclass(frozen=True)
class RowLevelSecurity:
    enabled: bool = True
    force: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    command: str = "all"
    permissive: bool = True
    roles: tuple[str, ...] = (PUBLIC,)
    using: str | None = None
    with_check: str | None = None
    renamed_from: str | None = None


_RLS = """
SELECT c.oid, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p')
"""

_POLICIES = """
SELECT p.polrelid, p.polname, p.polcmd, p.polpermissive,
       ARRAY(SELECT CASE WHEN o = 0 THEN 'public' ELSE pg_get_userbyid(o) END
             FROM unnest(p.polroles) AS u(o) ORDER BY 1),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
WHERE c.relnamespace = %(ns)s
ORDER BY p.polrelid, p.polname
"""


def role_sql(role: str) -> str:
    from ..compile import quote

    return "PUBLIC" if role == PUBLIC else quote(role)


def policy_sql(t: Table, p: Policy, target_schema: str | None = None) -> str:
    from ..compile import qualified, quote

    kind = "PERMISSIVE" if p.permissive else "RESTRICTIVE"
    roles = ", ".join(role_sql(r) for r in p.roles)
    using = f" USING ({p.using})" if p.using is not None else ""
    check = f" WITH CHECK ({p.with_check})" if p.with_check is not None else ""
    return (
        f"CREATE POLICY {quote(p.name)} ON {qualified(t.name, target_schema)} AS {kind} "
        f"FOR {p.command.upper()} TO {roles}{using}{check}"
    )


def _rls_commands(sql: str) -> bool:
    """Whether an ALTER TABLE enables, disables, forces or unforces row-level security."""
    from pglast import ast, parse_sql
    from pglast.enums import AlterTableType

    rls = {
        AlterTableType.AT_EnableRowSecurity,
        AlterTableType.AT_DisableRowSecurity,
        AlterTableType.AT_ForceRowSecurity,
        AlterTableType.AT_NoForceRowSecurity,
    }
    stmt = parse_sql(sql)[0].stmt
    return isinstance(stmt, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and c.subtype in rls for c in stmt.cmds or ()
    )


def _policy_table(sql: str) -> str | None:
    """The table of a DROP POLICY name ON [schema.]table (its object list ends table, name)."""
    from pglast import ast, parse_sql

    stmt = parse_sql(sql)[0].stmt
    if not isinstance(stmt, ast.DropStmt) or not stmt.objects:
        return None
    names = [getattr(n, "sval", None) for n in stmt.objects[0]]
    return names[-2] if len(names) >= 2 else None


class Policies(base.TablePart):
    rename_rank = 4
    inspection_attrs = ("rlspolicies",)

    def fragments(self) -> dict[str, dict[str, Any]]:
        return {
            "row_level_security": base.entry(
                {"enabled": {"type": "boolean"}, "force": {"type": "boolean"}}
            ),
            "policies": base.named_map(
                {
                    "command": {"enum": list(COMMANDS)},
                    "permissive": {"type": "boolean"},
                    "roles": {**base.names_list(), "uniqueItems": True},
                    "using": dict(base.NAME),
                    "with_check": dict(base.NAME),
                    "renamed_from": dict(base.RENAMED_FROM),
                }
            ),
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        rls = section.get("row_level_security")
        return {
            "row_level_security": (
                RowLevelSecurity(rls.get("enabled", True), rls.get("force", False))
                if rls is not None
                else None
            ),
            "policies": tuple(
                Policy(
                    name=name,
                    command=p.get("command", "all"),
                    permissive=p.get("permissive", True),
                    roles=tuple(p.get("roles") or (PUBLIC,)),
                    using=p.get("using"),
                    with_check=p.get("with_check"),
                    renamed_from=p.get("renamed_from"),
                )
                for name, p in (section.get("policies") or {}).items()
            ),
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        from .. import fragments

        for p in t.policies:
            pp: base.PathKey = (*tp, "policies", p.name)
            who = f"policy '{p.name}' on table '{t.name}'"
            ctx.check_ident(pp, p.name, "policy")
            for i, r in enumerate(p.roles):
                ctx.check_ident((*pp, "roles", i), r, "role")
            if PUBLIC in p.roles and len(p.roles) > 1:
                ctx.err((*pp, "roles"), f"{who}: PUBLIC includes every role; list it alone")
            if p.command == "insert" and p.using is not None:
                ctx.err(
                    (*pp, "using"),
                    f"{who}: an INSERT policy has no USING (rows are not read); use 'with_check'",
                )
            if p.command in ("select", "delete") and p.with_check is not None:
                ctx.err(
                    (*pp, "with_check"),
                    f"{who}: a {p.command.upper()} policy has no WITH CHECK "
                    "(no rows are written); use 'using'",
                )
            for key, value in (("using", p.using), ("with_check", p.with_check)):
                why = fragments.expression(value) if value is not None else None
                if why is not None:
                    ctx.err(
                        (*pp, key),
                        f"{who}: '{key}' must be exactly one SQL expression, but "
                        f"{why}; fix the expression",
                    )

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified

        out: list[tuple[int, DDL]] = []
        rls, qt = t.row_level_security, qualified(t.name, target_schema)
        if rls is not None and rls.enabled:
            sql = f"ALTER TABLE {qt} ENABLE ROW LEVEL SECURITY"
            out.append((base.BEHAVIOUR, DDL(sql, f"row level security on table {t.name}")))
        if rls is not None and rls.force:
            sql = f"ALTER TABLE {qt} FORCE ROW LEVEL SECURITY"
            out.append((base.BEHAVIOUR, DDL(sql, f"forced row level security on {t.name}")))
        for p in t.policies:
            what = f"policy {p.name} on table {t.name}"
            out.append((base.BEHAVIOUR, DDL(policy_sql(t, p, target_schema), what)))
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
            "policy",
            t.name,
            ((p.name, p.renamed_from) for p in t.policies),
            on_table(facts.others.get("policies", frozenset())),
            lambda a, b: f"ALTER POLICY {quote(a)} ON {qt} RENAME TO {quote(b)};",
        )

    catalog_sql = """
SELECT 'y', p.polname, t.relname, NULL FROM pg_policy p
  JOIN pg_class t ON t.oid = p.polrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s"""
    catalog_tags = ("y",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"policies": frozenset((rel, name) for _, name, rel, _ in rows)}

    object_types = ("policy",)
    pg_objects = (("OBJECT_POLICY", "policy"),)
    on_table = ("OBJECT_POLICY",)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import relation

        if not isinstance(stmt, ast.CreatePolicyStmt | ast.AlterPolicyStmt):
            return None
        schema, table = relation(stmt.table)
        return replace(rec, object_type="policy", schema=schema, name=stmt.policy_name, table=table)

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ROW_ACCESS_CHANGE
        from ..statements import unnamed_commands

        if rec.kind in ("CreatePolicyStmt", "AlterPolicyStmt") or (
            rec.kind == "DropStmt" and rec.objtype == "policy"
        ):
            return {ROW_ACCESS_CHANGE}
        if rec.kind == "AlterTableStmt" and unnamed_commands(rec) and _rls_commands(rec.sql):
            return {ROW_ACCESS_CHANGE}
        return set()

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        cls = obj.InspectedRowPolicy

        def create(self: Any) -> str:
            using = f"\nusing ({self.qual})" if self.qual else ""
            check = f"\nwith check ({self.withcheck})" if self.withcheck else ""
            roles = ", ".join("public" if r == PUBLIC else ident(r) for r in self.roles)
            return (
                f"create policy {ident(self.name)}\non {ident(self.table_name, self.schema)}\n"
                f"as {self.permissiveness}\nfor {self.commandtype_keyword}\nto {roles}"
                f"{using}{check};"
            )

        cls.create_statement = property(create)
        cls.drop_statement = property(
            lambda self: f"drop policy {ident(self.name)} on {ident(self.table_name, self.schema)};"
        )

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra never compares FORCE ROW LEVEL SECURITY: set it where it differs."""
        from .. import statements

        out = list(records)
        for key, t in i_target.tables.items():
            before = i_from.tables.get(key)
            force = bool(getattr(t, "forcerowsecurity", False))
            if force != bool(getattr(before, "forcerowsecurity", False)):
                word = "FORCE" if force else "NO FORCE"
                sql = f"ALTER TABLE {t.quoted_full_name} {word} ROW LEVEL SECURITY;"
                out.append(statements.parse(sql, "AlterTableStmt"))
        return out

    def inside_dropped(self, r: Record, dropped: set[str], i_from: Any) -> bool:
        return r.kind == "DropStmt" and r.objtype == "policy" and _policy_table(r.sql) in dropped

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import FlowList, strip_outer_parens

        for relid, enabled, force in state.rows(_RLS):
            if relid in tables and (enabled or force):
                rls: dict[str, Any] = {"enabled": bool(enabled)}
                if force:
                    rls["force"] = True
                tables[relid]["row_level_security"] = rls
        for relid, name, cmd, permissive, roles, using, check in state.rows(_POLICIES):
            if relid not in tables:
                continue
            p: dict[str, Any] = {"command": _POLCMD[cmd]}
            if not permissive:
                p["permissive"] = False
            if list(roles) != [PUBLIC]:
                p["roles"] = FlowList(roles)
            if using is not None:
                p["using"] = strip_outer_parens(using)
            if check is not None:
                p["with_check"] = strip_outer_parens(check)
            tables[relid].setdefault("policies", {})[name] = p


PART = Policies()
