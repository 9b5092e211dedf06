"""Enum types: `enums: {task_state: {values: [submitted, working, ...]}}`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..statements import Record


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...]


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


class Enums(base.Kind):
    key = "enums"
    word = "enum"
    object_types = ("type",)
    pg_objects = (("OBJECT_TYPE", "type"), ("OBJECT_DOMAIN", "type"))

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import qualified_name, relation, strings

        if isinstance(stmt, ast.CreateEnumStmt | ast.AlterEnumStmt):
            schema, name = qualified_name(strings(stmt.typeName))
        elif isinstance(stmt, ast.CreateDomainStmt):
            schema, name = qualified_name(strings(stmt.domainname))
        elif isinstance(stmt, ast.CompositeTypeStmt):
            schema, name = relation(stmt.typevar)
        else:
            return None
        return replace(rec, object_type="type", schema=schema, name=name)

    def fragment(self) -> dict[str, Any]:
        values = {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}
        return base.named_map({"values": values}, ["values"])

    def build(self, section: Any) -> tuple[Enum, ...]:
        return tuple(
            Enum(name, tuple(str(v) for v in e["values"])) for name, e in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        for e in ctx.schema.enums:
            ctx.check_ident(("enums", e.name), e.name, "enum")

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified
        from ..literals import quote_literal

        out = []
        for en in schema.enums:
            values = ", ".join(quote_literal(v) for v in en.values)
            sql = f"CREATE TYPE {qualified(en.name, target_schema)} AS ENUM ({values})"
            out.append((base.TYPES, DDL(sql, f"enum {en.name}")))
        return out

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK

        if rec.kind == "DropStmt" and rec.objtype == "type":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        return set()

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        def changes(self: Any, new: Any) -> list[str]:
            if not self.can_be_changed_to(new):
                raise ValueError
            out: list[str] = []
            previous = None
            for c in new.elements:
                if c not in self.elements:
                    where = (
                        f"before {lit(self.elements[0])}"
                        if previous is None
                        else (f"after {lit(previous)}")
                    )
                    out.append(f"alter type {self.quoted_full_name} add value {lit(c)} {where};")
                previous = c
            return out

        obj.InspectedEnum.quoted_elements = property(
            lambda self: ", ".join(lit(e) for e in self.elements)
        )
        obj.InspectedEnum.change_statements = changes

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowList, FlowMap

        enums: dict[str, Any] = {}
        for name, typtype, labels in state.rows(_TYPES):
            if typtype == "e":
                enums[name] = FlowMap(values=FlowList(labels))
            else:
                what = {"d": "domain", "r": "range type", "m": "multirange type"}.get(
                    typtype, "composite type"
                )
                if typtype != "m":  # a multirange comes with its range
                    state.warn(f"{what} {name}: not in the format; left out")
        return enums


KIND = Enums()
