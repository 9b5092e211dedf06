"""Tables: `tables: {name: {comment, columns, primary_key, ..., renamed_from}}`.

A table is made of parts (columns, constraints, indexes, triggers), each a `base.TablePart` in
a module of its own, iterated here in the order of PARTS: a part owns its YAML keys inside
a table, its fields of `Table`, its validation, DDL, renames, inspection and hazards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


from .columns import PART as COLUMNS
from .columns import Column
from .constraints import PART as CONSTRAINTS
from .constraints import Check, Exclusion, ForeignKey, PrimaryKey, Unique
from .indexes import PART as INDEXES
from .indexes import Index, IndexItem
from .partitions import PART as PARTITIONS
from .partitions import Partition, PartitionBy
from .policies import PART as POLICIES
from .policies import Policy, RowLevelSecurity
from .table_options import PART as TABLE_OPTIONS
from .table_options import ReplicaIdentity
from .triggers import PART as TRIGGERS
from .triggers import Trigger

PARTS: tuple[base.TablePart, ...] = (
    COLUMNS,
    CONSTRAINTS,
    INDEXES,
    TRIGGERS,
    POLICIES,
    TABLE_OPTIONS,
    PARTITIONS,
)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    comment: str | None = None
    primary_key: PrimaryKey | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    checks: tuple[Check, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    row_level_security: RowLevelSecurity | None = None
    policies: tuple[Policy, ...] = ()
    renamed_from: str | None = None
    unlogged: bool = False
    options: tuple[tuple[str, str], ...] = ()  # storage parameters (name, value as written)
    replica_identity: ReplicaIdentity | None = None
    partition_by: PartitionBy | None = None
    partitions: tuple[Partition, ...] = ()
    monthly: tuple[str, str] | None = None  # generated monthly range partitions (from, to)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


__all__ = ["Table", "PARTS", "IndexItem"]

_TABLES = """
SELECT c.oid, c.relname, c.relkind, c.relispartition, obj_description(c.oid, 'pg_class'),
       c.relpersistence, c.relrowsecurity
FROM pg_class c
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_SEQUENCES = """
SELECT s.relname
FROM pg_class s
WHERE s.relnamespace = %(ns)s AND s.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = s.oid AND d.deptype IN ('a', 'i', 'e'))
ORDER BY s.relname
"""

_TABLE_COMMENTS = """
SELECT c.relname, NULL::text, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"""

# ALTER TABLE sub-commands that take a weaker lock than ACCESS EXCLUSIVE (SHARE UPDATE
# EXCLUSIVE; ATTACH PARTITION's lock on a default partition is the partitions part's).
_WEAKER_LOCK = ("validate_constraint", "attach_partition")


def _alter_table(rec: Record, facts: Facts) -> set[str]:
    from ..hazards import (
        ACQUIRES_ACCESS_EXCLUSIVE_LOCK,
        CONSTRAINT_VALIDATION,
        DELETES_DATA,
        INDEX_BUILD,
        NOT_NULL_SCAN,
        TABLE_REWRITE,
        type_change_hazards,
    )

    found: set[str] = set()
    table = rec.table or ""
    existing = table in facts.tables
    cmds = rec.commands
    # VALIDATE, ATTACH PARTITION (SHARE UPDATE EXCLUSIVE), ADD FOREIGN KEY (SHARE ROW
    # EXCLUSIVE).
    weaker = bool(cmds) and all(
        c.op in _WEAKER_LOCK or (c.op == "add_constraint" and c.constraint == "foreign")
        for c in cmds
    )
    if existing and not weaker:
        found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
    for c in cmds:
        if c.op == "drop_column":
            found.add(DELETES_DATA)
        elif c.op == "alter_type" and c.type_name is not None:
            old = facts.columns.get((table, c.name or ""))
            found |= type_change_hazards(old, c.type_name)
        elif c.op == "set_not_null" and existing:
            found.add(NOT_NULL_SCAN)
        elif c.op == "add_column" and existing:
            if c.not_null and not c.has_default:
                found.add(NOT_NULL_SCAN)
            if c.volatile_default:
                found.add(TABLE_REWRITE)
        elif c.op == "validate_constraint" and existing:
            found.add(CONSTRAINT_VALIDATION)
        elif c.op == "add_constraint" and existing and not c.not_valid:
            if c.constraint in ("primary", "unique") and not c.using_index:
                found.add(INDEX_BUILD)
            else:
                found.add(CONSTRAINT_VALIDATION)
    return found


def _ordered(t: dict[str, Any], order: list[str]) -> dict[str, Any]:
    from ..introspect import compact

    out = {k: t[k] for k in order if k in t}
    out["columns"] = {name: compact(c) for name, c in t["columns"].items()}
    return out


def _entity(name: str) -> str:
    from ..diagram import entity

    return entity(name)


class Tables(base.Kind):
    key = "tables"
    word = "table"
    required = True
    excludable = True
    object_types = ("table", "column", "constraint", "comment", "sequence")
    # CREATE TABLE, ALTER TABLE and COMMENT are read by statements.py itself (its ALTER TABLE
    # sub-commands serve every part); sequences are the tables' (serial, identity).
    pg_objects = (
        ("OBJECT_TABLE", "table"),
        ("OBJECT_COLUMN", "column"),
        ("OBJECT_TABCONSTRAINT", "constraint"),
        ("OBJECT_SEQUENCE", "sequence"),
    )

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import relation

        if not isinstance(stmt, ast.CreateSeqStmt | ast.AlterSeqStmt):
            return None
        schema, name = relation(stmt.sequence)
        return replace(rec, object_type="sequence", schema=schema, name=name)

    relkinds = ("r",)

    def fragment(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"comment": {"type": "string"}}
        for part in PARTS:
            properties.update(part.fragments())
        properties["renamed_from"] = dict(base.RENAMED_FROM)
        return {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
                "required": ["columns"],
            },
            "propertyNames": {"minLength": 1},
        }

    def build(self, section: Any) -> tuple[Table, ...]:
        out = []
        for name, t in (section or {}).items():
            fields: dict[str, Any] = {}
            for part in PARTS:
                fields.update(part.build(t))
            out.append(
                Table(
                    name=name,
                    comment=t.get("comment"),
                    renamed_from=t.get("renamed_from"),
                    **fields,
                )
            )
        return tuple(out)

    def count_problems(self, section: Any, ctx: base.CheckContext) -> None:
        from .. import limits

        if not isinstance(section, dict):
            return
        if len(section) > limits.MAX_TABLES:
            msg = f"{len(section):,} tables (at most {limits.MAX_TABLES:,}); split the schema"
            ctx.err(("tables",), msg, key=True)
        for name, table in section.items():
            if isinstance(table, dict):
                for part in PARTS:
                    part.count_problems(name, table, ctx)

    def check(self, ctx: base.CheckContext) -> None:
        schema = ctx.schema
        for t in schema.tables:
            tp: base.PathKey = ("tables", t.name)
            ctx.check_ident(tp, t.name, "table")
            ctx.claim(t.name, tp, "table")
            if t.name in schema.exclude.tables:
                ctx.err(
                    tp,
                    f"table '{t.name}' is both declared and excluded; remove it from one of "
                    "the two",
                    key=True,
                )
            if t.name == "alembic_version":
                ctx.err(
                    tp,
                    "'alembic_version' belongs to Alembic and cannot be declared; remove this "
                    "table (Alembic creates and updates it)",
                    key=True,
                )
            for part in PARTS:
                part.check(ctx, t, tp)

    def expressions(self, schema: model.Schema) -> list[str]:
        return [x for t in schema.tables for part in PARTS for x in part.expressions(t)]

    def metadata(
        self,
        md: sa.MetaData,
        schema: model.Schema,
        target_schema: str | None,
        only: frozenset[str] | None = None,
    ) -> None:
        """`only`: the tables to render (table_cache.py has the others' DDL): those and the
        tables their foreign keys reference are built, only those are linked."""
        import sqlalchemy as sa

        built = (
            None
            if only is None
            else only | {r for t in schema.tables if t.name in only for r in references(t)}
        )
        for t in schema.tables:
            if built is not None and t.name not in built:
                continue
            args = [a for part in PARTS for a in part.sa_args(t, schema)]
            kw = {k: v for part in PARTS for k, v in part.sa_kwargs(t).items()}
            table = sa.Table(t.name, md, *args, comment=t.comment, **kw)
            for part in PARTS:
                part.sa_after(table, t)
        # Links last (foreign keys, with Column objects): every referenced table exists by
        # now (a YAML file may reference a table declared further down), and a
        # "table.column" string would be ambiguous for names that contain a dot.
        tables = {
            t.name: _sa_table(md, t.name, target_schema)
            for t in schema.tables
            if built is None or t.name in built
        }
        for t in schema.tables:
            if only is not None and t.name not in only:
                continue
            for part in PARTS:
                part.sa_link(tables[t.name], t, tables)

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        return [d for t in schema.tables for d in self.table_ddl(t, md, target_schema)]

    def table_ddl(
        self, t: Table, md: sa.MetaData, target_schema: str | None
    ) -> list[tuple[int, DDL]]:
        """(phase, statement) of one table and its parts (md holds it, linked)."""
        from sqlalchemy.schema import CreateTable

        from ..compile import DDL, DIALECT, clean, qualified
        from ..literals import quote_literal

        table = _sa_table(md, t.name, target_schema)
        create = CreateTable(table, include_foreign_key_constraints=[])
        out = [(base.RELATIONS, DDL(clean(create.compile(dialect=DIALECT)), f"table {t.name}"))]
        # Comments are written here, not by SQLAlchemy: its literal is a plain '...',
        # which a server with standard_conforming_strings = off reads differently.
        if t.comment is not None:
            lit = quote_literal(t.comment)
            sql = f"COMMENT ON TABLE {qualified(t.name, target_schema)} IS {lit}"
            out.append((base.COMMENTS, DDL(sql, f"comment on table {t.name}")))
        for part in PARTS:
            out += part.ddl(t, table, target_schema)
        return out

    catalog_sql = """
SELECT 't', c.relname, NULL, NULL FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')"""
    catalog_tags = ("t",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"tables": frozenset(name for _, name, _, _ in rows)}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        from ..compile import qualified, quote
        from ..renames import hint

        out: list[Rename] = []
        ts = target_schema
        for t in schema.tables:
            table_rename = None
            if t.renamed_from:
                table_rename = hint(
                    "table",
                    t.name,
                    t.renamed_from,
                    t.name,
                    facts.tables.__contains__,
                    lambda a, b: f"ALTER TABLE {qualified(a, ts)} RENAME TO {quote(b)};",
                    where,
                )
            if table_rename is not None:
                out.append(table_rename)
            elif t.name not in facts.tables:
                continue  # a new table: hints on its parts have nothing to rename
            src = (t.renamed_from if table_rename is not None else t.name) or t.name

            def on_table(names: Any, src: str = src) -> Callable[[str], bool]:
                return lambda n: (src, n) in names

            def part_hint(
                kind: str,
                name: str,
                old: str,
                new: str,
                exists: Callable[[str], bool],
                statement: Callable[[str, str], str],
            ) -> Rename | None:
                return hint(kind, name, old, new, exists, statement, where)

            found: list[Rename | None] = []
            for part in sorted(PARTS, key=lambda p: p.rename_rank):
                found += part.renames(t, part_hint, on_table, facts, ts)
            out += [r for r in found if r is not None]
        return out

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK, DELETES_DATA, SEQUENCE_CHANGE
        from .serial_identity import COUNTER_COPIED

        found: set[str] = set()
        if rec.kind == "DropStmt" and rec.objtype in ("table", "sequence"):
            found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
            if rec.note != COUNTER_COPIED:  # a serial's old sequence, its counter copied
                found.add(DELETES_DATA)
        elif rec.kind == "AlterSeqStmt" and rec.note != COUNTER_COPIED:
            found.add(SEQUENCE_CHANGE)
        elif rec.kind == "AlterTableStmt" and rec.object_type != "index":
            found |= _alter_table(rec, facts)
        elif (
            rec.kind == "RenameStmt"
            and rec.object_type in ("table", "column", "constraint")
            and rec.table in facts.tables
        ):
            found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
        for part in PARTS:
            found |= part.hazards(rec, facts)
        return found

    def owners(self, schema: model.Schema) -> dict[str, str]:
        return {k: v for t in schema.tables for part in PARTS for k, v in part.owners(t).items()}

    def change(self, rec: Record, otype: str, owners: Mapping[str, str]) -> base.Change | None:
        for part in PARTS:
            found = part.change(rec, owners)
            if found is not None:
                return found
        if rec.kind == "RenameStmt" and otype == "table":
            return ("table", "alter", rec.new_name, None, None)
        if otype in ("table", "column", "constraint", "comment"):
            return (otype, rec.action, rec.table, rec.column, rec.note)
        return None

    @property
    def comments(self) -> tuple[base.CommentSource, ...]:  # type: ignore[override]
        own = (base.CommentSource("table", 0, _TABLE_COMMENTS),)
        return own + tuple(c for part in PARTS for c in part.comments)

    def differ_exclude(self, i: Any, exclude: model.Exclude) -> None:
        from ..differ import ALEMBIC_TABLE, unquote_name

        tables = {ALEMBIC_TABLE, *exclude.tables}
        for attr in ("tables", "relations", "selectables"):
            d = getattr(i, attr)
            for k in [
                k
                for k, v in d.items()
                if getattr(v, "relationtype", None) in ("r", "p") and unquote_name(k) in tables
            ]:
                del d[k]
        for attr in (a for part in PARTS for a in part.inspection_attrs):
            d = getattr(i, attr)
            for k in [k for k, v in d.items() if v.table_name in tables]:
                del d[k]
        for k in [k for k, v in i.sequences.items() if v.table_name in tables]:
            del i.sequences[k]

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        for part in PARTS:
            part.escape_migra(obj, lit, ident)

    def patch_migra_queries(self, obj: Any) -> None:
        for part in PARTS:
            part.patch_migra_queries(obj)

    def split_migra(self, sql: str) -> list[Record] | None:
        return next((p for part in PARTS if (p := part.split_migra(sql)) is not None), None)

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra drops every index and trigger of a table before the table itself. DROP
        TABLE removes them anyway; the separate index drops would even become DROP INDEX
        CONCURRENTLY (online.py), each outside the transaction. Constraint drops stay: a
        foreign key must go before the table it references."""
        for part in PARTS:
            records = part.differ_order(records, i_from, i_target)
        dropped = {
            n for r in records if r.kind == "DropStmt" and r.objtype == "table" for n in r.names
        }
        if not dropped:
            return records
        return [r for r in records if not any(p.inside_dropped(r, dropped, i_from) for p in PARTS)]

    def inspect(self, state: base.InspectState) -> Any:
        from .. import kinds
        from ..differ import ALEMBIC_TABLE

        warn = state.warn
        # relations another kind reads (views, ...) are that kind's to report
        elsewhere = {rk for k in kinds.KINDS if k is not self for rk in k.relkinds}
        tables: dict[int, dict[str, Any]] = {}
        names: dict[int, str] = {}
        for oid, name, relkind, is_partition, comment, _, _ in state.rows(_TABLES):
            if name == ALEMBIC_TABLE:
                continue
            if relkind in elsewhere and not is_partition:
                continue
            if is_partition:
                continue  # read as its parent's partition (kinds/partitions.py)
            if relkind not in ("r", "p"):
                what = {
                    "p": "partitioned table",
                    "v": "view",
                    "m": "materialized view",
                    "f": "foreign table",
                }.get(relkind, "partition")
                warn(f"{what} {name}: not in the format; left out")
                continue
            t: dict[str, Any] = {"__name__": name}
            if comment is not None:
                t["comment"] = comment
            t["columns"] = {}
            tables[oid] = t
            names[oid] = name
        for part in PARTS:
            part.inspect(state, tables)
        for (seq,) in state.rows(_SEQUENCES) if "S" not in elsewhere else ():
            warn(
                f"sequence {seq}: only sequences owned by serial columns are in the format; "
                "left out"
            )
        for oid in [o for o, t in tables.items() if not t["columns"]]:
            warn(f"table {names[oid]}: a table without columns is not in the format; left out")
            del tables[oid]
        order = [k for k in self.fragment()["additionalProperties"]["properties"]]
        return {
            names[oid]: _ordered(tables[oid], order)
            for oid in sorted(tables, key=lambda o: names[o])
        }

    def diagram(self, schema: model.Schema, shown: set[str] | None, marks: Any) -> list[str]:
        """Entities (columns with PK/FK/UK marks), then one relationship per foreign key."""
        from ..diagram import attr_name, attr_type

        tables = [t for t in schema.tables if shown is None or t.name in shown]
        names = {t.name for t in tables}
        marks = marks or {}
        lines: list[str] = []
        for t in tables:
            flags: dict[str, list[str]] = {}
            for part in PARTS:
                for col, fl in part.column_flags(t).items():
                    flags.setdefault(col, []).extend(fl)
            keyed = {c for c, fl in flags.items() if "PK" in fl}
            singles = {next(iter(s)) for s in _unique_sets(t) if len(s) == 1} - keyed
            lines.append(f"    {_entity(t.name)} {{")
            for c in t.columns:
                keys: list[str] = [k for k in ("PK", "FK") if k in flags.get(c.name, [])]
                if c.name in singles:
                    keys.append("UK")
                parts = [attr_type(c.type), attr_name(c.name)]
                if keys:
                    parts.append(", ".join(keys))
                note = marks.get(t.name, {}).get(c.name)
                if note:
                    parts.append('"' + note.replace('"', "'") + '"')
                lines.append("        " + " ".join(parts))
            lines.append("    }")
        for t in tables:
            uniques = _unique_sets(t)
            for part in PARTS:
                lines += part.relationships(t, names, uniques)
        return lines


def _unique_sets(t: Table) -> list[frozenset[str]]:
    return [s for part in PARTS for s in part.unique_sets(t)]


def references(t: Table) -> set[str]:
    """The tables whose SQLAlchemy Table the DDL of t is rendered with (its foreign keys')."""
    return {fk.ref_table for fk in t.foreign_keys}


def _sa_table(md: sa.MetaData, name: str, target_schema: str | None) -> sa.Table:
    return md.tables[f"{target_schema}.{name}" if target_schema else name]


KIND = Tables()
