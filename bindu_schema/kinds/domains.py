"""Domains: `domains: {name: {type, not_null, default, checks: {name: expression}, comment}}`.

A domain is a type with constraints (`CREATE DOMAIN email AS text CHECK (VALUE LIKE
'%@%')`); columns name it as their type. migra inspects domains but never diffs them, so
this kind writes their statements itself: CREATE DOMAIN before everything that may use
one, ALTER DOMAIN for a changed default, NOT NULL or check, DROP DOMAIN after the columns
that used it changed. A domain's base type or collation cannot change in place: the plan
is refused, naming the domain and what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..statements import Record

KEY = "domains"


@dataclass(frozen=True)
class Domain:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    checks: tuple[tuple[str, str], ...] = ()  # (constraint name, expression)
    comment: str | None = None


def domains(schema: model.Schema) -> tuple[Domain, ...]:
    return schema.objects(KEY)


# One row per domain of the schema; its checks as JSON [[name, definition], ...].
_DOMAINS = """
SELECT t.typname, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
       pg_get_expr(t.typdefaultbin, 0),
       coalesce((SELECT json_agg(json_build_array(k.conname, pg_get_constraintdef(k.oid, true))
                                 ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'), '[]'),
       obj_description(t.oid, 'pg_type'),
       t.typcollation <> b.typcollation
FROM pg_type t
JOIN pg_type b ON b.oid = t.typbasetype
WHERE t.typnamespace = %(ns)s AND t.typtype = 'd'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.typname
"""

# schemainspect's domains query, one row per domain (its own gives one per constraint and
# keeps the last); `check` holds the checks as JSON, read by _checks().
_MIGRA_DOMAINS = """
SELECT n.nspname AS "schema", t.typname AS "name",
       format_type(t.typbasetype, t.typtypmod) AS "data_type",
       (SELECT c.collname FROM pg_collation c WHERE c.oid = t.typcollation
          AND t.typcollation <> b.typcollation) AS "collation",
       NULL::text AS "constraint_name", t.typnotnull AS "not_null",
       pg_get_expr(t.typdefaultbin, 0) AS "default",
       coalesce((SELECT json_agg(json_build_array(k.conname, pg_get_constraintdef(k.oid, true))
                                 ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'), '[]')::text
         AS "check"
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_type b ON b.oid = t.typbasetype
WHERE t.typtype = 'd' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

_DOMAIN_COMMENTS = """
SELECT t.typname, NULL::text, d.description
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass
WHERE n.nspname = :schema AND t.typtype = 'd'"""


class DomainChangeError(Exception):
    """A domain change PostgreSQL cannot make in place (raised as a BinduSchemaError)."""


def _checks(d: Any) -> list[tuple[str, str]]:
    """(name, definition) of an inspected domain's checks (the patched query's JSON)."""
    try:
        found = json.loads(d.check or "[]")
    except ValueError:
        return []
    return [(str(n), str(defn)) for n, defn in found]


class Domains(base.Kind):
    key = KEY
    word = "domain"
    excludable = False
    comments = (base.CommentSource("domain", 1, _DOMAIN_COMMENTS),)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import qualified_name, strings

        if isinstance(stmt, ast.CreateDomainStmt):
            schema, name = qualified_name(strings(stmt.domainname))
        elif isinstance(stmt, ast.AlterDomainStmt):
            schema, name = qualified_name(strings(stmt.typeName))
        else:
            return None
        return replace(rec, object_type="type", schema=schema, name=name)

    def fragment(self) -> dict[str, Any]:
        return base.named_map(
            {
                "type": dict(base.NAME),
                "not_null": {"type": "boolean"},
                "default": dict(base.NAME),
                "checks": {
                    "type": "object",
                    "additionalProperties": dict(base.NAME),
                    "propertyNames": {"minLength": 1},
                },
                "comment": {"type": "string"},
            },
            ["type"],
        )

    def build(self, section: Any) -> tuple[Domain, ...]:
        return tuple(
            Domain(
                name=name,
                type=d["type"],
                not_null=d.get("not_null", False),
                default=d.get("default"),
                checks=tuple((d.get("checks") or {}).items()),
                comment=d.get("comment"),
            )
            for name, d in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        from .. import fragments

        enums = {e.name for e in ctx.schema.enums}
        for d in domains(ctx.schema):
            path: base.PathKey = (KEY, d.name)
            ctx.check_ident(path, d.name, "domain")
            if d.name in enums:
                ctx.err(
                    path,
                    f"domain '{d.name}': an enum has the same name (types share one "
                    "namespace); rename one of them",
                    key=True,
                )
            why = fragments.type_name(d.type)
            if why is not None:
                ctx.err(
                    (*path, "type"),
                    f"domain '{d.name}': 'type' must be one type, but {why}; fix it",
                )
            if d.default is not None and (why := fragments.expression(d.default)):
                ctx.err(
                    (*path, "default"),
                    f"domain '{d.name}': the default must be exactly one SQL expression, "
                    f"but {why}; fix the default",
                )
            for cname, expression in d.checks:
                ctx.check_ident((*path, "checks", cname), cname, "check constraint")
                if why := fragments.expression(expression):
                    ctx.err(
                        (*path, "checks", cname),
                        f"domain '{d.name}': check '{cname}' must be exactly one SQL "
                        f"expression (VALUE is the value), but {why}; fix the expression",
                    )

    def expressions(self, schema: model.Schema) -> list[str]:
        out: list[str] = []
        for d in domains(schema):
            out += [e for _, e in d.checks] + ([d.default] if d.default else [])
        return out

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified, quote
        from ..literals import quote_literal

        out: list[tuple[int, DDL]] = []
        for d in domains(schema):
            # Every part was checked by PostgreSQL's parser (check()); names are quoted.
            sql = f"CREATE DOMAIN {qualified(d.name, target_schema)} AS {d.type}"
            if d.default is not None:
                sql += f" DEFAULT {d.default}"
            if d.not_null:
                sql += " NOT NULL"
            for cname, expression in d.checks:
                sql += f" CONSTRAINT {quote(cname)} CHECK ({expression})"
            out.append((base.TYPES, DDL(sql, f"domain {d.name}")))
            if d.comment is not None:
                sql = (
                    f"COMMENT ON DOMAIN {qualified(d.name, target_schema)} IS "
                    f"{quote_literal(d.comment)}"
                )
                out.append((base.COMMENTS, DDL(sql, f"comment on domain {d.name}")))
        return out

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from pglast import ast, parse_sql

        from ..hazards import CONSTRAINT_VALIDATION

        if rec.kind != "AlterDomainStmt":
            return set()
        stmt = parse_sql(rec.sql)[0].stmt
        # ADD CONSTRAINT and SET NOT NULL check every column of the domain's type
        if isinstance(stmt, ast.AlterDomainStmt) and stmt.subtype in ("C", "O"):
            return {CONSTRAINT_VALIDATION}
        return set()

    def patch_migra_queries(self, obj: Any) -> None:
        obj.DOMAINS_QUERY = _MIGRA_DOMAINS

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra never diffs domains: their statements, creates and changes before the
        rest (a column may take the new domain as its type), drops after it."""
        from .. import statements
        from ..errors import BinduSchemaError

        first: list[str] = []
        last: list[str] = []
        for key, want in sorted(i_target.domains.items()):
            have = i_from.domains.get(key)
            try:
                first += _changes(have, want)
            except DomainChangeError as exc:
                raise BinduSchemaError(str(exc)) from None
        for key, have in sorted(i_from.domains.items()):
            if key not in i_target.domains:
                last.append(f"DROP DOMAIN {_name(have)};")
        if not (first or last):
            return records
        lead = 0  # after the extensions and enums a domain may be based on
        while lead < len(records) and records[lead].kind in _BEFORE_DOMAINS:
            lead += 1
        made = [statements.parse(s) for s in first]
        return records[:lead] + made + records[lead:] + [statements.parse(s) for s in last]

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowMap, short_type, strip_outer_parens

        enum_names = set(state.sections.get("enums") or ())
        out: dict[str, Any] = {}
        for name, typ, not_null, default, checks, comment, collated in state.rows(_DOMAINS):
            d: dict[str, Any] = {"type": short_type(typ, enum_names)}
            if not_null:
                d["not_null"] = True
            if default is not None:
                d["default"] = default
            found = {}
            for cname, definition in checks:
                expr = definition.removeprefix("CHECK ").strip()
                found[cname] = strip_outer_parens(expr)
            if found:
                d["checks"] = found
            if comment is not None:
                d["comment"] = comment
            if collated:
                state.warn(f"domain {name}: a COLLATE clause is not in the format; left out")
            out[name] = FlowMap(d) if len(d) == 1 else d
        return out


_BEFORE_DOMAINS = frozenset(
    {"CreateExtensionStmt", "AlterExtensionStmt", "CreateEnumStmt", "AlterEnumStmt"}
)


def _name(d: Any) -> str:
    from ..compile import qualified

    return qualified(d.name, d.schema)


def _changes(have: Any, want: Any) -> list[str]:
    """Statements that turn domain `have` (None: absent) into `want`, both inspected."""
    from ..compile import quote

    name = _name(want)
    checks = dict(_checks(want))
    if have is None:
        sql = f"CREATE DOMAIN {name} AS {want.data_type}"
        if want.collation:
            sql += f" COLLATE {quote(want.collation)}"
        if want.default is not None:
            sql += f" DEFAULT {want.default}"
        if want.not_null:
            sql += " NOT NULL"
        sql += "".join(f" CONSTRAINT {quote(n)} {d}" for n, d in sorted(checks.items()))
        return [sql + ";"]
    for attr, what in (("data_type", "base type"), ("collation", "collation")):
        if getattr(have, attr) != getattr(want, attr):
            raise DomainChangeError(
                f"domain {want.name}: its {what} changes from {getattr(have, attr)} to "
                f"{getattr(want, attr)}, which PostgreSQL cannot do in place; declare a new "
                "domain, move the columns to it, then remove the old one"
            )
    out: list[str] = []
    if have.default != want.default:
        out.append(
            f"ALTER DOMAIN {name} DROP DEFAULT;"
            if want.default is None
            else f"ALTER DOMAIN {name} SET DEFAULT {want.default};"
        )
    if have.not_null != want.not_null:
        out.append(f"ALTER DOMAIN {name} {'SET' if want.not_null else 'DROP'} NOT NULL;")
    old = dict(_checks(have))
    for n in sorted(old):
        if checks.get(n) != old[n]:
            out.append(f"ALTER DOMAIN {name} DROP CONSTRAINT {quote(n)};")
    for n in sorted(checks):
        if old.get(n) != checks[n]:
            out.append(f"ALTER DOMAIN {name} ADD CONSTRAINT {quote(n)} {checks[n]};")
    return out


KIND = Domains()
