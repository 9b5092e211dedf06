"""Tenant schemas: the same generated/ revisions applied to every Bindu tenant schema.

Bindu isolates tenants in schemas named after a DID (tenancy.schema_name). The revisions
in generated/ are schema-agnostic; generated/env.py migrates one schema when given
`tenant_schema` (search_path, its own alembic_version, its own advisory lock). This module
finds tenant schemas, reads their state in bulk, brings schemas built by Bindu's old
run-time ORM path (no alembic_version) to head, and is the home of ensure_tenant; the
rollout over many tenants (a worker pool, stages, the fingerprint drift check) is
fleet.py's. docs/tenants.md.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import (
    ProcessPoolExecutor,
)
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg2
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from psycopg2 import sql as pgsql
from sqlalchemy.pool import NullPool

from . import catalog, differ, fidelity, hazards, loader, retry, server, settings, tenancy
from . import plan as planner
from .errors import BinduSchemaError
from .kinds import base
from .revision import (
    DEFAULT_CONFIG,
    alembic_config,
    alembic_errors,
    script_directory,
    single_head,
)
from .runtime import ensure_tenant  # the Python API lives in runtime.py (light)
from .settings import DatabaseURL, scrub
from .statements import Record

# LIKE patterns: what Bindu derives from a DID (`did:...` -> did_..., digit-first -> schema_...).
DEFAULT_PATTERNS = (r"did\_%", r"schema\_%")
# Statements the conversion of an unversioned schema never runs without a human.
REFUSED_IN_CONVERSION = frozenset({"DELETES_DATA"})

# A tenant's outcome in a rollout (the codes of the JSON report, docs/tenant-rollout.schema.json);
# SKIPPED: not started, because the canary or --max-failures stopped the rollout.
MIGRATED, CURRENT, CONVERTED, FAILED, SKIPPED = (
    "MIGRATED",
    "CURRENT",
    "CONVERTED",
    "FAILED",
    "SKIPPED",
)
STATUSES = (MIGRATED, CURRENT, CONVERTED, FAILED, SKIPPED)


@dataclass(frozen=True)
class TenantState:
    name: str
    exists: bool
    versioned: bool  # has <schema>.alembic_version
    heads: tuple[str, ...]
    tables: int  # tables other than alembic_version


@dataclass(frozen=True)
class TenantResult:
    name: str
    status: str  # one of STATUSES
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    message: str = ""
    drift: tuple[str, ...] = field(default=())
    seconds: float = 0.0  # how long this tenant took (state, migration and drift check)
    database: str = ""  # the database, password hidden
    # how its drift was checked: "fingerprint" (equal to head's), "full" (a plan), None (not)
    drift_check: str | None = None


# --- finding tenant schemas -----------------------------------------------------------------


def find(url: DatabaseURL, patterns: Sequence[str] = DEFAULT_PATTERNS) -> list[str]:
    """Schemas whose name matches one of the LIKE patterns, sorted."""
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE ANY(%s) ORDER BY 1",
                (list(patterns),),
            )
            return [str(r[0]) for r in cur.fetchall() if is_tenant_name(str(r[0]))]
    finally:
        conn.close()


def by_size(url: DatabaseURL, names: Sequence[str]) -> list[str]:
    """names, smallest first (the bytes of their tables, indexes and TOAST), then by name:
    with --order size a canary stage takes the cheapest tenants, and the longest
    migrations start last. One query for the whole fleet."""
    if not names:
        return []
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)) FILTER "
                "(WHERE c.relkind IN ('r', 'm', 'p')), 0) FROM pg_namespace n "
                "LEFT JOIN pg_class c ON c.relnamespace = n.oid "
                "WHERE n.nspname = ANY(%s) GROUP BY n.nspname",
                (list(names),),
            )
            size = {str(r[0]): int(r[1]) for r in cur.fetchall()}
    finally:
        conn.close()
    return sorted(dict.fromkeys(names), key=lambda n: (size.get(n, 0), n))


_NEVER_TENANTS = ("public", "information_schema")


def is_tenant_name(name: str) -> bool:
    """Whatever the pattern, system schemas and public are never tenants."""
    return (
        tenancy.valid_schema_name(name)
        and name not in _NEVER_TENANTS
        and not name.startswith("pg_")
    )


def state(url: DatabaseURL, name: str) -> TenantState:
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,))
            if cur.fetchone() is None:
                return TenantState(name, False, False, (), 0)
            cur.execute(
                "SELECT count(*) FILTER (WHERE tablename <> 'alembic_version'), "
                "bool_or(tablename = 'alembic_version') FROM pg_tables WHERE schemaname = %s",
                (name,),
            )
            row = cur.fetchone()
            assert row is not None
            tables, versioned = int(row[0]), bool(row[1])
            heads: tuple[str, ...] = ()
            if versioned:
                quoted = name.replace('"', '""')
                try:
                    cur.execute(f'SELECT version_num FROM "{quoted}".alembic_version ORDER BY 1')
                except psycopg2.errors.InsufficientPrivilege:
                    raise BinduSchemaError(
                        f"tenant {name}: the role {url.url.username or '(default)'} may not "
                        f"read {name}.alembic_version; grant it USAGE ON SCHEMA {name} and "
                        f"SELECT ON {name}.alembic_version"
                    ) from None
                heads = tuple(str(r[0]) for r in cur.fetchall())
            return TenantState(name, True, versioned, heads, tables)
    finally:
        conn.close()


def states(url: DatabaseURL, names: Sequence[str], chunk: int = 500) -> dict[str, TenantState]:
    """state() of many tenants in a few queries (one for the catalogs, one per `chunk`
    versioned schemas for their alembic_version), on one connection: a fleet's state costs
    milliseconds, not a connection per tenant. A schema whose alembic_version this role
    may not read falls back to state() (its error names the missing privilege)."""
    out: dict[str, TenantState] = {n: TenantState(n, False, False, (), 0) for n in names}
    if not out:
        return out
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT n.nspname, count(t.tablename) FILTER (WHERE t.tablename <> "
                "'alembic_version'), coalesce(bool_or(t.tablename = 'alembic_version'), false) "
                "FROM pg_namespace n LEFT JOIN pg_tables t ON t.schemaname = n.nspname "
                "WHERE n.nspname = ANY(%s) GROUP BY n.nspname",
                (list(out),),
            )
            found = {str(r[0]): (int(r[1]), bool(r[2])) for r in cur.fetchall()}
            versioned = [n for n in out if found.get(n, (0, False))[1]]
            heads: dict[str, list[str]] = {n: [] for n in versioned}
            unreadable: list[str] = []
            for i in range(0, len(versioned), chunk):
                part = versioned[i : i + chunk]
                union = pgsql.SQL(" UNION ALL ").join(
                    pgsql.SQL("SELECT %s, version_num FROM {}.alembic_version").format(
                        pgsql.Identifier(n)
                    )
                    for n in part
                )
                try:
                    cur.execute(union, part)
                except psycopg2.errors.InsufficientPrivilege:
                    conn.rollback()
                    unreadable += part
                    continue
                for schema, version in cur.fetchall():
                    heads[str(schema)].append(str(version))
        for n, (tables, is_versioned) in found.items():
            out[n] = TenantState(n, True, is_versioned, tuple(sorted(heads.get(n, ()))), tables)
    finally:
        conn.close()
    for n in unreadable:
        out[n] = state(url, n)
    return out


def check_name(name: str) -> str:
    if not tenancy.valid_schema_name(name):
        raise BinduSchemaError(
            f"{name!r} is not a tenant schema name: lower-case [a-z0-9_], not starting with a "
            "digit, at most 63 characters (what Bindu derives from a DID)"
        )
    if not is_tenant_name(name):
        raise BinduSchemaError(f"{name!r} is a system schema or public, not a tenant schema")
    return name


# --- one tenant -----------------------------------------------------------------------------


def _cfg(
    ini: str | Path,
    url: DatabaseURL,
    schema_path: str | Path,
    name: str,
    timeouts: Mapping[str, str] | None = None,
) -> Any:
    return alembic_config(
        ini, url, schema_path, settings={**(timeouts or {}), "tenant_schema": name}
    )


def drift(
    schema_path: str | Path, live: DatabaseURL, dev: DatabaseURL, name: str
) -> tuple[str, ...]:
    """Statements that would take the tenant schema to the YAML (empty: no drift)."""
    schema = loader.load(schema_path)
    p = planner.build(
        schema,
        live,
        dev,
        with_downgrade=False,
        validate=False,
        run_lint=False,
        concurrently=False,
        target_schema=name,
    )
    return tuple(s.sql for s in p.statements) + p.drift


def diff_to_head(
    schema_path: str | Path, live: DatabaseURL, dev: DatabaseURL, name: str, ini: str | Path
) -> tuple[str | None, list[Record]]:
    """(head, parsed statements from the live tenant schema to the head of generated/
    replayed in a schema of the same name on a scratch database)."""
    schema = loader.load(schema_path)
    head = single_head(script_directory(alembic_config(ini)))
    if head is None:
        raise BinduSchemaError("generated/ has no revisions; run `bindu-schema revision` first")
    with server.scratch(dev) as at_head:
        with alembic_errors(at_head):
            command.upgrade(_cfg(ini, at_head, schema_path, name), "head")
        # migra's statements, and catalog fidelity's (sequence options; fidelity.py)
        with base.declared(schema):  # kinds that compare only what the YAML declares
            records = differ.diff_records(live, at_head, schema.exclude, name)
        want = fidelity.read(at_head, name, schema.exclude)
        seen = fidelity.compare(fidelity.read(live, name, schema.exclude), want, name)
        if seen.drift:
            raise BinduSchemaError(
                f"{name} differs from the head of generated/ ({head}) in what the schema "
                "format cannot declare; nothing changed. Resolve it by hand:\n"
                + "\n".join(f"  {d}" for d in seen.drift)
            )
        records = fidelity.complete_creates(records, want, name) + list(seen.fixes)
        return head, records


def _lock(conn: sa.Connection, name: str) -> None:
    conn.execute(
        sa.text("SELECT pg_advisory_lock(:cls, hashtext(:name))"),
        {"cls": tenancy.TENANT_LOCK_CLASS, "name": name},
    )
    conn.commit()


def _unlock(conn: sa.Connection, name: str) -> None:
    if conn.in_transaction():
        conn.rollback()
    conn.execute(
        sa.text("SELECT pg_advisory_unlock(:cls, hashtext(:name))"),
        {"cls": tenancy.TENANT_LOCK_CLASS, "name": name},
    )
    conn.commit()


def convert(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    name: str,
    ini: str | Path = DEFAULT_CONFIG,
    timeouts: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Bring an unversioned schema with tables (Bindu's old run-time path) to head.

    Diffs it against the head of generated/ replayed in a scratch database, refuses
    statements that delete data, then runs the statements and stamps head in one
    transaction under the tenant's advisory lock: all of it or nothing. Returns
    (head, statements run).
    """
    head, records = diff_to_head(schema_path, live, dev, name, ini)
    assert head is not None
    facts = catalog.read(live, name)
    refused = [
        (r, hz) for r in records if (hz := set(hazards.classify(r, facts)) & REFUSED_IN_CONVERSION)
    ]
    if refused:
        shown = "\n".join(f"  {r.sql}  -- {', '.join(sorted(h))}" for r, h in refused)
        raise BinduSchemaError(
            f"{name}: unversioned, and bringing it to head would delete data; nothing "
            f"changed. Fix it by hand, then `bindu-schema adopt --target-schema {name}`:\n" + shown
        )
    script = script_directory(alembic_config(ini))
    engine = sa.create_engine(live.sqlalchemy, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _lock(conn, name)
            try:
                limits = {"lock_timeout": "5s", "statement_timeout": "15min", **(timeouts or {})}
                for key in ("lock_timeout", "statement_timeout"):
                    conn.execute(
                        sa.text("SELECT set_config(:k, :v, false)"), {"k": key, "v": limits[key]}
                    )
                conn.commit()
                with alembic_errors(live), conn.begin():
                    if state(live, name).versioned:  # converted meanwhile by another run
                        return head, []
                    for r in records:
                        # concurrently=False plans only: every statement is transactional
                        conn.exec_driver_sql(r.sql.replace("%", "%%"))
                    ctx = MigrationContext.configure(conn, opts={"version_table_schema": name})
                    ctx.stamp(script, "head")
            finally:
                _unlock(conn, name)
    finally:
        engine.dispose()
    return head, [r.sql for r in records]


def apply_tenant(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    name: str,
    ini: str | Path = DEFAULT_CONFIG,
    timeouts: Mapping[str, str] | None = None,
    check_drift: bool = True,
) -> TenantResult:
    """Migrate one tenant schema to head; never raises (a failure is a FAILED result)."""
    started = time.monotonic()
    result = _apply_tenant(schema_path, live, dev, name, ini, timeouts, check_drift)
    return replace(result, seconds=round(time.monotonic() - started, 3))


def _apply_tenant(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    name: str,
    ini: str | Path,
    timeouts: Mapping[str, str] | None,
    check_drift: bool,
) -> TenantResult:
    from .apply import check_known

    before: tuple[str, ...] = ()
    try:
        check_name(name)
        st = state(live, name)
        before = st.heads
        if st.exists and not st.versioned and st.tables:
            _, ran = convert(schema_path, live, dev, name, ini, timeouts)
            status, message = (
                CONVERTED,
                f"unversioned schema brought to head ({len(ran)} statements)",
            )
        else:
            check_known(before, ini, live)
            with alembic_errors(live):
                command.upgrade(_cfg(ini, live, schema_path, name, timeouts), "head")
            status, message = MIGRATED, ""
        after = state(live, name).heads
        if status == MIGRATED and after == before:
            status = CURRENT
        found = drift(schema_path, live, dev, name) if check_drift else ()
        if found:
            return TenantResult(
                name, FAILED, before, after, "after apply it still differs from the YAML", found
            )
        return TenantResult(name, status, before, after, message)
    except BinduSchemaError as exc:
        return TenantResult(name, FAILED, before, (), scrub(str(exc), live, dev))
    except Exception as exc:  # one tenant's surprise must not stop the others
        return TenantResult(
            name, FAILED, before, (), scrub(f"{type(exc).__name__}: {exc}", live, dev)
        )


def apply_all(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    names: Iterable[str],
    ini: str | Path = DEFAULT_CONFIG,
    jobs: int = 4,
    timeouts: Mapping[str, str] | None = None,
    check_drift: bool = True,
    on_result: Callable[[TenantResult], None] | None = None,
    canary: int = 0,
    max_failures: int | None = None,
    lock_tries: int = retry.DEFAULT_TRIES,
) -> list[TenantResult]:
    """Every tenant of one database to head, in the order given: fleet.py's rollout over a
    fleet of one (a pool of `jobs` workers; staged by `canary` and `max_failures`)."""
    from . import fleet

    target = fleet.Target("database", live, jobs=jobs)
    cfg = fleet.Settings(
        str(schema_path), dev, str(ini), dict(timeouts or {}), lock_tries, check_drift,
        canary, max_failures,
    )  # fmt: skip
    return fleet.Rollout([target], cfg, on_result).run([list(names)])


# --- listing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantStatus:
    state: TenantState
    drift: tuple[str, ...] | None  # None: not checked or failed
    error: str = ""


def _status_in_worker(schema_path: str, live: str, dev: str, name: str) -> TenantStatus:
    live_url = settings.normalize(live, "--database-url")
    dev_url = server.parse_server(dev)
    st = TenantState(name, False, False, (), 0)
    try:
        st = state(live_url, name)
        return TenantStatus(st, drift(schema_path, live_url, dev_url, name) if st.exists else None)
    except BinduSchemaError as exc:
        return TenantStatus(st, None, scrub(str(exc), live_url, dev_url))
    except psycopg2.Error as exc:  # e.g. no USAGE on the schema: said, not a traceback
        return TenantStatus(st, None, scrub(str(exc).strip(), live_url, dev_url))
    finally:
        server.drop_all_live_scratch()


def _state_only(live: DatabaseURL, name: str) -> TenantStatus:
    try:
        return TenantStatus(state(live, name), None)
    except BinduSchemaError as exc:
        return TenantStatus(TenantState(name, False, False, (), 0), None, str(exc))


def statuses(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL | None,
    names: Sequence[str],
    jobs: int = 4,
    ini: str | Path = DEFAULT_CONFIG,
) -> list[TenantStatus]:
    """State of each tenant; with a dev server also its drift from the YAML: by catalog
    fingerprint (fleet.py), with a full comparison only for a tenant whose fingerprint
    differs from head's."""
    if dev is None or not names:
        return [_state_only(live, n) for n in names]
    from . import fingerprint, fleet

    try:
        found = states(live, names)
    except BinduSchemaError:  # a schema this role may not read: each says why, below
        found = {}
    fps = fingerprint.of_schemas(live, [n for n, st in found.items() if st.exists])
    ref = fleet.head_reference(schema_path, dev, ini) if fps else None
    out: dict[str, TenantStatus] = {}
    for n, st in found.items():
        if not st.exists:
            out[n] = TenantStatus(st, None)
        elif ref is not None and not ref.drift and fps.get(n) == ref.fingerprint:
            out[n] = TenantStatus(st, ())
    rest = [n for n in names if n not in out]
    if rest:
        args = (str(Path(schema_path).resolve()), live.sqlalchemy, dev.sqlalchemy)
        workers = max(1, min(jobs, len(rest)))
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            every = [(*args, n) for n in rest]
            out.update(
                zip(rest, pool.map(_status_in_worker, *zip(*every, strict=True)), strict=True)
            )
    return [out[n] for n in names]


__all__ = [
    "DEFAULT_PATTERNS",
    "TenantResult",
    "TenantState",
    "apply_all",
    "apply_tenant",
    "convert",
    "diff_to_head",
    "drift",
    "ensure_tenant",
    "find",
    "state",
]
