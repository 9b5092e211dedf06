"""model.Schema -> SQLAlchemy MetaData -> DDL text.

Each kind (kinds/) renders its own statements, through SQLAlchemy's PostgreSQL DDL
compiler where SQLAlchemy has a construct (the same MetaData is Alembic's
target_metadata), plain SQL where it has none. This module orders them by phase, checks
that each is exactly one statement, and caches the result.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine, UserDefinedType

from . import cache, collector, model, statements, table_cache
from .errors import BinduSchemaError
from .literals import tidy

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


def build_metadata(schema: model.Schema, target_schema: str | None = None) -> sa.MetaData:
    """The SQLAlchemy MetaData of the schema (Alembic's target_metadata): each kind adds
    what SQLAlchemy has a construct for."""
    from . import kinds

    md = sa.MetaData(schema=target_schema)
    for kind in kinds.KINDS:
        kind.metadata(md, schema, target_schema)
    return md


def clean(sql: object) -> str:
    """SQLAlchemy's DDL with its layout tidied; literals and quoted names untouched."""
    return tidy(str(sql))


def compile_schema(schema: model.Schema, target_schema: str | None = None) -> list[DDL]:
    """Deterministic DDL for the whole schema, in an order that loads into an empty database.

    A pure function of the model: cached on disk (cache.py) by the pickled model's hash."""
    k = cache.key("ddl", pickle.dumps(schema, protocol=4), target_schema or "")
    hit = cache.get("ddl", k)
    if isinstance(hit, list):
        return hit
    with collector.cycles_collected():  # the MetaData _render builds is cyclic garbage after
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
        statements.check_one(d.sql.strip())
    except statements.StatementError as exc:
        raise CompileError(
            f"the DDL for {d.obj} is not exactly one SQL statement: {exc}. Fix that "
            "object's values in the YAML (an expression, type or default probably holds a "
            "stray quote, parenthesis or semicolon); nothing was run"
        ) from None


def _render(schema: model.Schema, target_schema: str | None) -> list[DDL]:
    """Every kind's statements, ordered by phase (kinds/base.py), then by registry order."""
    from . import kinds

    out: list[DDL] = []
    if target_schema:
        out.append(
            DDL(f"CREATE SCHEMA IF NOT EXISTS {quote(target_schema)}", f"schema {target_schema}")
        )
        # Names the DDL leaves unqualified (a default's nextval('seq'), a view's query)
        # resolve in the tenant schema, as when env.py runs the revisions there; the DDL
        # runs in one transaction (server.load_ddl).
        sql = f"SET LOCAL search_path = {quote(target_schema)}"
        out.append(DDL(sql, f"search path for {target_schema}"))
    if table_cache.enabled():  # only the tables kind reads the MetaData
        md, tables = table_cache.render(schema, target_schema)
        phased = [
            d
            for kind in kinds.KINDS
            for d in (tables if kind.key == "tables" else kind.ddl(schema, target_schema, md))
        ]
    else:
        md = build_metadata(schema, target_schema)
        phased = [d for kind in kinds.KINDS for d in kind.ddl(schema, target_schema, md)]
    # sorted() is stable: within a phase, statements keep the order their kind gave them.
    return out + [d for _, d in sorted(phased, key=lambda pd: pd[0])]


def render(ddl: list[DDL]) -> str:
    return "".join(f"{d.sql};\n\n" for d in ddl)
