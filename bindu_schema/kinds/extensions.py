"""Extensions: `extensions: [pgcrypto, {name: vector, schema: public}]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..compile import DDL
    from ..statements import Record


@dataclass(frozen=True)
class Extension:
    name: str
    schema: str | None = None


_EXTENSIONS = """
SELECT e.extname, n.nspname FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
ORDER BY e.extname
"""


class Extensions(base.Kind):
    key = "extensions"
    word = "extension"
    object_types = ("extension",)
    pg_objects = (("OBJECT_EXTENSION", "extension"),)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        if not isinstance(stmt, ast.CreateExtensionStmt | ast.AlterExtensionStmt):
            return None
        return replace(rec, object_type="extension", name=stmt.extname)

    def fragment(self) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {
                "oneOf": [
                    dict(base.NAME),
                    base.entry({"name": dict(base.NAME), "schema": dict(base.NAME)}, ["name"]),
                ]
            },
        }

    def build(self, section: Any) -> tuple[Extension, ...]:
        return tuple(
            Extension(e) if isinstance(e, str) else Extension(e["name"], e.get("schema"))
            for e in section or ()
        )

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, quote

        out = []
        for ext in schema.extensions:
            where = f" SCHEMA {quote(ext.schema)}" if ext.schema else ""
            sql = f"CREATE EXTENSION IF NOT EXISTS {quote(ext.name)}{where}"
            out.append((base.SETUP, DDL(sql, f"extension {ext.name}")))
        return out

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        obj.InspectedExtension.update_statement = property(
            lambda self: (
                None
                if not self.version
                else f"alter extension {self.quoted_name} update to {lit(self.version)};"
            )
        )

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowList, FlowMap

        found: list[Any] = []
        for name, nsp in state.rows(_EXTENSIONS):
            found.append(name if nsp == state.schema_name else FlowMap(name=name, schema=nsp))
        return FlowList(found) if all(isinstance(e, str) for e in found) else found


KIND = Extensions()
