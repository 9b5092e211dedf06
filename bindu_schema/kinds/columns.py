"""Columns of a table: `columns: {name: {type, nullable, default, serial, identity, generated,
collation, storage, compression, ...}}`.

Generated columns, identity options and collations are in the CREATE TABLE (SQLAlchemy's
Computed and Identity; COLLATE after the type), and migra diffs them, except where it is
wrong: a changed generation expression becomes `SET DEFAULT` (replaced here by a drop and
an add of the column) and a virtual column is written as stored (its statements are
rewritten here). Identity sequence options, STORAGE and COMPRESSION migra never compares:
fidelity.py reads them and writes the ALTER TABLE statements.
"""

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
    from .tables import Table


@dataclass(frozen=True)
class Generated:
    expression: str
    stored: bool = True


# Identity sequence options, in the order of the YAML (and of SQLAlchemy's Identity).
IDENTITY_OPTIONS = ("start", "increment", "minvalue", "maxvalue", "cache", "cycle")
STORAGE = ("plain", "external", "extended", "main")
COMPRESSION = ("pglz", "lz4")
_TYPE_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_INT_NAMES = {
    "smallint": "smallint",
    "int2": "smallint",
    "integer": "integer",
    "int": "integer",
    "int4": "integer",
    "bigint": "bigint",
    "int8": "bigint",
}


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
    # identity sequence options given in the YAML (name, value), in IDENTITY_OPTIONS order
    identity_options: tuple[tuple[str, int | bool], ...] = ()
    generated: Generated | None = None
    collation: str | None = None
    storage: str | None = None
    compression: str | None = None


def identity_defaults(int_type: str, increment: int = 1) -> dict[str, int | bool]:
    """What PostgreSQL makes of an identity (or sequence) option left out."""
    lo, hi = _TYPE_RANGES[_INT_NAMES.get(int_type.strip().lower(), "bigint")]
    minvalue, maxvalue = (1, hi) if increment > 0 else (lo, -1)
    return {
        "start": minvalue if increment > 0 else maxvalue,
        "increment": 1,
        "minvalue": minvalue,
        "maxvalue": maxvalue,
        "cache": 1,
        "cycle": False,
    }


_SERIAL_TYPES = ("integer", "int", "int4", "bigint", "int8", "smallint", "int2")
_SERIAL_INTS = ("integer", "bigint", "smallint")  # as format_type spells them

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       col_description(a.attrelid, a.attnum),
       a.attcollation <> t.typcollation AS custom_collation,
       seq.relname AS owned_seq,
       seq.is_nextval,
       co.collname, cn.nspname = 'pg_catalog' AS builtin_collation,
       nullif(a.attstorage, t.typstorage)::text, nullif(a.attcompression, '')::text,
       ids.seqstart, ids.seqincrement, ids.seqmin, ids.seqmax, ids.seqcache, ids.seqcycle
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN LATERAL (
    SELECT q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle
    FROM pg_depend dep JOIN pg_sequence q ON q.seqrelid = dep.objid
    WHERE a.attidentity <> '' AND dep.classid = 'pg_class'::regclass
      AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid = a.attrelid
      AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
    LIMIT 1
) ids ON true
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
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# schemainspect's relations query: whether a column is generated, and the replacement
# that says how ('s' stored, 'v' virtual, NULL not generated; truthy as before).
_IS_GENERATED = "a.attgenerated != '' as is_generated"
_GENERATED_KIND = "nullif(a.attgenerated::text, '') as is_generated"

_COLUMN_COMMENTS = """
SELECT c.relname, a.attname, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = a.attnum
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"""


def _dropped_with(t: Any, column: str, i_from: Any, i_target: Any) -> list[str]:
    """What DROP COLUMN removes with the column and migra leaves alone (unchanged on both
    sides), to create again after the column is added: the indexes that name it, and the
    check, unique and primary key constraints on it (a key's index first)."""
    out: list[str] = []

    def mine(x: Any) -> bool:
        return bool(x.table_name == t.name and x.schema == t.schema)

    for k, ix in i_target.indexes.items():
        before = i_from.indexes.get(k)
        if mine(ix) and getattr(before, "definition", None) == ix.definition:
            if not getattr(ix, "constraint", None) and _mentions(ix.definition, column):
                out.append(ix.create_statement)
    for k, c in i_target.constraints.items():
        before = i_from.constraints.get(k)
        if not mine(c) or getattr(before, "definition", None) != c.definition:
            continue
        index = c.index if c.constraint_type in ("PRIMARY KEY", "UNIQUE") else None
        if index is not None and _mentions(index.definition, column):
            out += [index.create_statement, c.create_statement]
        elif c.constraint_type == "CHECK" and _mentions(c.create_statement, column):
            out.append(c.create_statement)
    return out


def _mentions(sql: str, column: str) -> bool:
    """Whether a statement (an index definition, ADD CONSTRAINT ... CHECK) names the
    column: an index key, a column reference in an expression, INCLUDE or WHERE."""
    from pglast import ast, parse_sql
    from pglast.visitors import Visitor

    found = False

    class Columns(Visitor):
        def visit_IndexElem(self, ancestors: Any, node: ast.IndexElem) -> None:
            nonlocal found
            found = found or node.name == column

        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
            nonlocal found
            last = (node.fields or ())[-1:]
            found = found or any(getattr(f, "sval", None) == column for f in last)

    Columns()(parse_sql(sql))
    return found


VIRTUAL_SINCE = 180000  # server_version_num of the first server with virtual columns


def _needs_virtual(table: str, column: str) -> DDL:
    """A statement that stops the DDL on a server without virtual generated columns, with
    a message naming the column (instead of a syntax error at VIRTUAL in CREATE TABLE)."""
    from ..compile import DDL
    from ..literals import quote_literal

    msg = quote_literal(
        f"column {table}.{column}: virtual generated columns (stored: false) need "
        "PostgreSQL 18 or later; declare it 'stored: true' or use a newer server"
    )
    body = (
        f"BEGIN IF current_setting('server_version_num')::int < {VIRTUAL_SINCE} THEN "
        f"RAISE EXCEPTION USING MESSAGE = {msg} || ' (this server runs ' || "
        "current_setting('server_version') || ')'; END IF; END"
    )
    return DDL(f"DO {quote_literal(body)}", f"virtual generated column {table}.{column}")


def _identity(value: Any) -> str | None:
    """'always' / 'by default' from either form of `identity`."""
    if isinstance(value, dict):
        return str(value["generated"])
    return None if value is None else str(value)


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
                "identity": {
                    "description": "always | by default, or a map with the sequence options",
                    "oneOf": [
                        {"enum": ["always", "by default"]},
                        base.entry(
                            {
                                "generated": {"enum": ["always", "by default"]},
                                "start": {"type": "integer"},
                                "increment": {"type": "integer"},
                                "minvalue": {"type": "integer"},
                                "maxvalue": {"type": "integer"},
                                "cache": {"type": "integer", "minimum": 1},
                                "cycle": {"type": "boolean"},
                            },
                            ["generated"],
                        ),
                    ],
                },
                "generated": base.entry(
                    {
                        "expression": {
                            "type": "string",
                            "minLength": 1,
                            "description": "one SQL expression over the row's other columns",
                        },
                        "stored": {
                            "type": "boolean",
                            "description": "true: computed on write (STORED); false: on read "
                            "(VIRTUAL, PostgreSQL 18 or later)",
                        },
                    },
                    ["expression", "stored"],
                ),
                "collation": {
                    "type": "string",
                    "minLength": 1,
                    "description": 'a collation name, e.g. "C" or "und-x-icu"',
                },
                "storage": {"enum": list(STORAGE)},
                "compression": {"enum": list(COMPRESSION)},
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
                    identity=_identity(c.get("identity")),
                    comment=c.get("comment"),
                    renamed_from=c.get("renamed_from"),
                    identity_options=tuple(
                        (k, c["identity"][k])
                        for k in IDENTITY_OPTIONS
                        if isinstance(c.get("identity"), dict) and k in c["identity"]
                    ),
                    generated=(
                        Generated(c["generated"]["expression"], c["generated"]["stored"])
                        if c.get("generated") is not None
                        else None
                    ),
                    collation=c.get("collation"),
                    storage=c.get("storage"),
                    compression=c.get("compression"),
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
            if c.generated is not None:
                self._check_generated(ctx, c, cp, what)
            if c.identity_options:
                self._check_identity(ctx, c, cp, what)
            if c.collation is not None:
                ctx.check_ident((*cp, "collation"), c.collation, "collation")
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

    def _check_generated(
        self, ctx: base.CheckContext, c: Column, cp: base.PathKey, what: str
    ) -> None:
        from .. import fragments

        assert c.generated is not None
        if c.serial or c.identity or c.default is not None:
            ctx.err(
                (*cp, "generated"),
                f"{what}: a generated column takes no default, serial or identity; remove "
                "them or 'generated'",
            )
        why = fragments.expression(c.generated.expression)
        if why is not None:
            ctx.err(
                (*cp, "generated", "expression"),
                f"{what}: the generation expression must be exactly one SQL expression, but "
                f"{why}; fix the expression",
            )

    def _check_identity(
        self, ctx: base.CheckContext, c: Column, cp: base.PathKey, what: str
    ) -> None:
        int_type = _INT_NAMES.get(" ".join(c.type.lower().split()))
        if int_type is None:
            return  # reported: identity needs an integer type
        given = dict(c.identity_options)
        opts = {**identity_defaults(int_type, int(given.get("increment", 1))), **given}
        if "start" not in given:  # PostgreSQL starts at the lower (upper) bound
            opts["start"] = opts["minvalue"] if int(opts["increment"]) > 0 else opts["maxvalue"]
        lo, hi = _TYPE_RANGES[int_type]
        ip: base.PathKey = (*cp, "identity")
        for k in ("start", "increment", "minvalue", "maxvalue", "cache"):
            v = given.get(k)
            if v is not None and not lo <= int(v) <= hi:
                ctx.err(
                    (*ip, k),
                    f"{what}: identity {k} {v} is out of range for {int_type} ({lo} to {hi}); "
                    "use a value in that range or a wider type",
                )
        lo_v, hi_v, start = int(opts["minvalue"]), int(opts["maxvalue"]), int(opts["start"])
        if given.get("increment") == 0:
            ctx.err(
                (*ip, "increment"),
                f"{what}: identity increment cannot be 0; use a step such as 1 or -1",
            )
        elif lo_v >= hi_v:
            ctx.err(
                ip,
                f"{what}: identity minvalue ({lo_v}) must be less than maxvalue ({hi_v}); "
                "change one of them",
            )
        elif not lo_v <= start <= hi_v:
            ctx.err(
                ip,
                f"{what}: identity start ({start}) must lie between minvalue ({lo_v}) and "
                f"maxvalue ({hi_v}); change the start or the bounds",
            )

    def expressions(self, t: Table) -> list[str]:
        return [c.default for c in t.columns if c.default] + [
            c.generated.expression for c in t.columns if c.generated is not None
        ]

    def sa_args(self, t: Table, schema: model.Schema) -> list[Any]:
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.types import TypeEngine

        from ..compile import DIALECT, RawType, quote, sa_type

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
            if c.collation is not None:
                spelled = typ.compile(dialect=DIALECT)
                typ = RawType(f"{spelled} COLLATE {quote(c.collation)}")
            args: list[object] = []
            if c.identity:
                opts: dict[str, Any] = dict(c.identity_options)
                args.append(sa.Identity(always=c.identity == "always", **opts))
            if c.generated is not None:
                # literal_column: the expression is written as given (checked by the loader)
                expr: Any = sa.literal_column(c.generated.expression)
                args.append(sa.Computed(expr, persisted=c.generated.stored))
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
        out: list[tuple[int, DDL]] = []
        for c in t.columns:
            col = f"{name} ALTER COLUMN {quote(c.name)}"
            if c.generated is not None and not c.generated.stored:
                out.append((base.TYPES, _needs_virtual(t.name, c.name)))
            if c.storage is not None:
                sql = f"ALTER TABLE {col} SET STORAGE {c.storage.upper()}"
                out.append((base.RELATION_PARTS, DDL(sql, f"storage of column {t.name}.{c.name}")))
            if c.compression is not None:
                sql = f"ALTER TABLE {col} SET COMPRESSION {c.compression}"
                what = f"compression of column {t.name}.{c.name}"
                out.append((base.RELATION_PARTS, DDL(sql, what)))
            if c.comment is not None:
                sql = f"COMMENT ON COLUMN {name}.{quote(c.name)} IS {quote_literal(c.comment)}"
                out.append((base.COMMENTS, DDL(sql, f"comment on column {t.name}.{c.name}")))
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
            "column",
            t.name,
            ((c.name, c.renamed_from) for c in t.columns),
            on_table(facts.columns),
            lambda a, b: f"ALTER TABLE {qt} RENAME COLUMN {quote(a)} TO {quote(b)};",
        )

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        """A stored generated column added to an existing table rewrites it (every row
        gets its value); a change of an identity's sequence options is a sequence change."""
        from pglast import ast, parse_sql
        from pglast.enums import AlterTableType, ConstrType

        from ..hazards import SEQUENCE_CHANGE, TABLE_REWRITE

        if rec.kind != "AlterTableStmt" or rec.table not in facts.tables:
            return set()
        stmt = parse_sql(rec.sql)[0].stmt
        found: set[str] = set()
        for cmd in getattr(stmt, "cmds", None) or ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            if cmd.subtype == AlterTableType.AT_SetIdentity:
                found.add(SEQUENCE_CHANGE)
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                if any(
                    isinstance(k, ast.Constraint)
                    and k.contype == ConstrType.CONSTR_GENERATED
                    and k.generated_kind != "v"
                    for k in cmd.def_.constraints or ()
                ):
                    found.add(TABLE_REWRITE)
        return found

    def patch_migra_queries(self, obj: Any) -> None:
        """schemainspect reads only whether a column is generated: read whether stored
        ('s') or virtual ('v'), so a change between the two is a change, and a virtual
        column is written as one (escape_migra)."""
        query = str(obj.ALL_RELATIONS_QUERY)
        if _IS_GENERATED in query:
            obj.ALL_RELATIONS_QUERY = query.replace(_IS_GENERATED, _GENERATED_KIND)

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        """A column as migra writes it (CREATE TABLE, ADD COLUMN): virtual generated
        columns as virtual (schemainspect writes every one as stored), and the collation
        in CREATE TABLE too (schemainspect adds it to ADD COLUMN only)."""
        cls = obj.ColumnInfo

        def creation(self: Any) -> str:
            x = f"{self.quoted_name} {self.dbtypestr}"
            if self.collation:
                x += f" collate {ident(self.collation)}"
            if self.is_identity:
                x += f" generated {'always' if self.is_identity_always else 'by default'}"
                x += " as identity"
            if self.not_null:
                x += " not null"
            if self.is_generated:
                kind = "virtual" if self.is_generated == "v" else "stored"
                x += f" generated always as ({self.default}) {kind}"
            elif self.default:
                x += f" default {self.default}"
            return x

        cls.creation_clause = property(creation)
        cls.add_column_clause = property(lambda self: f"add column {self.creation_clause}")

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra changes a generation expression with SET DEFAULT (refused: the column is
        generated), and drops a virtual one's expression with DROP EXPRESSION (refused on
        virtual columns). Such a column is dropped and added again: its values are
        computed anyway. A stored column that becomes a plain one keeps its values (DROP
        EXPRESSION, then its default). A serial column that becomes an identity (or back)
        keeps its counter (serial_identity.py)."""
        from .. import statements
        from .serial_identity import conversions

        out = conversions(list(records), i_from, i_target)
        for t, _, name, c, b in base.kept_columns(i_from, i_target):
            if not (b.is_generated or c.is_generated):
                continue
            if (b.is_generated, b.default) == (c.is_generated, c.default):
                continue
            mine = [
                i
                for i, r in enumerate(out)
                if r.kind == "AlterTableStmt"
                and r.table == t.name
                and any(cmd.name == name and not cmd.constraint for cmd in r.commands)
            ]
            at = mine[0] if mine else len(out)
            qt, qc = t.quoted_full_name, c.quoted_name
            if b.is_generated == "s" and not c.is_generated:
                sqls = [f"alter table {qt} alter column {qc} drop expression;"]
                if c.default:
                    sqls.append(f"alter table {qt} alter column {qc} set default {c.default};")
                if c.not_null != b.not_null:
                    word = "set" if c.not_null else "drop"
                    sqls.append(f"alter table {qt} alter column {qc} {word} not null;")
                if (c.dbtypestr, c.collation) != (b.dbtypestr, b.collation):
                    sqls.append(f"alter table {qt} {c.alter_data_type_clause};")
            else:
                sqls = [
                    f"alter table {qt} drop column {qc};",
                    f"alter table {qt} {c.add_column_clause};",
                ]
                sqls += _dropped_with(t, name, i_from, i_target)
            out = [r for i, r in enumerate(out) if i not in mine]
            out[at:at] = [statements.parse(x, ("AlterTableStmt", "IndexStmt")) for x in sqls]
        return out

    catalog_sql = """
SELECT 'c', c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')"""
    catalog_tags = ("c",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"columns": {(name, rel): typ for _, name, rel, typ in rows}}

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import short_type, strip_outer_parens

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
            collname,
            builtin_collation,
            storage,
            compression,
            *seq,
        ) in state.rows(_COLUMNS):
            if relid not in tables:
                continue
            tname = tables[relid][NAME]
            c: dict[str, Any] = {"type": short_type(typ, enum_names)}
            if notnull:
                c["nullable"] = False
            if generated:
                expression = strip_outer_parens(default)
                c["generated"] = {"expression": expression, "stored": generated == "s"}
                default = None
            if identity in ("a", "d"):
                c["identity"] = _inspected_identity(identity, c["type"], seq)
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
            if collation and builtin_collation:
                c["collation"] = collname
            elif collation:
                warn(
                    f"column {tname}.{col}: collation {collname} is not one of pg_catalog's "
                    "(collations are not in the format); left out"
                )
            if storage is not None:
                c["storage"] = _STORAGE_NAMES[storage]
            if compression is not None:
                c["compression"] = _COMPRESSION_NAMES[compression]
            if comment is not None:
                c["comment"] = comment
            tables[relid]["columns"][col] = c


_STORAGE_NAMES = {"p": "plain", "e": "external", "x": "extended", "m": "main"}
_COMPRESSION_NAMES = {"p": "pglz", "l": "lz4"}


def _inspected_identity(kind: str, int_type: str, seq: list[Any]) -> Any:
    """`identity` as the YAML writes it: the string, or the map when an option of the
    identity's sequence differs from what PostgreSQL makes of it left out."""
    word = "always" if kind == "a" else "by default"
    if seq[0] is None or int_type not in _TYPE_RANGES:
        return word
    found = dict(zip(IDENTITY_OPTIONS, (*(int(v) for v in seq[:5]), bool(seq[5])), strict=True))
    defaults = identity_defaults(int_type, int(found["increment"]))
    options = {k: v for k, v in found.items() if v != defaults[k]}
    if not options:
        return word
    return {"generated": word, **options}


NAME = "__name__"  # the table's name in the inspected table data (not written out)
PART = Columns()
