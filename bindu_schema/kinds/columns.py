"""Columns of a table: `columns: {name: {type, nullable, default, serial, identity, ...}}`."""

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
    from .tables import Table


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    serial: bool = False
    identity: str | None = None  # "always" | "by default"
    comment: str | None = None
    renamed_from: str | None = None


_SERIAL_TYPES = ("integer", "int", "int4", "bigint", "int8", "smallint", "int2")
_SERIAL_INTS = ("integer", "bigint", "smallint")  # as format_type spells them

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       col_description(a.attrelid, a.attnum),
       a.attcollation <> t.typcollation AS custom_collation,
       seq.relname AS owned_seq,
       seq.is_nextval
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT s.relname,
           pg_get_expr(ad.adbin, ad.adrelid)
             = 'nextval(' || quote_literal(s.oid::regclass::text) || '::regclass)' AS is_nextval
    FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid
    WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
      AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
      AND dep.deptype = 'a' AND s.relkind = 'S'
    ORDER BY s.relname LIMIT 1
) seq ON true
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_COLUMN_COMMENTS = """
SELECT c.relname, a.attname, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = a.attnum
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"""


def _serial_name(int_type: str) -> str:
    s = int_type.strip().lower()
    if s in ("bigint", "int8"):
        return "BIGSERIAL"
    if s in ("smallint", "int2"):
        return "SMALLSERIAL"
    return "SERIAL"


class Columns(base.TablePart):
    rename_rank = 0
    comments = (base.CommentSource("column", 1, _COLUMN_COMMENTS),)

    def fragments(self) -> dict[str, dict[str, Any]]:
        column = base.entry(
            {
                "type": {
                    "type": "string",
                    "minLength": 1,
                    "description": "PostgreSQL type as PostgreSQL spells it: uuid, varchar(50), "
                    "timestamptz, jsonb, integer[] ...",
                },
                "nullable": {"type": "boolean", "default": True},
                "default": {
                    "type": ["string", "number", "boolean"],
                    "minLength": 1,
                    "description": "server default as an SQL expression, e.g. now() or "
                    "'[]'::jsonb; a bare number or true/false is written as that literal",
                },
                "serial": {
                    "type": "boolean",
                    "description": "owned sequence as default (serial/bigserial by type)",
                },
                "identity": {"enum": ["always", "by default"]},
                "comment": {"type": "string"},
                "renamed_from": dict(base.RENAMED_FROM),
            },
            ["type"],
        )
        return {
            "columns": {
                "type": "object",
                "additionalProperties": column,
                "propertyNames": {"minLength": 1},
                "minProperties": 1,
            }
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        from .functions import sql_literal

        return {
            "columns": tuple(
                Column(
                    name=cname,
                    type=str(c["type"]),
                    nullable=c.get("nullable", True),
                    default=sql_literal(c.get("default")),
                    serial=c.get("serial", False),
                    identity=c.get("identity"),
                    comment=c.get("comment"),
                    renamed_from=c.get("renamed_from"),
                )
                for cname, c in section["columns"].items()
            )
        }

    def count_problems(self, name: str, section: dict[str, Any], ctx: base.CheckContext) -> None:
        from .. import limits

        columns = section.get("columns")
        if isinstance(columns, dict) and len(columns) > limits.MAX_COLUMNS:
            msg = (
                f"table {name}: {len(columns):,} columns; PostgreSQL allows at most "
                f"{limits.MAX_COLUMNS:,}"
            )
            ctx.err(("tables", name, "columns"), msg, key=True)

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        err = ctx.err
        for c in t.columns:
            cp: base.PathKey = (*tp, "columns", c.name)
            what = f"column '{t.name}.{c.name}'"
            ctx.check_ident(cp, c.name, "column")
            if c.serial and c.identity:
                err(cp, f"{what}: choose serial or identity, not both; remove one of them")
            explicit = ctx.data["tables"][t.name]["columns"][c.name].get("nullable")
            if (c.serial or c.identity) and explicit is True:
                err(
                    (*cp, "nullable"),
                    f"{what}: serial and identity columns are always NOT NULL; remove "
                    "'nullable: true'",
                )
            if (c.serial or c.identity) and c.default is not None:
                err(
                    (*cp, "default"),
                    f"{what}: a serial or identity column takes no default; remove the default",
                )
            if c.serial and " ".join(c.type.lower().split()) not in _SERIAL_TYPES:
                err(
                    (*cp, "type"),
                    f"{what}: serial needs type integer, bigint or smallint; "
                    "change the type or remove 'serial: true'",
                )
            if c.identity and " ".join(c.type.lower().split()) not in _SERIAL_TYPES:
                err(
                    (*cp, "type"),
                    f"{what}: identity needs type integer, bigint or smallint; "
                    "change the type or remove 'identity'",
                )
            if c.type.strip().lower() in (
                "serial",
                "bigserial",
                "smallserial",
                "serial4",
                "serial8",
                "serial2",
            ):
                err(
                    (*cp, "type"),
                    f"{what}: write the integer type and 'serial: true' instead of type '{c.type}'",
                )

    def expressions(self, t: Table) -> list[str]:
        return [c.default for c in t.columns if c.default]

    def sa_args(self, t: Table, schema: model.Schema) -> list[Any]:
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.types import TypeEngine

        from ..compile import RawType, sa_type

        enums = {e.name for e in schema.enums}
        domains = {d.name: d.type for d in schema.objects("domains")}
        pk_cols = set(t.primary_key.columns) if t.primary_key else set()
        single_pk = len(pk_cols) == 1
        cols: list[sa.Column[object]] = []
        for c in t.columns:
            if c.serial and (not single_pk or c.name not in pk_cols):
                # SQLAlchemy renders SERIAL only for the autoincrement primary key column.
                typ: TypeEngine[Any] = RawType(_serial_name(c.type))
            elif c.type.strip() in domains:
                # a declared domain: a named type, quoted and qualified with the MetaData's
                # schema (a tenant's) like an enum
                base_type = sa_type(domains[c.type.strip()], enums)
                typ = postgresql.DOMAIN(c.type.strip(), base_type, create_type=False)
            else:
                typ = sa_type(c.type, enums)
            args: list[object] = []
            if c.identity:
                args.append(sa.Identity(always=c.identity == "always"))
            cols.append(
                sa.Column(
                    c.name,
                    typ,
                    *args,  # type: ignore[arg-type]
                    # serial and identity columns are NOT NULL in PostgreSQL whatever the YAML
                    # says (the loader refuses an explicit nullable: true for them).
                    nullable=c.nullable and not (c.serial or c.identity),
                    # literal_column, not text(): text() reads ':name' as a bind parameter
                    # and drops the backslash of '\:' inside the default's literals.
                    server_default=sa.literal_column(c.default) if c.default is not None else None,
                    # An Identity refuses autoincrement=False; "auto" lets it render.
                    autoincrement="auto"
                    if c.identity
                    else (bool(c.serial) and c.name in pk_cols and single_pk),
                    comment=c.comment,
                )
            )
        return cols

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified, quote
        from ..literals import quote_literal

        name = qualified(t.name, target_schema)
        return [
            (
                base.COMMENTS,
                DDL(
                    f"COMMENT ON COLUMN {name}.{quote(c.name)} IS {quote_literal(c.comment)}",
                    f"comment on column {t.name}.{c.name}",
                ),
            )
            for c in t.columns
            if c.comment is not None
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
            "column",
            t.name,
            ((c.name, c.renamed_from) for c in t.columns),
            on_table(facts.columns),
            lambda a, b: f"ALTER TABLE {qt} RENAME COLUMN {quote(a)} TO {quote(b)};",
        )

    catalog_sql = """
SELECT 'c', c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')"""
    catalog_tags = ("c",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"columns": {(name, rel): typ for _, name, rel, typ in rows}}

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import short_type

        warn = state.warn
        enum_names = set(state.sections.get("enums") or ())
        for (
            relid,
            col,
            typ,
            notnull,
            default,
            identity,
            generated,
            comment,
            collation,
            owned_seq,
            is_nextval,
        ) in state.rows(_COLUMNS):
            if relid not in tables:
                continue
            tname = tables[relid][NAME]
            c: dict[str, Any] = {"type": short_type(typ, enum_names)}
            if notnull:
                c["nullable"] = False
            if generated:
                warn(
                    f"column {tname}.{col}: GENERATED ALWAYS AS ({default}) is not in the "
                    "format; it renders as a plain column"
                )
                default = None
            if identity in ("a", "d"):
                c["identity"] = "always" if identity == "a" else "by default"
            elif owned_seq and is_nextval and c["type"] in _SERIAL_INTS:
                c["serial"] = True
                expected = f"{tname}_{col}_seq"
                if owned_seq != expected and len(expected.encode()) <= 63:
                    warn(
                        f"column {tname}.{col}: its sequence is named {owned_seq}; rendered as "
                        f"serial it will be named {expected}"
                    )
            elif default is not None:
                c["default"] = default  # a sequence it uses is the sequences kind's
            if collation:
                warn(
                    f"column {tname}.{col}: a non-default collation is not in the format; left out"
                )
            if comment is not None:
                c["comment"] = comment
            tables[relid]["columns"][col] = c


NAME = "__name__"  # the table's name in the inspected table data (not written out)
PART = Columns()
