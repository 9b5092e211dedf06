"""What Bindu's application imports: bring public or a tenant schema to head at run time.

Light on purpose: SQLAlchemy, Alembic and a driver (psycopg2 for the sync calls, asyncpg
for the async ones). The revisions come from the installed package (resources.py), so no
alembic.ini and no checkout are needed; none of the planning tools (migra, the embedded
server, squawk, pglast, jsonschema) is imported here or by generated/env.py on this path.

Concurrency: generated/env.py creates and migrates a schema under its PostgreSQL advisory
lock (one per tenant, one for public), so any number of workers may call these at once
for the same or different DIDs: the first migrates, the others wait and find it at head.
Alembic's `op` / `context` proxies are process-global, so within one process the
upgrades themselves run one at a time (a thread lock, and an asyncio lock per loop).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from . import resources, settings, tenancy
from .errors import BinduSchemaError, DatabaseError

_thread_lock = threading.Lock()
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class SchemaState:
    exists: bool
    heads: tuple[str, ...]  # what <schema>.alembic_version holds
    tables: int  # tables other than alembic_version


def tenant_name(did: str) -> str:
    """The tenant schema of a DID, refused when it is not one env.py accepts."""
    name = tenancy.schema_name(did)
    if not tenancy.valid_schema_name(name) or name == "public" or name.startswith("pg_"):
        raise BinduSchemaError(f"{did!r}: derives {name!r}, which is not a tenant schema name")
    return name


def config(ini: str | Path | None = None) -> Config:
    """The packaged revisions (no alembic.ini), or those of an explicit alembic.ini."""
    if ini is None:
        cfg = resources.alembic_config()
    else:
        if not Path(ini).is_file():
            raise BinduSchemaError(f"{ini}: no such Alembic config")
        cfg = Config(str(ini))
        cfg.attributes["configure_logger"] = False
    cfg.attributes["bindu_schema.runtime"] = True
    return cfg


def head(cfg: Config) -> str:
    try:
        heads = ScriptDirectory.from_config(cfg).get_heads()
    except CommandError as exc:
        raise BinduSchemaError(f"Alembic: {exc}") from None
    if len(heads) != 1:
        raise BinduSchemaError(f"the packaged revisions have {len(heads)} heads; expected one")
    return heads[0]


def read_state(conn: sa.Connection, schema: str) -> SchemaState:
    """One round of catalog queries; the caller's transaction is left as it was found."""
    row = conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :s), "
            "(SELECT count(*) FROM pg_tables WHERE schemaname = :s "
            "AND tablename <> 'alembic_version'), "
            "EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = :s "
            "AND tablename = 'alembic_version')"
        ),
        {"s": schema},
    ).one()
    heads: tuple[str, ...] = ()
    if row[2]:
        heads = tuple(
            MigrationContext.configure(
                conn, opts={"version_table_schema": schema}
            ).get_current_heads()
        )
    if conn.in_transaction():
        conn.commit()  # no snapshot held while waiting for the advisory lock
    return SchemaState(bool(row[0]), heads, int(row[1]))


def _upgrade(conn: sa.Connection, cfg: Config, schema: str | None) -> None:
    """`alembic upgrade head` on this connection unless it is already there."""
    target = head(cfg)
    st = read_state(conn, schema or "public")
    if st.heads == (target,):
        return
    if schema is not None and st.tables and not st.heads:
        raise BinduSchemaError(
            f"{schema} holds {st.tables} table(s) but no alembic_version (made by Bindu's old "
            f"run-time path); run `bindu-schema apply --target-schema {schema}` once to bring "
            "it to head (docs/tenants.md)"
        )
    cfg.attributes["connection"] = conn
    if schema is not None:
        cfg.attributes["bindu_schema.tenant_schema"] = schema
    try:
        with _thread_lock:
            command.upgrade(cfg, "head")
    finally:
        # env.py set search_path, lock_timeout and statement_timeout for this session:
        # the connection must not go back to the caller's pool carrying them.
        conn.invalidate()


@contextmanager
def _errors(source: str) -> Iterator[None]:
    """Alembic / driver failures as BinduSchemaError, without passwords."""
    try:
        yield
    except CommandError as exc:
        raise BinduSchemaError(f"Alembic: {settings.scrub(str(exc))}") from None
    except sa.exc.DBAPIError as exc:
        detail = str(exc.orig).strip() if exc.orig is not None else str(exc)
        raise DatabaseError(f"{source}: {settings.scrub(detail)}") from None


# --- sync -----------------------------------------------------------------------------------


def _sync_engine(url_or_engine: str | sa.Engine) -> tuple[sa.Engine, bool]:
    if isinstance(url_or_engine, sa.Engine):
        return url_or_engine, False
    url = settings.normalize(url_or_engine, "bindu_schema.runtime(url)")
    return sa.create_engine(url.sqlalchemy, poolclass=NullPool), True


def _run_sync(url_or_engine: str | sa.Engine, schema: str | None, ini: str | Path | None) -> None:
    cfg = config(ini)
    engine, owned = _sync_engine(url_or_engine)
    try:
        with _errors("database"), engine.connect() as conn:
            _upgrade(conn, cfg, schema)
    finally:
        if owned:
            engine.dispose()


def ensure_tenant(
    url_or_engine: str | sa.Engine, did: str, *, ini: str | Path | None = None
) -> str:
    """Create the DID's tenant schema if needed and upgrade it to head; return its name.

    Idempotent (a schema at head costs one catalog query) and safe when many workers call
    it at once. A schema left by Bindu's old run-time path (tables, no alembic_version) is
    refused with a pointer to `bindu-schema apply --target-schema NAME`.
    """
    name = tenant_name(did)
    _run_sync(url_or_engine, name, ini)
    return name


def migrate(url_or_engine: str | sa.Engine, *, ini: str | Path | None = None) -> None:
    """Upgrade public to head (what `alembic upgrade head` does, from the wheel)."""
    _run_sync(url_or_engine, None, ini)


# --- async (Bindu's storage layer: SQLAlchemy asyncio + asyncpg) ---------------------------


def _async_engine(engine_or_url: str | AsyncEngine) -> tuple[AsyncEngine, bool]:
    if isinstance(engine_or_url, AsyncEngine):
        return engine_or_url, False
    url = settings.normalize(engine_or_url, "bindu_schema.runtime(url)").url
    # asyncpg spells TLS ssl=..., not sslmode=... (normalize wrote libpq's spelling)
    query = dict(url.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return create_async_engine(url.render_as_string(hide_password=False), poolclass=NullPool), True


@asynccontextmanager
async def _loop_lock() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    lock = _loop_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        yield


async def _run_async(
    engine_or_url: str | AsyncEngine, schema: str | None, ini: str | Path | None
) -> None:
    cfg = config(ini)
    engine, owned = _async_engine(engine_or_url)
    try:
        with _errors("database"):
            async with engine.connect() as conn:
                st = await conn.run_sync(read_state, schema or "public")
                if st.heads == (head(cfg),):
                    return  # the common case: no lock, one catalog query
                async with _loop_lock():
                    await conn.run_sync(_upgrade, cfg, schema)
    finally:
        if owned:
            await engine.dispose()


async def ensure_tenant_async(
    engine_or_url: str | AsyncEngine, did: str, *, ini: str | Path | None = None
) -> str:
    """ensure_tenant for an AsyncEngine or a postgresql+asyncpg:// URL (any URL form is
    accepted and driven through asyncpg); returns the schema name."""
    name = tenant_name(did)
    await _run_async(engine_or_url, name, ini)
    return name


async def migrate_async(engine_or_url: str | AsyncEngine, *, ini: str | Path | None = None) -> None:
    """Upgrade public to head through asyncpg."""
    await _run_async(engine_or_url, None, ini)


__all__ = [
    "ensure_tenant",
    "ensure_tenant_async",
    "migrate",
    "migrate_async",
    "tenant_name",
]
