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
    from ..renames import Rename
    from ..statements import Record


# migra's name for the old type while an enum is rebuilt (migra/changes.py)
REBUILD_SUFFIX = "__old_version_to_be_dropped"


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...]
    renamed_values: tuple[tuple[str, str], ...] = ()  # (new, old): ALTER TYPE RENAME VALUE


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
        elif isinstance(stmt, ast.CompositeTypeStmt):
            schema, name = relation(stmt.typevar)
        else:
            return None
        return replace(rec, object_type="type", schema=schema, name=name)

    def fragment(self) -> dict[str, Any]:
        values = {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}
        renamed = {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "new value: old value (ALTER TYPE ... RENAME VALUE)",
        }
        return base.named_map({"values": values, "renamed_values": renamed}, ["values"])

    def build(self, section: Any) -> tuple[Enum, ...]:
        return tuple(
            Enum(
                name,
                tuple(str(v) for v in e["values"]),
                tuple((str(k), str(v)) for k, v in (e.get("renamed_values") or {}).items()),
            )
            for name, e in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        for e in ctx.schema.enums:
            ctx.check_ident(("enums", e.name), e.name, "enum")
            for new, old in e.renamed_values:
                if new not in e.values:
                    ctx.err(
                        ("enums", e.name, "renamed_values", new),
                        f"enum '{e.name}': renamed value '{new}' is not one of its values; "
                        "list it under 'values' or fix the name",
                        key=True,
                    )
                if old in e.values:
                    ctx.err(
                        ("enums", e.name, "renamed_values", new),
                        f"enum '{e.name}': '{new}' is renamed from '{old}', which is still one "
                        "of its values; remove the hint or the old value",
                    )

    catalog_sql = """
SELECT 'ev', e.enumlabel, t.typname, NULL FROM pg_enum e
  JOIN pg_type t ON t.oid = e.enumtypid
  JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = %(schema)s"""
    catalog_tags = ("ev",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"enum_values": frozenset((rel, name) for _, name, rel, _ in rows)}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        """ALTER TYPE ... RENAME VALUE for each hint whose old value the database has (and
        not the new one); a hint that matches neither is an error."""
        from .. import statements
        from ..compile import qualified
        from ..literals import quote_literal
        from ..renames import Rename, RenameError

        have: frozenset[tuple[str, str]] = facts.others.get("enum_values", frozenset())
        out: list[Rename] = []
        for e in schema.enums:
            q = qualified(e.name, target_schema)
            for new, old in e.renamed_values:
                if (e.name, new) in have:
                    continue  # applied already
                if (e.name, old) not in have:
                    if any(n == e.name for n, _ in have):
                        raise RenameError(
                            f"enum '{e.name}': renamed value '{new}' from '{old}', but {where} "
                            f"has neither; fix the old value or remove the hint"
                        )
                    continue  # the enum is new there
                up = f"ALTER TYPE {q} RENAME VALUE {quote_literal(old)} TO {quote_literal(new)};"
                down = f"ALTER TYPE {q} RENAME VALUE {quote_literal(new)} TO {quote_literal(old)};"
                out.append(
                    Rename(
                        statements.parse(up, "AlterEnumStmt"),
                        statements.parse(down, "AlterEnumStmt"),
                        f"enum {e.name} value {new}",
                    )
                )
        return out

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
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK, ENUM_REBUILD

        if rec.kind == "DropStmt" and rec.objtype == "type":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        if rec.kind == "RenameStmt" and (rec.new_name or "").endswith(REBUILD_SUFFIX):
            return {ENUM_REBUILD}  # migra's way to change an enum that cannot change in place
        return set()

    def temporary_names(self, i_from: Any, i_target: Any) -> set[str]:
        """migra rebuilds an enum that loses or reorders values under a temporary name."""
        return {e.name + REBUILD_SUFFIX for e in i_from.enums.values()}

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

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra rebuilds every changed enum (rename, create, recast each column, drop),
        even when values are only added, which ALTER TYPE ... ADD VALUE does in place
        without a rewrite or a lock on the tables. Where the old values keep their order
        among the new ones, the rebuild is replaced by the ADD VALUE statements."""
        from .. import statements

        for key, want in i_target.enums.items():
            have = i_from.enums.get(key)
            if have is None or list(have.elements) == list(want.elements):
                continue
            kept = [v for v in want.elements if v in have.elements]
            if kept != list(have.elements):
                continue  # a value removed or moved: the rebuild stays (ENUM_REBUILD)
            temporary = have.name + REBUILD_SUFFIX
            rebuild = {  # migra's own texts of the rebuild (migra/changes.py)
                have.alter_rename_statement(temporary).strip(),
                want.create_statement.strip(),
                have.drop_statement_with_rename(temporary).strip(),
            }
            for tkey, table in i_target.tables.items():
                before = i_from.tables.get(tkey)
                for cname, col in table.columns.items():
                    old = before.columns.get(cname) if before is not None else None
                    if old is None or not (col.is_enum and old.is_enum):
                        continue
                    if col.enum.quoted_full_name != want.quoted_full_name:
                        continue
                    rebuild.add(col.change_enum_statement(table.quoted_full_name).strip())
                    if old.default and not old.is_generated:
                        rebuild.add(old.drop_default_statement(tkey).strip())
                        rebuild.add(old.add_default_statement(tkey).strip())
            at = next((i for i, r in enumerate(records) if r.sql in rebuild), None)
            if at is None:
                continue
            adds = [statements.parse(sql) for sql in have.change_statements(want)]
            kept_records = [r for r in records if r.sql not in rebuild]
            records = kept_records[:at] + adds + kept_records[at:]
        return records

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowList, FlowMap

        enums: dict[str, Any] = {}
        for name, typtype, labels in state.rows(_TYPES):
            if typtype == "e":
                enums[name] = FlowMap(values=FlowList(labels))
            elif typtype not in ("d", "c"):  # domains and composite types: their kinds'
                what = {"r": "range type", "m": "multirange type"}.get(typtype, "composite type")
                if typtype != "m":  # a multirange comes with its range
                    state.warn(f"{what} {name}: not in the format; left out")
        return enums


KIND = Enums()
