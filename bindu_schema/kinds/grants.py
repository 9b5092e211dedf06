"""Privileges and owners of declared objects, and default privileges: `grants:`.

    grants:
      tables:                      # tables and views, by name
        tasks:
          owner: app_owner         # optional: ALTER TABLE ... OWNER TO
          manage_grants: true      # optional: roles not listed lose their privileges
          roles: {app_rw: [select, insert, update, delete], public: [select]}
      sequences:                   # a serial or identity column's (table_column_seq)
        tasks_id_seq: {roles: {app_rw: [usage]}}
      functions:                   # by name: every function of that name
        touch: {roles: {app_rw: [execute]}}
      default_privileges:          # the migrating role's, in every schema
        tables: {app_ro: [select]}
      schema:                      # the schema the file is applied to (public, a tenant)
        roles: {app_rw: [usage], app_owner: [usage, create]}

Roles are referenced, never created: a role the live database lacks stops the plan with
its name. What is compared (the scope) is what the YAML names: a listed role has exactly
the listed privileges on the object; a role the YAML does not list keeps whatever it has,
unless the object says `manage_grants: true` (then its privileges are revoked). So
adopting a database never revokes anything the YAML does not mention.

migra's own privilege diff revokes everything it does not see in the target and pastes
role names unquoted; it stays off. schemainspect's privileges query is replaced by one
over the ACLs (aclexplode) that also reads owners and functions, and differ_order adds
the GRANT / REVOKE / OWNER TO statements for the declared scope. The plan sets the scope
(base.declared); a rehearsal copy, restored without privileges, gets the live scope's
privileges back first (rehearsal_sql).

A revision names no schema (one file migrates public and every tenant schema), so a
schema privilege cannot be a plain GRANT ... ON SCHEMA <name> there: the plan (which
names its target schema everywhere) says GRANT ... ON SCHEMA "public", and the revision
(statements.unqualify, through `unqualified`) runs it as a DO block (schema_block) that
formats the current schema's name (%I): whichever schema env.py put on the search_path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa
    from pglast import ast

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..settings import DatabaseURL
    from ..statements import Record

KEY = "grants"
PUBLIC = "public"  # the pseudo-role every role belongs to: a keyword, never quoted
TABLE_PRIVILEGES = ("select", "insert", "update", "delete", "truncate", "references", "trigger")
FUNCTION_PRIVILEGES = ("execute",)
SEQUENCE_PRIVILEGES = ("usage", "select", "update")
SCHEMA_PRIVILEGES = ("usage", "create")
SCHEMA = "schema"  # the YAML section, and the inspection's object type
# The privilege words of each section (and object type of default_privileges)
DEFAULTS = {
    "tables": TABLE_PRIVILEGES,
    "sequences": SEQUENCE_PRIVILEGES,
    "functions": FUNCTION_PRIVILEGES,
}
DEFAULT = "default"  # the inspection's object type of a default privilege
SCHEMA_PRIVILEGE = "schema privilege"  # the plan summary's row
# After every object, its comments and its parts exist.
PHASE = base.PART_COMMENTS + 2
OWNER = "owner"  # the pseudo-privilege that carries an owner in the inspection


@dataclass(frozen=True)
class Grant:
    """The declared privileges and owner of one table, view, sequence or function (by
    name), or the default privileges for one object type."""

    on: str  # "tables", "sequences", "functions", "default_privileges" or "schema"
    name: str  # default_privileges: the object type (tables, sequences, functions); schema: ""
    roles: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (role, privileges), as listed
    owner: str | None = None
    manage_grants: bool = False

    @property
    def privileges(self) -> dict[str, frozenset[str]]:
        return {r: frozenset(p) for r, p in self.roles}


def role_sql(role: str) -> str:
    from ..compile import quote

    return "PUBLIC" if role == PUBLIC else quote(role)


def _grant_sql(verb: str, privileges: list[str], what: str, role: str) -> str:
    """GRANT / REVOKE; `what` is `TABLE x`, `FUNCTION f(...)` or, for default privileges,
    the object type (TABLES, SEQUENCES, FUNCTIONS) of ALTER DEFAULT PRIVILEGES."""
    word = "TO" if verb == "GRANT" else "FROM"
    privs = ", ".join(p.upper() for p in sorted(privileges))
    prefix = "ALTER DEFAULT PRIVILEGES " if what.upper() in DEFAULTS_SQL else ""
    return f"{prefix}{verb} {privs} ON {what} {word} {role_sql(role)}"


DEFAULTS_SQL = {k.upper() for k in DEFAULTS}


# -------------------------------------------------------------------- the live catalog

# Replaces schemainspect's privileges query (information_schema, tables only, only what
# the current role may see): every ACL entry of relations and functions but the owner's
# own, defaults made explicit (a function's EXECUTE for PUBLIC), and each owner as the
# pseudo-privilege 'owner'. A function's name is its identity: name(types). Default
# privileges are the current role's for every schema (ALTER DEFAULT PRIVILEGES without
# IN SCHEMA: the same statement serves public and every tenant schema), repeated under
# each schema so that the inspection of one schema holds them. A schema's own ACL is the
# object (schema, name = the schema), with its owner, like a table's.
# The system schemas are left out as schemainspect's own queries leave them out (its
# SKIP_INTERNAL lines, kept unless include_internal): the inspection keeps one schema
# anyway, and pg_catalog's ~3,000 functions made ~6,800 rows that schemainspect turned
# into objects only to drop them (75 ms of every inspection, even of a 4-table database).
_USER_SCHEMA = (
    "n.nspname NOT IN ('pg_internal', 'pg_catalog', 'information_schema', 'pg_toast') "
    "AND NOT starts_with(n.nspname, 'pg_temp_') AND NOT starts_with(n.nspname, 'pg_toast_temp_')"
)
_ACLS = f"""
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind IN ('r', 'p') THEN 'table' WHEN c.relkind = 'S' THEN 'sequence'
            ELSE 'view' END AS object_type,
       CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END AS user,
       lower(a.privilege_type) AS privilege
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault(
      CAST(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END AS "char"), c.relowner))) a
 WHERE c.relkind IN ('r', 'p', 'v', 'S') AND a.grantee <> c.relowner
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname, c.relname,
       CASE WHEN c.relkind IN ('r', 'p') THEN 'table' ELSE 'view' END,
       pg_get_userbyid(c.relowner), 'owner'
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v')
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')', 'function',
       CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END,
       lower(a.privilege_type)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.prokind IN ('f', 'p') AND a.grantee <> p.proowner
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')', 'function',
       pg_get_userbyid(p.proowner), 'owner'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p')
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname,
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                            ELSE 'functions' END,
       'default',
       CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END,
       lower(a.privilege_type)
  FROM pg_default_acl d
  CROSS JOIN pg_namespace n
  CROSS JOIN LATERAL aclexplode(d.defaclacl) a
 WHERE d.defaclnamespace = 0 AND d.defaclobjtype IN ('r', 'S', 'f')
   AND d.defaclrole = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)
   AND a.grantee <> d.defaclrole
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname, n.nspname, 'schema',
       CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END,
       lower(a.privilege_type)
  FROM pg_namespace n
  CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
 WHERE a.grantee <> n.nspowner
-- SKIP_INTERNAL AND {_USER_SCHEMA}
UNION ALL
SELECT n.nspname, n.nspname, 'schema', pg_get_userbyid(n.nspowner), 'owner'
  FROM pg_namespace n
-- SKIP_INTERNAL WHERE {_USER_SCHEMA}
"""

# For inspect: explicit ACLs only (NULL: the defaults, nothing to declare).
_INSPECT = """
SELECT 'tables', c.relname, pg_get_userbyid(c.relowner), c.relacl IS NOT NULL,
       ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END)
                    || ' ' || lower(a.privilege_type)
               FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner ORDER BY 1)
  FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'v')
UNION ALL
SELECT 'sequences', c.relname,
       (SELECT t.relname || '_' || a.attname || '_seq' FROM pg_depend d
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')),
       c.relacl IS NOT NULL,
       ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END)
                    || ' ' || lower(a.privilege_type)
               FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner ORDER BY 1)
  FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind = 'S' AND c.relacl IS NOT NULL
UNION ALL
SELECT 'functions', p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
       pg_get_userbyid(p.proowner), p.proacl IS NOT NULL,
       ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END)
                    || ' ' || lower(a.privilege_type)
               FROM aclexplode(p.proacl) a WHERE a.grantee <> p.proowner ORDER BY 1)
  FROM pg_proc p WHERE p.pronamespace = %(ns)s AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'default_privileges',
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                            ELSE 'functions' END,
       current_user, true,
       ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END)
                    || ' ' || lower(a.privilege_type)
               FROM aclexplode(d.defaclacl) a WHERE a.grantee <> d.defaclrole ORDER BY 1)
  FROM pg_default_acl d
 WHERE d.defaclnamespace = 0 AND d.defaclobjtype IN ('r', 'S', 'f')
   AND d.defaclrole = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)
UNION ALL
SELECT 'schema', n.nspname, pg_get_userbyid(n.nspowner), n.nspacl IS NOT NULL,
       ARRAY(SELECT (CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END)
                    || ' ' || lower(a.privilege_type)
               FROM aclexplode(n.nspacl) a WHERE a.grantee <> n.nspowner ORDER BY 1)
  FROM pg_namespace n WHERE n.oid = %(ns)s AND n.nspacl IS NOT NULL
ORDER BY 1, 2
"""

Row = tuple[str, str, str, str, str]  # schema, name, object type, role, privilege
Acl = dict[tuple[str, str, str], dict[str, set[str]]]  # (type, schema, name) -> role -> privs


def _acls(rows: list[Row] | Any) -> Acl:
    """ACL rows (from _ACLS) by object; the owner under the role key ''."""
    out: Acl = {}
    for schema, name, otype, role, privilege in rows:
        obj = out.setdefault((otype, schema, name), {})
        if privilege == OWNER:
            obj[""] = {role}
        else:
            obj.setdefault(role, set()).add(privilege)
    return out


def _rows(i: Any) -> list[Row]:
    """A schemainspect inspection's privileges (read by _ACLS) as rows."""
    return [
        (p.schema, p.name, p.object_type, p.target_user, p.privilege)
        for p in getattr(i, "privileges", {}).values()
    ]


def _matches(g: Grant, otype: str, name: str) -> bool:
    if g.on == SCHEMA:
        return otype == SCHEMA
    if g.on == "default_privileges":
        return otype == DEFAULT and name == g.name
    if g.on == "functions":
        return otype == "function" and name.split("(", 1)[0] == g.name
    if g.on == "sequences":
        return otype == "sequence" and name == g.name
    return otype in ("table", "view") and name == g.name


def _target_sql(otype: str, name: str, schema: str) -> str:
    """TABLE "s"."t" / FUNCTION "s"."f"(integer): the object of a GRANT."""
    from ..compile import qualified, quote

    if otype == DEFAULT:
        return name.upper()
    if otype == SCHEMA:
        return f"SCHEMA {quote(schema)}"
    if otype == "function":
        fname, args = name.split("(", 1)
        return f"FUNCTION {quote(schema)}.{quote(fname)}({args}"
    word = "SEQUENCE" if otype == "sequence" else "TABLE"
    return f"{word} {qualified(name, schema)}"


def _owner_sql(otype: str, what: str, owner: str) -> str:
    from ..compile import quote

    if otype == "view":
        what = "VIEW" + what.removeprefix("TABLE")
    return f"ALTER {what} OWNER TO {quote(owner)}"


def _declared_roles(schema: model.Schema) -> dict[str, base.PathKey]:
    """Every role the grants name (owners too), with the YAML path of its first mention."""
    out: dict[str, base.PathKey] = {}
    for g in schema.objects(KEY):
        if g.owner is not None:
            out.setdefault(g.owner, (*_path(g), "owner"))
        for role, _ in g.roles:
            if role != PUBLIC:
                out.setdefault(role, (*_path(g), *_roles_at(g), role))
    return out


def _path(g: Grant) -> base.PathKey:
    """The grant's place in the YAML (the schema section names no object)."""
    return (KEY, g.on) if g.on == SCHEMA else (KEY, g.on, g.name)


def _roles_at(g: Grant) -> tuple[str, ...]:
    """Where a grant's roles are in the YAML, below the object: roles map or directly."""
    return () if g.on == "default_privileges" else ("roles",)


def _statements(grants: tuple[Grant, ...], dropped: set[str], a: Acl, b: Acl) -> list[str]:
    """What turns the ACLs `a` into `b` within the declared scope, per object of `b`.
    An object named in `dropped` (dropped and created again) starts with nothing."""
    out: list[str] = []
    # a default privilege exists only as entries: one side may have none at all
    empty: Acl = {k: {} for k in a if k[0] == DEFAULT and k not in b}
    for (otype, schema, name), want in sorted({**b, **empty}.items()):
        for g in grants:
            if not _matches(g, otype, name):
                continue
            # a dropped object of the same name is not the schema
            gone = otype not in (DEFAULT, SCHEMA) and name.split("(", 1)[0] in dropped
            have = {} if gone else a.get((otype, schema, name), {})
            what = _target_sql(otype, name, schema)
            owner = next(iter(want.get("", ())), None)
            if g.owner is not None and owner is not None and have.get("") != want.get(""):
                out.append(_owner_sql(otype, what, owner))
            scope = set(g.privileges)
            if g.manage_grants:
                scope |= (set(have) | set(want)) - {""}
            for role in sorted(scope):
                add = want.get(role, set()) - have.get(role, set())
                remove = have.get(role, set()) - want.get(role, set())
                if remove:
                    out.append(_grant_sql("REVOKE", sorted(remove), what, role))
                if add:
                    out.append(_grant_sql("GRANT", sorted(add), what, role))
    return out


class Grants(base.Kind):
    key = KEY
    word = "grant"
    object_types = ("grant", SCHEMA_PRIVILEGE)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        """GRANT / REVOKE on one object (create / drop: a privilege added or taken away),
        ALTER DEFAULT PRIVILEGES and ALTER FUNCTION ... OWNER TO (alter); on a schema, or
        on the current one (a DO block of schema_block's shape): a schema privilege."""
        from dataclasses import replace

        from pglast import ast
        from pglast.enums import ObjectType

        from ..statements import qualified_name, relation, strings

        if isinstance(stmt, ast.AlterOwnerStmt | ast.AlterDefaultPrivilegesStmt):
            return replace(rec, object_type="grant", action="alter")
        if isinstance(stmt, ast.DoStmt):
            found = read_schema_block(rec.sql)
            if found is None:
                return None
            action = "create" if found.is_grant else "drop"
            return replace(rec, object_type=SCHEMA_PRIVILEGE, action=action)
        if not isinstance(stmt, ast.GrantStmt):
            return None
        if stmt.objtype == ObjectType.OBJECT_SCHEMA:
            action = "create" if stmt.is_grant else "drop"
            names = [str(o.sval) for o in stmt.objects or ()]
            return replace(
                rec,
                object_type=SCHEMA_PRIVILEGE,
                action=action,
                name=names[0] if len(names) == 1 else None,
            )
        schema: str | None = None
        name: str | None = None
        first = stmt.objects[0] if stmt.objects else None
        if isinstance(first, ast.RangeVar):
            schema, name = relation(first)
        elif isinstance(first, ast.ObjectWithArgs):
            schema, name = qualified_name(strings(first.objname))
        table = name if stmt.objtype == ObjectType.OBJECT_TABLE else None
        action = "create" if stmt.is_grant else "drop"
        return replace(
            rec, object_type="grant", action=action, schema=schema, name=name, table=table
        )

    def fragment(self) -> dict[str, Any]:
        def roles(privileges: tuple[str, ...]) -> dict[str, Any]:
            return {
                "type": "object",
                "propertyNames": {"minLength": 1},
                "additionalProperties": {
                    "type": "array",
                    "items": {"enum": list(privileges)},
                    "uniqueItems": True,
                },
            }

        def section(privileges: tuple[str, ...], owner: bool = True) -> dict[str, Any]:
            keys = {"manage_grants": {"type": "boolean"}, "roles": roles(privileges)}
            return base.named_map({"owner": dict(base.NAME), **keys} if owner else keys)

        return base.entry(
            {
                "tables": section(TABLE_PRIVILEGES),
                # a column's sequence belongs to the table's owner (no owner of its own)
                "sequences": section(SEQUENCE_PRIVILEGES, owner=False),
                "functions": section(FUNCTION_PRIVILEGES),
                "default_privileges": base.entry(
                    {name: roles(privs) for name, privs in DEFAULTS.items()}
                ),
                # the schema the file is applied to: public, or each tenant schema
                SCHEMA: base.entry(
                    {"manage_grants": {"type": "boolean"}, "roles": roles(SCHEMA_PRIVILEGES)}
                ),
            }
        )

    def build(self, section: Any) -> tuple[Any, ...]:
        return (
            tuple(
                Grant(
                    on=on,
                    name=name,
                    roles=tuple((r, tuple(p)) for r, p in (g.get("roles") or {}).items()),
                    owner=g.get("owner"),
                    manage_grants=g.get("manage_grants", False),
                )
                for on in ("tables", "sequences", "functions")
                for name, g in ((section or {}).get(on) or {}).items()
            )
            + tuple(
                Grant(
                    on="default_privileges",
                    name=name,
                    roles=tuple((r, tuple(p)) for r, p in g.items()),
                )
                for name, g in ((section or {}).get("default_privileges") or {}).items()
            )
            + tuple(
                Grant(
                    on=SCHEMA,
                    name="",
                    roles=tuple((r, tuple(p)) for r, p in (g.get("roles") or {}).items()),
                    manage_grants=g.get("manage_grants", False),
                )
                for g in [(section or {}).get(SCHEMA)]
                if g is not None
            )
        )

    def check(self, ctx: base.CheckContext) -> None:
        from . import views

        relations = [t.name for t in ctx.schema.tables] + [
            v.name for v in ctx.schema.objects(views.KEY)
        ]
        functions = sorted({f.name for f in ctx.schema.functions})
        sequences = [
            f"{t.name}_{c.name}_seq"
            for t in ctx.schema.tables
            for c in t.columns
            if c.serial or c.identity
        ]
        known_by: dict[str, tuple[list[str], str]] = {
            "tables": (relations, "table or view"),
            "sequences": (sequences, "sequence"),
            "functions": (functions, "function"),
        }
        for g in ctx.schema.objects(KEY):
            gp: base.PathKey = _path(g)
            if g.on == SCHEMA:
                for role, _ in g.roles:
                    ctx.check_ident((*gp, "roles", role), role, "role")
                    if role != PUBLIC and role.lower() == PUBLIC:
                        ctx.err(
                            (*gp, "roles", role),
                            f"grants on the schema: '{role}' is not a role name; "
                            "write 'public' for PUBLIC",
                            key=True,
                        )
                continue
            if g.on == "default_privileges":
                for role, _ in g.roles:
                    ctx.check_ident((*gp, role), role, "role")
                    if role != PUBLIC and role.lower() == PUBLIC:
                        ctx.err(
                            (*gp, role),
                            f"default privileges on {g.name}: '{role}' is not a role name; "
                            "write 'public' for PUBLIC",
                            key=True,
                        )
                continue
            known, what = known_by[g.on]
            who = f"grants on {what} '{g.name}'"
            if g.name not in known:
                note = (
                    " (grants take the sequence of a serial or identity column, named "
                    "table_column_seq)"
                    if g.on == "sequences"
                    else ""
                )
                hint = ctx.did_you_mean(g.name, known) or f"declare the {what} first"
                ctx.err(gp, f"{who}: no such {what}{note}; {hint}", key=True)
            if g.owner is not None:
                ctx.check_ident((*gp, "owner"), g.owner, "role")
                if g.owner.lower() == PUBLIC:
                    ctx.err((*gp, "owner"), f"{who}: PUBLIC cannot own an object; name a role")
            for role, _ in g.roles:
                ctx.check_ident((*gp, "roles", role), role, "role")
                if role == g.owner:
                    ctx.err(
                        (*gp, "roles", role),
                        f"{who}: '{role}' is its owner, which holds every privilege on it; "
                        "do not list the owner",
                        key=True,
                    )
                if role != PUBLIC and role.lower() == PUBLIC:
                    ctx.err(
                        (*gp, "roles", role),
                        f"{who}: '{role}' is not a role name; write 'public' for PUBLIC",
                        key=True,
                    )

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified, quote

        out: list[tuple[int, DDL]] = []
        for g in schema.objects(KEY):
            targets: list[tuple[str, str]] = []
            if g.on == SCHEMA:  # the current schema: compile set the search_path to it
                label = "grants on the schema"
                if g.manage_grants or PUBLIC in g.privileges:  # public's default USAGE
                    sql = schema_block("REVOKE", ["all"], PUBLIC)
                    out.append((PHASE, DDL(sql, label)))
                for role, privileges in g.roles:
                    if privileges:
                        sql = schema_block("GRANT", list(privileges), role)
                        out.append((PHASE, DDL(sql, label)))
                continue
            if g.on == "default_privileges":
                for role, privileges in g.roles:
                    if privileges:
                        sql = _grant_sql("GRANT", list(privileges), g.name.upper(), role)
                        out.append((PHASE, DDL(sql, f"default privileges on {g.name}")))
                continue
            if g.on == "tables":
                otype = "table" if schema.table(g.name) is not None else "view"
                targets = [(otype, f"TABLE {qualified(g.name, target_schema)}")]
            elif g.on == "sequences":
                targets = [("sequence", f"SEQUENCE {qualified(g.name, target_schema)}")]
            else:
                for f in schema.functions:
                    if f.name == g.name:
                        name = f"{quote(f.name)}({', '.join(a.type for a in f.arguments)})"
                        where = f"{quote(target_schema)}." if target_schema else ""
                        targets.append(("function", f"FUNCTION {where}{name}"))
            for otype, what in targets:
                label = f"grants on {otype} {g.name}"
                if g.owner is not None:
                    word = "VIEW" + what.removeprefix("TABLE") if otype == "view" else what
                    sql = f"ALTER {word} OWNER TO {quote(g.owner)}"
                    out.append((PHASE, DDL(sql, f"owner of {otype} {g.name}")))
                # A function's EXECUTE for PUBLIC is a default: gone under manage_grants,
                # and exactly what is listed when public is listed (`public: []`: none)
                if g.manage_grants or PUBLIC in g.privileges:
                    out.append((PHASE, DDL(f"REVOKE ALL ON {what} FROM PUBLIC", label)))
                for role, privileges in g.roles:
                    if privileges:
                        sql = _grant_sql("GRANT", list(privileges), what, role)
                        out.append((PHASE, DDL(sql, label)))
        return out

    # plans -------------------------------------------------------------------------
    # Every role of the cluster, to name the missing ones before anything is built.
    catalog_sql = """
SELECT 'G', r.rolname, NULL, NULL FROM pg_roles r"""
    catalog_tags = ("G",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"roles": frozenset(name for _, name, _, _ in rows)}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        """Not a rename: the first hook that sees the YAML and the live catalog together,
        before the desired database is built (where a missing role would fail as
        PostgreSQL's message)."""
        from ..errors import BinduSchemaError

        roles = facts.others.get("roles", frozenset())
        for role, path in _declared_roles(schema).items():
            if role not in roles:
                raise BinduSchemaError(
                    f"{'/'.join(str(p) for p in path)}: role '{role}' does not exist in "
                    f"the database at {where}; create it (roles are not managed by "
                    "bindu-schema) or fix the name"
                )
        return []

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import PRIVILEGE_CHANGE

        kinds = ("GrantStmt", "AlterOwnerStmt", "AlterDefaultPrivilegesStmt")
        if rec.kind in kinds or rec.object_type == SCHEMA_PRIVILEGE or _changes_owner(rec):
            return {PRIVILEGE_CHANGE}
        return set()

    def change(self, rec: Record, otype: str, owners: Mapping[str, str]) -> base.Change | None:
        """A table's grants touch the table (the summary's touched tables)."""
        if rec.kind == "GrantStmt" and rec.table:
            return ("grant", rec.action, rec.table, None, None)
        return None

    def patch_migra_queries(self, obj: Any) -> None:
        obj.PRIVILEGES_QUERY = _ACLS

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """GRANT / REVOKE / OWNER TO within the declared scope (migra's privileges are off)."""
        from .. import statements

        declared = base.DECLARED.get()
        grants = declared.objects(KEY) if declared is not None else ()
        if not grants:
            return records
        dropped = {n for r in records if r.kind == "DropStmt" for n in r.names}
        # a name a relation is renamed away from (a serial's sequence converted to an
        # identity, or back): whatever holds it afterwards is new, without the privileges
        dropped |= {r.name for r in records if r.kind == "RenameStmt" and r.name and not r.table}
        sqls = _statements(grants, dropped, _acls(_rows(i_from)), _acls(_rows(i_target)))
        return records + [statements.parse(s + ";") for s in sqls]

    def rehearsal_sql(self, live: DatabaseURL, schema: str) -> list[str]:
        """The declared scope's privileges and owners in the live schema, for a rehearsal
        copy restored without them (pg_dump --no-owner --no-privileges)."""
        from .. import server

        declared = base.DECLARED.get()
        grants = declared.objects(KEY) if declared is not None else ()
        if not grants:
            return []
        conn = server.connect(live)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM ({_ACLS}) a WHERE schema = %(s)s", {"s": schema})
                rows = cur.fetchall()
        finally:
            conn.close()
        live_acl = _acls(rows)
        out: list[str] = []
        if any(g.on == SCHEMA for g in grants):
            # The copy's schema has its own defaults (the public schema: PUBLIC's USAGE),
            # not live's: PUBLIC gets live's privileges exactly, roles below.
            from ..compile import quote

            what = f"SCHEMA {quote(schema)}"
            out.append(_grant_sql("REVOKE", ["all"], what, PUBLIC))
            public = live_acl.get((SCHEMA, schema, schema), {}).pop(PUBLIC, set())
            if public:
                out.append(_grant_sql("GRANT", sorted(public), what, PUBLIC))
        out += _statements(grants, set(), {}, live_acl)
        return [s + ";" for s in out]

    def unqualified(self, rec: Record, schema: str) -> Record | None:
        """GRANT / REVOKE ON SCHEMA <schema> as the DO block that runs it on the current
        schema (a revision names no schema)."""
        from pglast import ast, parse_sql

        from .. import statements

        if rec.object_type != SCHEMA_PRIVILEGE or rec.kind != "GrantStmt":
            return None
        stmt = parse_sql(rec.sql)[0].stmt
        found = schema_grant_of(stmt) if isinstance(stmt, ast.GrantStmt) else None
        if found is None or found.schema != schema:
            raise statements.StatementError(
                f"a schema privilege for a revision must be on {schema!r}, for one role: {rec.sql}"
            )
        return statements.parse(to_schema_block(found) + ";")

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowList

        me = state.rows("SELECT current_user, %(ns)s::oid")[0][0]
        out: dict[str, dict[str, Any]] = {}
        overloads: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for on, name, owner, explicit, entries in state.rows(_INSPECT):
            if on == SCHEMA:
                schema_roles: dict[str, list[str]] = {}
                for entry in entries:
                    role, privilege = entry.rsplit(" ", 1)
                    schema_roles.setdefault(role, []).append(privilege)
                if name == "public":  # created with USAGE for PUBLIC (PostgreSQL 15+)
                    if schema_roles.get(PUBLIC) == ["usage"]:
                        del schema_roles[PUBLIC]
                    elif PUBLIC not in schema_roles:
                        schema_roles[PUBLIC] = []
                if schema_roles:
                    out[SCHEMA] = {"roles": {r: FlowList(p) for r, p in schema_roles.items()}}
                continue
            if on == "default_privileges":
                entries_by_role: dict[str, list[str]] = {}
                for entry in entries:
                    role, privilege = entry.rsplit(" ", 1)
                    entries_by_role.setdefault(role, []).append(privilege)
                found = {r: FlowList(p) for r, p in entries_by_role.items()}
                if name == "functions" and PUBLIC in found:
                    del found[PUBLIC]  # the built-in default, kept in the entry
                elif name == "functions":
                    state.warn(
                        "default privileges on functions: PUBLIC's EXECUTE is revoked; "
                        "not in the format yet, left out"
                    )
                if found:
                    out.setdefault(on, {})[name] = found
                continue
            g: dict[str, Any] = {}
            if on == "sequences" and owner != name:  # `owner`: the name its column implies
                state.warn(
                    f"sequence {name}: only a serial or identity column's sequence "
                    "named table_column_seq takes grants in the format; left out"
                )
                continue
            if owner != me and on != "sequences":
                g["owner"] = owner
            roles: dict[str, list[str]] = {}
            for entry in entries:
                role, privilege = entry.rsplit(" ", 1)
                if privilege in DEFAULTS[on]:  # the same words per section
                    roles.setdefault(role, []).append(privilege)
                else:
                    state.warn(f"{on[:-1]} {name}: privilege {privilege} is not in the format")
            if on == "functions" and explicit and PUBLIC not in roles:
                g["manage_grants"] = True  # PUBLIC's default EXECUTE was revoked
            if roles:
                g["roles"] = {r: FlowList(p) for r, p in roles.items()}
            if on == "functions":  # grants by name: every overload's, compared below
                overloads.setdefault(name.split("(", 1)[0], []).append((name, g))
                continue
            if g:
                out.setdefault(on, {})[name] = g
        for key, versions in overloads.items():
            first, g = versions[0]
            if any(other != g for _, other in versions[1:]):
                state.warn(
                    f"function {key}: its overloads differ in owner or privileges, and grants "
                    f"name a function (every overload); written as those of {first}"
                )
            if g:
                out.setdefault("functions", {})[key] = g
        return out


def _changes_owner(rec: Record) -> bool:
    """ALTER TABLE / VIEW ... OWNER TO."""
    from ..statements import unnamed_commands

    if rec.kind != "AlterTableStmt" or not unnamed_commands(rec):
        return False
    from pglast import ast, parse_sql
    from pglast.enums import AlterTableType

    stmt = parse_sql(rec.sql)[0].stmt
    return isinstance(stmt, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and c.subtype == AlterTableType.AT_ChangeOwner
        for c in stmt.cmds or ()
    )


# ------------------------------------------------------- privileges on the current schema
# GRANT ... ON SCHEMA needs the schema's name, and a revision names none: it runs the
# GRANT / REVOKE as a DO block that formats the current schema's name with %I,
#     DO $grant$BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(),
#     'app_rw'); END$grant$
# the role a string literal formatted with %I (PUBLIC a keyword in the template), under a
# dollar-quote tag the body does not hold. read_schema_block understands such a block with
# PostgreSQL's parsers (PL/pgSQL for the body, SQL for format() and the GRANT it builds),
# so the plan classifies it; to_schema_block proves each rewrite reads back the same.
_STAND_IN = "bindu_current_schema"  # the schema's %I while reading a block


@dataclass(frozen=True)
class SchemaGrant:
    """One GRANT or REVOKE on a schema, for one role."""

    is_grant: bool
    privileges: tuple[str, ...]  # lower case, sorted; () is ALL
    role: str  # "public" for PUBLIC
    schema: str | None = None  # None: the current schema (a DO block)


def schema_block(verb: str, privileges: Sequence[str], role: str) -> str:
    """GRANT / REVOKE `privileges` (["all"]: every one) on the current schema for `role`."""
    from ..literals import quote_literal

    word = "TO" if verb == "GRANT" else "FROM"
    privs = ", ".join(p.upper() for p in sorted(privileges))
    if role == PUBLIC:
        template = f"{verb} {privs} ON SCHEMA %I {word} PUBLIC"
        call = f"format({quote_literal(template)}, current_schema())"
    else:
        template = f"{verb} {privs} ON SCHEMA %I {word} %I"
        call = f"format({quote_literal(template)}, current_schema(), {quote_literal(role)})"
    body = f"BEGIN EXECUTE {call}; END"
    tag, n = "$grant$", 0
    while tag in body:  # a role name holding the tag cannot end the body
        n += 1
        tag = f"$grant{n}$"
    return f"DO {tag}{body}{tag}"


def schema_grant_of(stmt: ast.GrantStmt) -> SchemaGrant | None:
    """A GRANT / REVOKE on one schema for one role, without GRANT OPTION; else None."""
    from pglast.enums import GrantTargetType, ObjectType, RoleSpecType

    objects, grantees = stmt.objects or (), stmt.grantees or ()
    if (
        stmt.objtype != ObjectType.OBJECT_SCHEMA
        or stmt.targtype != GrantTargetType.ACL_TARGET_OBJECT
        or len(objects) != 1
        or len(grantees) != 1
        or stmt.grant_option
    ):
        return None
    spec = grantees[0]
    if spec.roletype == RoleSpecType.ROLESPEC_PUBLIC:
        role = PUBLIC
    elif spec.roletype == RoleSpecType.ROLESPEC_CSTRING and spec.rolename:
        role = str(spec.rolename)
    else:
        return None
    if any(p.cols for p in stmt.privileges or ()):
        return None
    privs = tuple(sorted(str(p.priv_name) for p in stmt.privileges or ()))
    schema = str(objects[0].sval)
    return SchemaGrant(bool(stmt.is_grant), privs, role, schema)


def read_schema_block(sql: str) -> SchemaGrant | None:
    """The grant a DO block of `schema_block`'s shape runs (schema None); None: another DO."""
    import json

    from pglast import ast, parse_sql
    from pglast.parser import ParseError, parse_plpgsql_json

    try:
        fn = json.loads(parse_plpgsql_json(sql))[0]["PLpgSQL_function"]
    except (ParseError, ValueError, KeyError, IndexError, TypeError):
        return None
    steps = fn.get("action", {}).get("PLpgSQL_stmt_block", {}).get("body", [])
    # the block: one dynamic EXECUTE (no INTO, no USING), then the implicit RETURN
    if len(steps) != 2 or set(steps[1]) != {"PLpgSQL_stmt_return"}:
        return None
    ex = steps[0].get("PLpgSQL_stmt_dynexecute")
    if not isinstance(ex, dict) or set(ex) != {"lineno", "query"}:
        return None
    try:
        select = parse_sql("SELECT " + ex["query"]["PLpgSQL_expr"]["query"])
    except (ParseError, KeyError, TypeError):
        return None
    if len(select) != 1 or not isinstance(select[0].stmt, ast.SelectStmt):
        return None
    s = select[0].stmt
    targets = s.targetList or ()
    if len(targets) != 1 or s.fromClause or s.whereClause:
        return None
    call = targets[0].val
    if not isinstance(call, ast.FuncCall) or _names(call) != ["format"]:
        return None
    args = list(call.args or ())
    if not 2 <= len(args) <= 3 or not all(_text(a) is not None for a in args[:1] + args[2:]):
        return None
    here = args[1]
    if not (
        isinstance(here, ast.FuncCall) and _names(here) == ["current_schema"] and not here.args
    ):
        return None
    template = _text(args[0]) or ""
    pieces = template.split("%I")
    role_arg = _text(args[2]) if len(args) == 3 else None
    # %I for the schema, and for the role exactly when the role is an argument; no other %
    if len(pieces) != (3 if role_arg is not None else 2) or any("%" in p for p in pieces):
        return None
    from ..compile import quote

    names = [quote(_STAND_IN)] + ([quote(role_arg)] if role_arg is not None else [])
    text = pieces[0] + "".join(n + p for n, p in zip(names, pieces[1:], strict=True))
    try:
        inner = parse_sql(text)
    except ParseError:
        return None
    if len(inner) != 1 or not isinstance(inner[0].stmt, ast.GrantStmt):
        return None
    found = schema_grant_of(inner[0].stmt)
    if found is None or found.schema != _STAND_IN:
        return None
    if role_arg is None and found.role != PUBLIC:
        return None
    return SchemaGrant(found.is_grant, found.privileges, found.role, None)


def _names(call: ast.FuncCall) -> list[str]:
    return [str(n.sval) for n in call.funcname or ()]


def _text(node: object) -> str | None:
    from pglast import ast

    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def to_schema_block(g: SchemaGrant) -> str:
    """The DO block that runs `g` on the current schema, proved to read back as `g`."""
    verb = "GRANT" if g.is_grant else "REVOKE"
    sql = schema_block(verb, list(g.privileges) or ["all"], g.role)
    back = read_schema_block(sql)
    if back is None or back != SchemaGrant(g.is_grant, g.privileges, g.role, None):
        from ..statements import StatementError

        raise StatementError(f"a schema privilege did not survive its DO block: {sql}")
    return sql


KIND = Grants()
