"""Composite types: `composite_types: {name: {attributes: {name: type, ...}, comment}}`.

`CREATE TYPE pair AS (a integer, b text)`, used as a column or argument type. migra
creates and drops composite types but changes one by dropping and creating it, which
PostgreSQL refuses while a column uses it; this kind plans a change as ALTER TYPE ... ADD
/ DROP / ALTER ATTRIBUTE instead, in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..compile import DDL
    from ..statements import Record

KEY = "composite_types"


@dataclass(frozen=True)
class CompositeType:
    name: str
    attributes: tuple[tuple[str, str], ...]  # (name, type), in order
    comment: str | None = None


def composites(schema: model.Schema) -> tuple[CompositeType, ...]:
    return schema.objects(KEY)


_COMPOSITES = """
SELECT t.typname,
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t.typrelid
               AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
       ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum),
       obj_description(t.oid, 'pg_type')
FROM pg_type t
JOIN pg_class r ON r.oid = t.typrelid
WHERE t.typnamespace = %(ns)s AND t.typtype = 'c' AND r.relkind = 'c'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.typname
"""

_COMPOSITE_COMMENTS = """
SELECT t.typname, NULL::text, d.description
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_class r ON r.oid = t.typrelid AND r.relkind = 'c'
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass
WHERE n.nspname = :schema AND t.typtype = 'c'"""


class CompositeTypes(base.Kind):
    key = KEY
    word = "composite type"
    relkinds = ("c",)
    comments = (base.CommentSource("type", 1, _COMPOSITE_COMMENTS),)

    def fragment(self) -> dict[str, Any]:
        return base.named_map(
            {
                "attributes": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": dict(base.NAME),
                    "propertyNames": {"minLength": 1},
                },
                "comment": {"type": "string"},
            },
            ["attributes"],
        )

    def build(self, section: Any) -> tuple[CompositeType, ...]:
        return tuple(
            CompositeType(
                name, tuple((str(k), str(v)) for k, v in c["attributes"].items()), c.get("comment")
            )
            for name, c in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        from .. import fragments

        taken = {e.name for e in ctx.schema.enums} | {d.name for d in ctx.schema.objects("domains")}
        for c in composites(ctx.schema):
            path: base.PathKey = (KEY, c.name)
            ctx.check_ident(path, c.name, "composite type")
            # its row type lives among the relations (pg_class), like a table's
            ctx.claim(c.name, path, "composite type")
            if c.name in taken:
                ctx.err(
                    path,
                    f"composite type '{c.name}': an enum or domain has the same name (types "
                    "share one namespace); rename one of them",
                    key=True,
                )
            for attr, typ in c.attributes:
                ap: base.PathKey = (*path, "attributes", attr)
                ctx.check_ident(ap, attr, "attribute")
                why = fragments.type_name(typ)
                if why is not None:
                    ctx.err(
                        ap,
                        f"composite type '{c.name}': attribute '{attr}' must have one type, "
                        f"but {why}; fix it",
                    )

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified, quote
        from ..literals import quote_literal

        out: list[tuple[int, DDL]] = []
        for c in composites(schema):
            # attribute types were checked to be one type each (fragments.type_name)
            attrs = ", ".join(f"{quote(a)} {t}" for a, t in c.attributes)
            name = qualified(c.name, target_schema)
            out.append((base.TYPES, DDL(f"CREATE TYPE {name} AS ({attrs})", f"type {c.name}")))
            if c.comment is not None:
                sql = f"COMMENT ON TYPE {name} IS {quote_literal(c.comment)}"
                out.append((base.COMMENTS, DDL(sql, f"comment on type {c.name}")))
        return out

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra changes a composite type by DROP TYPE and CREATE TYPE, which fails while a
        column uses it: ALTER TYPE ... ADD / DROP / ALTER ATTRIBUTE instead, where the
        create would have been."""
        from .. import statements
        from ..compile import quote

        out = list(records)
        for key, want in sorted(i_target.composite_types.items()):
            have = i_from.composite_types.get(key)
            if have is None:
                continue
            drop = have.drop_statement.strip()
            create = want.create_statement.strip()
            at = next((i for i, r in enumerate(out) if r.sql == create), None)
            if at is None or not any(r.sql == drop for r in out):
                continue
            old = {n: c.dbtypestr for n, c in have.columns.items()}
            new = {n: c.dbtypestr for n, c in want.columns.items()}
            name = want.quoted_full_name
            alters = [f"ALTER TYPE {name} DROP ATTRIBUTE {quote(n)};" for n in old if n not in new]
            alters += [
                f"ALTER TYPE {name} ALTER ATTRIBUTE {quote(n)} TYPE {t};"
                for n, t in new.items()
                if n in old and old[n] != t
            ]
            alters += [
                f"ALTER TYPE {name} ADD ATTRIBUTE {quote(n)} {t};"
                for n, t in new.items()
                if n not in old
            ]
            made = [statements.parse(s) for s in alters]
            out = [r for r in out[:at] if r.sql != drop] + made + out[at + 1 :]
        return _around_tables(out, i_from, i_target)

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowMap, short_type

        enum_names = set(state.sections.get("enums") or ())
        out: dict[str, Any] = {}
        for name, attnames, types, comment in state.rows(_COMPOSITES):
            c: dict[str, Any] = {
                "attributes": FlowMap(
                    {a: short_type(t, enum_names) for a, t in zip(attnames, types, strict=True)}
                )
            }
            if comment is not None:
                c["comment"] = comment
            out[name] = c
        return out


_BEFORE = frozenset(
    {"CreateExtensionStmt", "AlterExtensionStmt", "CreateEnumStmt", "AlterEnumStmt"}
)


def _around_tables(records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
    """migra creates composite types after the table changes and drops them before: a new
    column of a new type, or a type a dropped column used, fails. New types go first (after
    extensions and enums, with the domains), dropped ones last."""
    new = {
        t.create_statement.strip()
        for k, t in i_target.composite_types.items()
        if k not in i_from.composite_types
    }
    gone = {
        t.drop_statement.strip()
        for k, t in i_from.composite_types.items()
        if k not in i_target.composite_types
    }
    creates = [r for r in records if r.sql in new]
    drops = [r for r in records if r.sql in gone]
    rest = [r for r in records if r.sql not in new and r.sql not in gone]
    lead = 0
    while lead < len(rest) and (
        rest[lead].kind in _BEFORE or rest[lead].kind.endswith("DomainStmt")
    ):
        lead += 1
    return rest[:lead] + creates + rest[lead:] + drops


KIND = CompositeTypes()
