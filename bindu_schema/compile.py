"""model.Schema -> SQLAlchemy MetaData -> DDL text.

Tables, constraints, indexes and comments go through SQLAlchemy's PostgreSQL DDL
compiler (the same MetaData is Alembic's target_metadata). Extensions, enums,
functions and triggers are plain SQL because SQLAlchemy has no DDL construct for
them (enums: it has one, but it is tied to column usage).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine, UserDefinedType

from . import cache, model, statements
from .errors import BinduSchemaError
from .literals import quote_literal, tidy

# paramstyle "named": the psycopg2 default ("pyformat") doubles every % in literals.
DIALECT = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
_PREPARER = DIALECT.identifier_preparer


class CompileError(BinduSchemaError):
    """The YAML renders to something that is not the statement it should be."""


@dataclass(frozen=True)
class DDL:
    """One statement and the object it creates (for error messages)."""

    sql: str
    obj: str


def quote(name: str) -> str:
    return str(_PREPARER.quote(name))


def qualified(name: str, schema: str | None) -> str:
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


class RawType(UserDefinedType[object]):
    """A type SQLAlchemy has no class for: rendered exactly as written in the YAML."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **kw: object) -> str:
        return self.spec


_SIMPLE: dict[str, TypeEngine[Any]] = {
    "uuid": postgresql.UUID(),
    "text": sa.TEXT(),
    "integer": sa.INTEGER(),
    "int": sa.INTEGER(),
    "int4": sa.INTEGER(),
    "bigint": sa.BIGINT(),
    "int8": sa.BIGINT(),
    "smallint": sa.SMALLINT(),
    "int2": sa.SMALLINT(),
    "boolean": sa.BOOLEAN(),
    "bool": sa.BOOLEAN(),
    "jsonb": postgresql.JSONB(),
    "json": postgresql.JSON(),
    "timestamptz": postgresql.TIMESTAMP(timezone=True),
    "timestamp with time zone": postgresql.TIMESTAMP(timezone=True),
    "timestamp": postgresql.TIMESTAMP(),
    "timestamp without time zone": postgresql.TIMESTAMP(),
    "date": sa.DATE(),
    "time": postgresql.TIME(),
    "interval": postgresql.INTERVAL(),
    "bytea": postgresql.BYTEA(),
    "real": sa.REAL(),
    "double precision": postgresql.DOUBLE_PRECISION(),
    "numeric": sa.NUMERIC(),
    "inet": postgresql.INET(),
    "cidr": postgresql.CIDR(),
    "tsvector": postgresql.TSVECTOR(),
}
# The SQL-standard types SQLAlchemy renders with their length or precision, by the
# internal name PostgreSQL's parser gives them (varchar(20), character(3), decimal(10,2)).
_SIZED: dict[str, Callable[..., TypeEngine[Any]]] = {
    "varchar": sa.VARCHAR,
    "bpchar": sa.CHAR,
    "numeric": sa.NUMERIC,
}


def _sized(spec: str) -> TypeEngine[Any] | None:
    try:
        t = statements.parse_type(spec)
    except statements.StatementError:
        return None  # loading the DDL reports it, naming the column
    if t.schema != "pg_catalog" or t.name not in _SIZED or t.dims or t.other_mods:
        return None
    if t.name == "numeric" and not t.mods:
        return None  # plain numeric/decimal: spelled as written
    return _SIZED[t.name](*t.mods)


def sa_type(spec: str, enums: set[str]) -> TypeEngine[Any]:
    """Map a PostgreSQL type name to a SQLAlchemy type; unknown names are rendered verbatim."""
    s = " ".join(spec.strip().lower().split())
    if s.endswith("[]"):
        base = spec.strip()
        dims = 0
        while base.endswith("[]"):
            base, dims = base[:-2].rstrip(), dims + 1
        inner = sa_type(base, enums)
        if isinstance(inner, RawType):
            return RawType(spec.strip())
        # One ARRAY with dimensions: SQLAlchemy refuses ARRAY(ARRAY(...)).
        return postgresql.ARRAY(inner, dimensions=dims if dims > 1 else None)
    if s in _SIMPLE:
        return _SIMPLE[s]
    if (sized := _sized(spec)) is not None:
        return sized
    if spec.strip() in enums:
        return postgresql.ENUM(name=spec.strip(), create_type=False)
    return RawType(spec.strip())


_SERIAL_INTS = {"integer", "int", "int4", "bigint", "int8", "smallint", "int2"}


def build_metadata(schema: model.Schema, target_schema: str | None = None) -> sa.MetaData:
    """The SQLAlchemy MetaData for the tables of the schema."""
    md = sa.MetaData(schema=target_schema)
    enums = {e.name for e in schema.enums}
    for t in schema.tables:
        pk_cols = set(t.primary_key.columns) if t.primary_key else set()
        single_pk = len(pk_cols) == 1
        cols: list[sa.Column[object]] = []
        for c in t.columns:
            kwargs: dict[str, object] = {}
            if c.serial and (not single_pk or c.name not in pk_cols):
                # SQLAlchemy renders SERIAL only for the autoincrement primary key column.
                typ: TypeEngine[Any] = RawType(_serial_name(c.type))
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
                    **kwargs,  # type: ignore[arg-type]
                )
            )
        constraints: list[sa.Constraint] = []
        if t.primary_key:
            constraints.append(
                sa.PrimaryKeyConstraint(*t.primary_key.columns, name=t.primary_key.name)
            )
        for u in t.uniques:
            constraints.append(sa.UniqueConstraint(*u.columns, name=u.name))
        for ch in t.checks:
            constraints.append(sa.CheckConstraint(sa.literal_column(ch.expression), name=ch.name))
        table = sa.Table(t.name, md, *cols, *constraints, comment=t.comment)
        for ix in t.indexes:
            _add_index(table, ix)
    # Foreign keys last, with Column objects: every referenced table exists by now (a YAML
    # file may reference a table declared further down), and a "table.column" string would
    # be ambiguous for names that contain a dot.
    tables = {
        t.name: md.tables[f"{target_schema}.{t.name}" if target_schema else t.name]
        for t in schema.tables
    }
    for t in schema.tables:
        table = tables[t.name]
        for fk in t.foreign_keys:
            ref = tables[fk.ref_table]
            table.append_constraint(
                sa.ForeignKeyConstraint(
                    [table.c[c] for c in fk.columns],
                    [ref.c[rc] for rc in fk.ref_columns],
                    name=fk.name,
                    ondelete=fk.on_delete.upper() if fk.on_delete else None,
                    onupdate=fk.on_update.upper() if fk.on_update else None,
                    deferrable=fk.deferrable or None,
                    initially="DEFERRED" if fk.initially_deferred else None,
                    use_alter=True,
                )
            )
    return md


def _serial_name(int_type: str) -> str:
    s = int_type.strip().lower()
    if s in ("bigint", "int8"):
        return "BIGSERIAL"
    if s in ("smallint", "int2"):
        return "SMALLSERIAL"
    return "SERIAL"


def _add_index(table: sa.Table, ix: model.Index) -> None:
    exprs: list[sa.ColumnElement[object]] = []
    ops: dict[str, str] = {}
    for n, item in enumerate(ix.items):
        e: sa.ColumnElement[object]
        ordered = bool(item.order or item.nulls)
        if item.opclass and ordered:
            # postgresql_ops only finds keys that are bare columns or labels; once wrapped in
            # DESC / NULLS the opclass would be dropped silently. PostgreSQL wants
            # `key opclass DESC NULLS LAST`, so the opclass goes into the key's text.
            key = quote(item.column) if item.column is not None else f"({item.expression})"
            e = sa.literal_column(f"{key} {item.opclass}")
        elif item.column is not None:
            e = table.c[item.column]
            if item.opclass:
                ops[item.column] = item.opclass
        else:
            assert item.expression is not None
            # A labelled expression lets postgresql_ops find the key for its opclass.
            label = f"expr_{n}"
            e = sa.literal_column(f"({item.expression})").label(label)
            if item.opclass:
                ops[label] = item.opclass
        if item.order == "desc":
            e = e.desc()
        elif item.order == "asc":
            e = e.asc()
        if item.nulls == "first":
            e = e.nulls_first()
        elif item.nulls == "last":
            e = e.nulls_last()
        exprs.append(e)
    kw: dict[str, Any] = {}
    if ix.method != "btree":
        kw["postgresql_using"] = ix.method
    if ix.where:
        kw["postgresql_where"] = sa.literal_column(ix.where)
    if ix.include:
        kw["postgresql_include"] = list(ix.include)
    if ops:
        kw["postgresql_ops"] = ops
    sa.Index(ix.name, *exprs, unique=ix.unique, _table=table, **kw)


def _clean(sql: object) -> str:
    """SQLAlchemy's DDL with its layout tidied; literals and quoted names untouched."""
    return tidy(str(sql))


def _dollar_quote(body: str) -> str:
    tag = "$function$"
    n = 0
    while tag in body:
        n += 1
        tag = f"$function{n}$"
    return f"{tag}{body}{tag}"


def function_sql(f: model.Function, target_schema: str | None = None) -> str:
    args = ", ".join(
        " ".join(
            x
            for x in (
                quote(a.name) if a.name else None,
                a.type,
                f"DEFAULT {a.default}" if a.default else None,
            )
            if x
        )
        for a in f.arguments
    )
    parts = [
        f"CREATE OR REPLACE FUNCTION {qualified(f.name, target_schema)}({args})",
        f"RETURNS {f.returns}",
        f"LANGUAGE {f.language}",
    ]
    if f.volatility:
        parts.append(f.volatility.upper())
    if f.security_definer:
        parts.append("SECURITY DEFINER")
    # No `SET search_path` for a tenant schema: the revisions in generated/ create the same
    # function text in public and in every tenant (env.py runs them with search_path set to
    # the schema), so the desired tenant schema must not differ from what they build.
    # Unqualified names in a body resolve through the caller's search_path, as in public;
    # a trigger is bound to the tenant's own function when it is created.
    body = f.body if f.body.endswith("\n") else f.body + "\n"
    body = body if body.startswith("\n") else "\n" + body
    return "\n".join(parts) + "\nAS " + _dollar_quote(body)


def trigger_sql(t: model.Table, tr: model.Trigger, target_schema: str | None = None) -> str:
    events = " OR ".join(e.upper() for e in tr.events)
    when = f"\nWHEN ({tr.when})" if tr.when else ""
    return (
        f"CREATE TRIGGER {quote(tr.name)} {tr.timing.upper()} {events} "
        f"ON {qualified(t.name, target_schema)}\n"
        f"FOR EACH {tr.for_each.upper()}{when}\n"
        f"EXECUTE FUNCTION {qualified(tr.function, target_schema)}()"
    )


def _split_functions(
    schema: model.Schema,
) -> tuple[list[model.Function], list[model.Function]]:
    """Functions to create before the tables, and SQL functions to create after them.

    PostgreSQL parses an SQL-language body at CREATE time and rejects names of tables that
    do not exist yet, so an SQL function goes after the tables, unless a table expression
    (default, check, index key or WHERE) calls it. Keeping check_function_bodies on means a
    syntax error in a body is still reported, for the function that has it.
    """
    texts: list[str] = []
    for t in schema.tables:
        texts += [c.default for c in t.columns if c.default]
        texts += [ch.expression for ch in t.checks]
        for ix in t.indexes:
            texts += [i.expression for i in ix.items if i.expression]
            texts += [ix.where] if ix.where else []
    used = {name for x in texts for name in statements.called_functions(x)}
    early, late = [], []
    for f in schema.functions:
        called = f.name in used
        if f.language.lower() == "sql" and not called:
            late.append(f)
        else:
            early.append(f)
    return early, late


def compile_schema(schema: model.Schema, target_schema: str | None = None) -> list[DDL]:
    """Deterministic DDL for the whole schema, in an order that loads into an empty database.

    A pure function of the model: cached on disk (cache.py) by the pickled model's hash."""
    k = cache.key("ddl", pickle.dumps(schema, protocol=4), target_schema or "")
    hit = cache.get("ddl", k)
    if isinstance(hit, list):
        return hit
    out = _compile(schema, target_schema)
    cache.put("ddl", k, out)
    return out


def _compile(schema: model.Schema, target_schema: str | None) -> list[DDL]:
    out = _render(schema, target_schema)
    for d in out:
        _one_statement(d)
    return out


def _one_statement(d: DDL) -> None:
    """Every rendered statement must be exactly one statement (PostgreSQL's parser says
    so): a YAML value that carries a quote or a semicolon cannot add one of its own."""
    try:
        statements.parse(d.sql)
    except statements.StatementError as exc:
        raise CompileError(
            f"the DDL for {d.obj} is not exactly one SQL statement: {exc}. Fix that "
            "object's values in the YAML (an expression, type or default probably holds a "
            "stray quote, parenthesis or semicolon); nothing was run"
        ) from None


def _render(schema: model.Schema, target_schema: str | None) -> list[DDL]:
    out: list[DDL] = []
    if target_schema:
        out.append(
            DDL(f"CREATE SCHEMA IF NOT EXISTS {quote(target_schema)}", f"schema {target_schema}")
        )
    for ext in schema.extensions:
        where = f" SCHEMA {quote(ext.schema)}" if ext.schema else ""
        out.append(
            DDL(f"CREATE EXTENSION IF NOT EXISTS {quote(ext.name)}{where}", f"extension {ext.name}")
        )
    for en in schema.enums:
        values = ", ".join(quote_literal(v) for v in en.values)
        out.append(
            DDL(
                f"CREATE TYPE {qualified(en.name, target_schema)} AS ENUM ({values})",
                f"enum {en.name}",
            )
        )
    early, late = _split_functions(schema)
    for f in early:
        out.append(DDL(function_sql(f, target_schema), f"function {f.identity}"))
    md = build_metadata(schema, target_schema)
    tables = [
        md.tables[f"{target_schema}.{t.name}" if target_schema else t.name] for t in schema.tables
    ]
    for table in tables:
        out.append(
            DDL(
                _clean(
                    CreateTable(table, include_foreign_key_constraints=[]).compile(dialect=DIALECT)
                ),
                f"table {table.name}",
            )
        )
    for table in tables:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append(
                DDL(
                    _clean(CreateIndex(index).compile(dialect=DIALECT)),
                    f"index {index.name} on table {table.name}",
                )
            )
    for table in tables:
        fks = sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        for fk in fks:
            out.append(
                DDL(
                    _clean(AddConstraint(fk).compile(dialect=DIALECT)),
                    f"foreign key {fk.name} on table {table.name}",
                )
            )
    for f in late:
        out.append(DDL(function_sql(f, target_schema), f"function {f.identity}"))
    for t in schema.tables:
        for tr in t.triggers:
            out.append(
                DDL(trigger_sql(t, tr, target_schema), f"trigger {tr.name} on table {t.name}")
            )
    # Comments are written here, not by SQLAlchemy: its literal is a plain '...', which
    # a server with standard_conforming_strings = off reads differently (literals.py).
    for table in tables:
        name = qualified(table.name, target_schema)
        if table.comment is not None:
            out.append(
                DDL(
                    f"COMMENT ON TABLE {name} IS {quote_literal(table.comment)}",
                    f"comment on table {table.name}",
                )
            )
        for col in table.columns:
            if col.comment is not None:
                out.append(
                    DDL(
                        f"COMMENT ON COLUMN {name}.{quote(col.name)} IS "
                        f"{quote_literal(col.comment)}",
                        f"comment on column {table.name}.{col.name}",
                    )
                )
    by_name = {t.name: t for t in schema.tables}
    for table in tables:
        for ix in by_name[table.name].indexes:
            if ix.comment is not None:
                lit = quote_literal(ix.comment)
                out.append(
                    DDL(
                        f"COMMENT ON INDEX {qualified(ix.name, target_schema)} IS {lit}",
                        f"comment on index {ix.name}",
                    )
                )
    return out


def render(ddl: list[DDL]) -> str:
    return "".join(f"{d.sql};\n\n" for d in ddl)
