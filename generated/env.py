"""Alembic environment for Bindu's schema (bindu-schema).

The database is resolved exactly as `bindu-schema` resolves it: `-x url=...` (or the
URL our tool passes programmatically), DATABASE_URL, STORAGE__POSTGRES_URL,
`sqlalchemy.url` in alembic.ini, else the embedded server's `bindu` database. Every
URL form Bindu uses is accepted (postgres://, postgresql://, +asyncpg, +psycopg) and
normalized to psycopg2.

Online runs take a PostgreSQL advisory lock, so concurrent `alembic upgrade` /
`bindu-schema apply` runs serialize and each revision runs once, and set
lock_timeout / statement_timeout for the migration session. Defaults below;
override with `-x lock_timeout=10s` or the BINDU_SCHEMA_* environment variables.

target_metadata is built from schema/bindu.yaml (alembic.ini: bindu_schema.schema),
for `alembic revision --autogenerate` and `alembic check`.

Tenant schemas (docs/tenants.md): `-x tenant_schema=did_x` (or the schema our tool passes)
migrates that schema instead of public. The revisions name objects unqualified; here the
schema is created if missing, `search_path` is set to it alone, alembic_version lives in
it, and the advisory lock is the tenant's own (pg_advisory_lock(class, hashtext(schema))),
so tenants migrate in parallel while two runs on the same tenant serialize.
"""

from __future__ import annotations

import logging
import os
import re
from logging.config import fileConfig
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.pool import NullPool

from bindu_schema import settings, tenancy
from bindu_schema.errors import BinduSchemaError

config = context.config
log = logging.getLogger("alembic.env")

# Name -> (default, environment variable). Documented in docs/revisions.md.
TIMEOUTS: dict[str, tuple[str, str]] = {
    # How long one DDL statement may wait for a table lock before it fails (so a
    # migration never queues application traffic behind it for long).
    "lock_timeout": ("5s", "BINDU_SCHEMA_LOCK_TIMEOUT"),
    # How long one statement may run (index builds on big tables need minutes).
    "statement_timeout": ("15min", "BINDU_SCHEMA_STATEMENT_TIMEOUT"),
    # How long to wait for another migration run holding the advisory lock.
    "advisory_lock_timeout": ("10min", "BINDU_SCHEMA_ADVISORY_LOCK_TIMEOUT"),
}
# pg_advisory_lock key shared by every bindu-schema / alembic run on a database.
ADVISORY_LOCK_KEY = tenancy.PUBLIC_LOCK_KEY
# config.attributes key: the heads found once the lock is held (read by bindu-schema apply).
HEADS_AT_LOCK = "bindu_schema.heads_at_lock"

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _x() -> dict[str, str]:
    return context.get_x_argument(as_dictionary=True)


def setting(name: str) -> str:
    """-x NAME=..., then our tool's value, then the environment, then alembic.ini."""
    default, env_var = TIMEOUTS[name]
    for value in (
        _x().get(name),
        config.attributes.get(f"bindu_schema.{name}"),
        os.environ.get(env_var),
        config.get_main_option(f"bindu_schema.{name}"),
    ):
        if value:
            return str(value)
    return default


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def tenant_schema() -> str | None:
    """The schema to migrate when it is not public (None: public, as always)."""
    raw = _x().get("tenant_schema") or config.attributes.get("bindu_schema.tenant_schema")
    if not raw or raw == "public":
        return None
    name = str(raw)
    if not _SCHEMA_NAME.match(name):
        raise CommandError(
            f"tenant_schema {name!r}: expected a lower-case name of [a-z0-9_] "
            "(what Bindu derives from a DID), at most 63 characters"
        )
    return name


def _lock_call(fn: str, tenant: str | None) -> str:
    if tenant is None:
        return f"SELECT {fn}({ADVISORY_LOCK_KEY})"
    return f"SELECT {fn}({tenancy.TENANT_LOCK_CLASS}, hashtext({_literal(tenant)}))"


def database_url(start_embedded: bool = True) -> settings.DatabaseURL | None:
    try:
        explicit = _x().get("url") or config.attributes.get("bindu_schema.url")
        url = settings.from_environment(explicit)
        if url is None and config.get_main_option("sqlalchemy.url"):
            url = settings.normalize(
                str(config.get_main_option("sqlalchemy.url")), "sqlalchemy.url"
            )
        if url is None and start_embedded:
            from bindu_schema import server  # a planning tool: not needed with a URL

            url = server.default_target(server.embedded_server_url())
    except BinduSchemaError as exc:
        raise CommandError(settings.scrub(str(exc))) from None
    return url


def schema_path() -> Path:
    raw = (
        _x().get("schema")
        or config.attributes.get("bindu_schema.schema")
        or config.get_main_option("bindu_schema.schema")
        or "schema/bindu.yaml"
    )
    return Path(str(raw))


def load_target_metadata() -> tuple[sa.MetaData, tuple[str, ...]]:
    """The YAML's tables as SQLAlchemy MetaData, and the tables it excludes."""
    from bindu_schema import loader
    from bindu_schema.compile import build_metadata

    try:
        schema = loader.load(schema_path())
    except BinduSchemaError as exc:
        raise CommandError(str(exc)) from None
    return build_metadata(schema), schema.exclude.tables


# The runtime (bindu_schema.runtime: the application's upgrades) compares nothing, so it
# needs neither the YAML nor the planning tools that read it.
RUNTIME = bool(config.attributes.get("bindu_schema.runtime"))
target_metadata, excluded_tables = (None, ()) if RUNTIME else load_target_metadata()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What autogenerate / `alembic check` compare.

    Skipped: tables the YAML excludes, and indexes with expressions or ordered (DESC)
    keys, which SQLAlchemy cannot compare reliably; `bindu-schema plan` compares them
    through migra.
    """
    if type_ == "table" and name in excluded_tables:
        return False
    if type_ in ("column", "index", "unique_constraint", "foreign_key_constraint"):
        table = getattr(obj, "table", None)
        if table is not None and table.name in excluded_tables:
            return False
    if type_ == "index" and any(
        not isinstance(e, sa.Column) for e in getattr(obj, "expressions", ())
    ):
        return False
    return True


def process_revision_directives(ctx: Any, revision: Any, directives: list[Any]) -> None:
    """`alembic revision --autogenerate` gets a Bindu-style id: YYYYMMDD_NNNN."""
    from bindu_schema.revision import next_revision_id

    cmd_opts = config.cmd_opts
    if directives and not (cmd_opts is not None and getattr(cmd_opts, "rev_id", None)):
        directives[0].rev_id = next_revision_id(ScriptDirectory.from_config(config))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: SQL for a DBA, no connection needed."""
    url = database_url(start_embedded=False)
    tenant = tenant_schema()
    context.configure(
        url=url.sqlalchemy if url else None,
        dialect_name=None if url else "postgresql",
        # named: no psycopg2 "%%" doubling of percent signs in the DBA's SQL
        dialect_opts={"paramstyle": "named"},
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        version_table_schema=tenant,
    )
    context.execute(f"SET lock_timeout = {_literal(setting('advisory_lock_timeout'))}")
    context.execute(_lock_call("pg_advisory_lock", tenant))
    context.execute(f"SET lock_timeout = {_literal(setting('lock_timeout'))}")
    context.execute(f"SET statement_timeout = {_literal(setting('statement_timeout'))}")
    context.execute("SET standard_conforming_strings = on")
    if tenant is not None:
        context.execute(f'CREATE SCHEMA IF NOT EXISTS "{tenant}"')
        context.execute(f'SET search_path = "{tenant}"')
    with context.begin_transaction():
        context.run_migrations()
    context.execute(_lock_call("pg_advisory_unlock", tenant))


def _set(connection: sa.Connection, name: str, value: str) -> None:
    try:
        connection.execute(
            sa.text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value}
        )
    except sa.exc.DBAPIError as exc:
        connection.rollback()
        raise CommandError(f"invalid {name} {value!r}: {str(exc.orig).strip()}") from None


def acquire_lock(connection: sa.Connection, tenant: str | None = None) -> None:
    """Serialize migration runs on this database (on this tenant schema); then set the
    migration timeouts. A tenant schema is created here, under its lock, and becomes the
    only schema on the search_path."""
    _set(connection, "lock_timeout", setting("advisory_lock_timeout"))
    try:
        connection.execute(sa.text(_lock_call("pg_advisory_lock", tenant)))
    except sa.exc.OperationalError as exc:
        connection.rollback()
        raise CommandError(
            "another migration holds the bindu-schema advisory lock on this database "
            f"and did not finish within advisory_lock_timeout "
            f"({setting('advisory_lock_timeout')}): {str(exc.orig).strip()}"
        ) from None
    _set(connection, "lock_timeout", setting("lock_timeout"))
    _set(connection, "statement_timeout", setting("statement_timeout"))
    # The revisions' literals are written for this setting (bindu_schema/literals.py); a
    # database or role with standard_conforming_strings = off must not change their meaning.
    _set(connection, "standard_conforming_strings", "on")
    if tenant is not None:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{tenant}"'))
        _set(connection, "search_path", f'"{tenant}"')
        # autogenerate / `alembic check` compare the tenant schema as the default one
        connection.dialect.default_schema_name = tenant
    connection.commit()


def release_lock(connection: sa.Connection, tenant: str | None = None) -> None:
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text(_lock_call("pg_advisory_unlock", tenant)))
        connection.commit()
    except sa.exc.SQLAlchemyError:
        pass  # a lost connection (PendingRollbackError too): the lock went with the session


def _root_cause(exc: sa.exc.SQLAlchemyError) -> BaseException:
    """The database error behind a PendingRollbackError that alembic's autocommit_block
    raises while cleaning up after a lost connection (else exc itself)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.exc.DBAPIError):
            return seen
        seen = seen.__context__
    return exc


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        # Alembic's pattern for an AsyncEngine: AsyncConnection.run_sync hands a connection
        # to command.upgrade through config.attributes (bindu_schema.runtime).
        migrate(given, tenant_schema())
        return
    url = database_url()
    assert url is not None
    tenant = tenant_schema()
    engine = sa.create_engine(url.sqlalchemy, poolclass=NullPool)
    try:
        try:
            connection = engine.connect()
        except sa.exc.OperationalError as exc:
            msg = settings.scrub(str(exc.orig).strip(), url)
            raise CommandError(f"cannot connect to {url.safe} ({url.source}): {msg}") from None
        with connection:
            migrate(connection, tenant)
    finally:
        engine.dispose()


def migrate(connection: sa.Connection, tenant: str | None) -> None:
    acquire_lock(connection, tenant)
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            process_revision_directives=process_revision_directives,
            compare_type=True,
            compare_server_default=False,
            version_table_schema=tenant,
        )
        # What this run starts from, read under the lock (bindu-schema apply
        # reports it; a version read before the lock may be stale).
        config.attributes[HEADS_AT_LOCK] = tuple(context.get_context().get_current_heads())
        try:
            with context.begin_transaction():
                context.run_migrations()
        except sa.exc.InvalidRequestError as exc:
            raise _root_cause(exc) from None
    finally:
        release_lock(connection, tenant)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
