"""What a rollout's worker process does, tenant after tenant (fleet.py runs a pool of them).

A worker keeps one connection per database and migrates many tenants through it:
Alembic's `op`/`context` proxies are process-global, so one process migrates one tenant at
a time, and parallelism comes from the number of workers, not from a process per tenant.
Each tenant is still its own transaction under its own advisory lock (generated/env.py).
A run that fails on lock_timeout is rolled back and tried again (retry.py), per tenant.

A worker whose controller died (killed mid-rollout) exits on its own within a second, so
its connection closes and PostgreSQL rolls back the tenant it was migrating: the next
rollout resumes from what was committed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from . import retry, server, settings
from .errors import BinduSchemaError
from .revision import alembic_config, alembic_errors, script_directory
from .settings import DatabaseURL, scrub

_connections: dict[str, sa.Connection] = {}
_known: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class Job:
    """One tenant for a worker; plain data, so it pickles to a spawned process."""

    live: str  # the full URL (password included: only between our own processes)
    dev: str
    schema_path: str
    ini: str
    name: str
    timeouts: dict[str, str] = field(default_factory=dict)
    lock_tries: int = retry.DEFAULT_TRIES


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # tenants.MIGRATED / CURRENT / CONVERTED / FAILED
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0


def start(parent: int) -> None:
    """Pool initializer: exit when the controller is gone (see the module docstring)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# A session waiting for a lock does not notice that its client is gone: without this check
# (PostgreSQL 14+) a killed worker's session would wait on, and then migrate its tenant.
CHECK_CLIENT = "-c client_connection_check_interval=1000"


def _connection(live: str) -> sa.Connection:
    conn = _connections.get(live)
    if conn is None or conn.closed or conn.invalidated:
        url = sa.make_url(live)
        given = url.query.get("options")
        options = " ".join([*([given] if isinstance(given, str) else given or ()), CHECK_CLIENT])
        engine = sa.create_engine(url, poolclass=NullPool, connect_args={"options": options})
        conn = _connections[live] = engine.connect()
    return conn


def _forget(live: str) -> None:
    conn = _connections.pop(live, None)
    if conn is not None:
        try:
            conn.close()
        except sa.exc.SQLAlchemyError:
            pass


def _reset(live: str, conn: sa.Connection) -> None:
    """env.py set search_path and the timeouts for the session: not for the next tenant.
    A connection that cannot be reset is dropped (the next tenant opens another)."""
    try:
        conn.rollback()
        conn.exec_driver_sql("RESET ALL")
        conn.commit()
    except sa.exc.SQLAlchemyError:
        _forget(live)


def read(conn: sa.Connection, name: str) -> tuple[bool, bool, int, tuple[str, ...]]:
    """(exists, versioned, tables other than alembic_version, heads) on this connection."""
    row = conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :s), "
            "count(*) FILTER (WHERE tablename <> 'alembic_version'), "
            "coalesce(bool_or(tablename = 'alembic_version'), false) "
            "FROM pg_tables WHERE schemaname = :s"
        ),
        {"s": name},
    ).one()
    heads: tuple[str, ...] = ()
    if row[2]:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": name})
        heads = tuple(sorted(ctx.get_current_heads()))
    conn.commit()
    return bool(row[0]), bool(row[2]), int(row[1]), heads


def _check_known(job: Job, heads: tuple[str, ...], live: DatabaseURL) -> None:
    known = _known.get(job.ini)
    if known is None:
        script = script_directory(alembic_config(job.ini))
        known = _known[job.ini] = frozenset(r.revision for r in script.walk_revisions())
    if any(h not in known for h in heads):
        from .apply import check_known

        check_known(heads, job.ini, live)  # raises, saying what to do


def migrate(job: Job) -> Outcome:
    """One tenant to head; never raises (a failure is a FAILED outcome)."""
    from . import tenants

    started = time.monotonic()
    live = settings.normalize(job.live, "--database-url")
    dev = server.parse_server(job.dev)
    before: tuple[str, ...] = ()
    notes: list[str] = []
    try:
        tenants.check_name(job.name)
        conn = _connection(job.live)
        exists, versioned, tables, before = read(conn, job.name)
        if exists and not versioned and tables:
            _, ran = tenants.convert(job.schema_path, live, dev, job.name, job.ini, job.timeouts)
            status = tenants.CONVERTED
            notes.append(f"unversioned schema brought to head ({len(ran)} statements)")
        else:
            _check_known(job, before, live)
            cfg = alembic_config(
                job.ini, live, job.schema_path, settings={**job.timeouts, "tenant_schema": job.name}
            )
            cfg.attributes["connection"] = conn
            cfg.attributes["bindu_schema.runtime"] = True  # an upgrade compares nothing
            try:
                with alembic_errors(live):
                    retry.run(
                        lambda: command.upgrade(cfg, "head"),
                        retry.Backoff(tries=job.lock_tries),
                        notes.append,
                    )
            finally:
                _reset(job.live, conn)
            status = tenants.MIGRATED
        after = read(_connection(job.live), job.name)[3]
        if status == tenants.MIGRATED and after == before:
            status = tenants.CURRENT
        return Outcome(job.name, status, before, after, "; ".join(notes), _since(started))
    except BinduSchemaError as exc:
        _forget(job.live)
        message = "; ".join([*notes, scrub(str(exc), live, dev)])
        return Outcome(job.name, tenants.FAILED, before, (), message, _since(started))
    except Exception as exc:  # one tenant's surprise must not stop the others
        _forget(job.live)
        message = "; ".join([*notes, scrub(f"{type(exc).__name__}: {exc}", live, dev)])
        return Outcome(job.name, tenants.FAILED, before, (), message, _since(started))
    finally:
        server.drop_all_live_scratch()


def full_drift(job: Job) -> tuple[tuple[str, ...], str]:
    """(statements from the tenant to the YAML, error): the full comparison."""
    from . import tenants

    live = settings.normalize(job.live, "--database-url")
    dev = server.parse_server(job.dev)
    try:
        return tenants.drift(job.schema_path, live, dev, job.name), ""
    except BinduSchemaError as exc:
        return (), scrub(str(exc), live, dev) or "drift check failed"
    except Exception as exc:
        return (), scrub(f"{type(exc).__name__}: {str(exc).strip()}", live, dev)
    finally:
        server.drop_all_live_scratch()


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def resolved(path: str | Path) -> str:
    return str(Path(path).resolve())
