"""Plan: the statements that take a live database to the desired schema.

A statement is data (planned.Statement: the parsed record, its hazards and lint), in the
style of pg-schema-diff. Every statement is parsed once (statements.py) where it is
produced: migra's in differ.py, the rename hints in renames.py, the online rewrites in
online.py. Rendering lives in report.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import replace

import psycopg2.extensions

from . import (
    cache,
    catalog,
    differ,
    early,
    executor,
    fidelity,
    hazards,
    invalid,
    kinds,
    lint,
    memory_space,
    model,
    online,
    pgtools,
    quick_rehearsal,
    readcache,
    renames,
    replica,
    server,
    switches,
)
from . import compile as compiler
from .catalog import Facts
from .compile import DDL
from .errors import BinduSchemaError
from .kinds import base
from .planned import Plan, Statement
from .settings import DatabaseURL
from .statements import Record

__all__ = ["Plan", "Statement", "build", "desired_database", "PlanValidationError"]

REHEARSAL_BASE_ENV = "BINDU_SCHEMA_REHEARSAL_BASE"
_REHEARSAL_MARK = "-- bindu-schema rehearsal copy of a live schema\n"


@contextmanager
def desired_database(
    schema: model.Schema, dev: DatabaseURL, target_schema: str | None = None
) -> Iterator[DatabaseURL]:
    """A scratch database holding exactly the compiled YAML."""
    # Cloned from a cached template when the same DDL was loaded before (server.py).
    with server.scratch_with_ddl(dev, compiler.compile_schema(schema, target_schema)) as url:
        yield url


class PlanValidationError(BinduSchemaError):
    """The rehearsal of a plan on a copy of the database left differences behind."""

    def __init__(self, phase: str, leftover: list[str]) -> None:
        self.phase = phase
        self.leftover = leftover
        body = "\n".join(f"  {s}" for s in leftover)
        super().__init__(
            f"plan validation failed: after the {phase} the schema still differs; "
            f"nothing was written or applied. Remaining differences:\n{body}"
        )


def _statements(records: Sequence[Record], facts: Facts) -> tuple[Statement, ...]:
    return tuple(Statement(r, hazards.classify(r, facts)) for r in records)


def build(
    schema: model.Schema,
    live: DatabaseURL,
    dev: DatabaseURL,
    with_downgrade: bool = True,
    validate: bool = True,
    concurrently: bool = True,
    run_lint: bool = True,
    target_schema: str | None = None,
    desired: DatabaseURL | None = None,
    remember_live: bool = False,
) -> Plan:
    """Diff live -> YAML (and back), with renames, online DDL, hazards and a rehearsal.

    `desired`: a database already holding the compiled YAML (the caller's), so none is
    built here. `remember_live`: what is read from live may be cached while its catalog
    is unchanged (readcache.py; `plan`'s edit loop)."""
    if remember_live:
        readcache.remember(live)
    pin = readcache.pinned(live) if remember_live else nullcontext()
    with pin, base.declared(schema):  # kinds that compare only what the YAML declares
        return _build(
            schema,
            live,
            dev,
            with_downgrade,
            validate,
            concurrently,
            run_lint,
            target_schema,
            desired,
        )


def _build(
    schema: model.Schema,
    live: DatabaseURL,
    dev: DatabaseURL,
    with_downgrade: bool,
    validate: bool,
    concurrently: bool,
    run_lint: bool,
    target_schema: str | None,
    desired: DatabaseURL | None,
) -> Plan:
    ns = target_schema or "public"
    ex = schema.exclude
    # differ inspects both databases in two threads, and each thread imports schemainspect
    # on first use: two imports at once can deadlock on Python's module locks. Once here,
    # before any thread starts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differ._import_schemainspect()
    live_facts = catalog.read(live, ns)
    hints = renames.plan_renames(schema, live_facts, live.safe, target_schema)
    given = nullcontext(desired) if desired is not None else None
    up: list[Record]
    down: list[Record]
    with given or desired_database(schema, dev, target_schema) as desired, ExitStack() as closing:
        # Read from the desired database in threads while this one inspects and diffs.
        fp_early = quick_rehearsal.prefetch(desired, ns) if validate else None
        kept_early = _kept_early(live, dev, ns) if validate else None
        closing.callback(_close_kept, kept_early)
        want_early = early.start(desired, lambda: fidelity.read(desired, ns, ex), "fidelity")
        facts_early = early.start(desired, lambda: catalog.read(desired, ns), "catalog")
        if hints:
            with replica.schema_copy(live, dev) as renamed:
                executor.run(renamed, [r.up for r in hints])
                have = fidelity.read(renamed, ns, ex)
                up = [r.up for r in hints] + differ.diff_records(renamed, desired, ex, ns)
                down = (
                    (
                        differ.diff_records(desired, renamed, ex, ns)
                        + [r.down for r in reversed(hints)]
                    )
                    if with_downgrade
                    else []
                )
        else:
            # live's snapshot (often an unpickling from the read cache) beside the diff,
            # so the desired database's inspection starts at once
            have_early = (
                early.Early(lambda: fidelity.read(live, ns, ex), "have")
                if early.enabled()
                else None
            )
            up, down = differ.diff_both_records(live, desired, ex, ns, with_reverse=with_downgrade)
            have = early.value(have_early, lambda: fidelity.read(live, ns, ex))
        # What migra cannot see (fidelity.py): sequence options become statements, what
        # the YAML cannot declare is drift for a human.
        want = early.value(want_early, lambda: fidelity.read(desired, ns, ex))
        seen = fidelity.compare(have, want, target_schema)
        up = fidelity.complete_creates(up, want, target_schema) + list(seen.fixes)
        if with_downgrade:
            back = fidelity.compare(want, have, target_schema)
            down = fidelity.complete_creates(down, have, target_schema) + list(back.fixes)
        up = invalid.finish(live, ns, up)  # INVALID indexes look done to migra
        desired_facts = Facts()
        if up:
            desired_facts = early.value(facts_early, lambda: catalog.read(desired, ns))
        live_facts = hazards.without_dropped_tables(up, live_facts)
        if concurrently:
            up = online.rewrite(up, live_facts)
            down = online.rewrite(down, desired_facts)
        # While the rehearsal keeps this thread waiting on the server: the hazards of
        # both directions are classified and squawk (a process of its own) lints, each in
        # a thread of its own (the switches put them back before or after it).
        forward = backward = linted = None
        if validate and up:
            hz = early.HAZARDS_BESIDE_ENV
            forward = early.beside(lambda: _statements(up, live_facts), "up-hazards", hz)
            backward = early.beside(lambda: _statements(down, desired_facts), "down-hazards", hz)
        classified = forward or early.Early.of(_statements(up, live_facts))
        if validate and up:
            linted = (
                early.beside(lambda: _with_lint(classified.result()), "lint") if run_lint else None
            )
            _rehearse(live, dev, desired, up, down, ex, ns, seen.drift, fp_early, kept_early)
        statements = classified.result()
    if run_lint:
        statements = early.value(linted, lambda: _with_lint(statements))
    return Plan(
        statements=statements,
        downgrade=early.value(backward, lambda: _statements(down, desired_facts)),
        source_sha256=schema.source_sha256,
        target=live.safe,
        drift=seen.drift,
        notes=seen.notes,
    )


def _with_lint(statements: tuple[Statement, ...]) -> tuple[Statement, ...]:
    try:
        found = lint.lint([s.sql for s in statements], [s.transactional for s in statements])
    except lint.LintUnavailable as exc:
        raise BinduSchemaError(f"{exc}") from None
    return tuple(
        replace(s, lint=lint.merge(f, s.hazards)) for s, f in zip(statements, found, strict=True)
    )


def _rehearsal_base_enabled() -> bool:
    return switches.on(REHEARSAL_BASE_ENV)


@contextmanager
def _rehearsal_copy(live: DatabaseURL, dev: DatabaseURL, dump: str) -> Iterator[DatabaseURL]:
    """A scratch database with live's schema (from `dump`), dropped afterwards.

    The restored dump is kept on the dev server as a cached database named by the dump's
    hash (server.publish), so the next rehearsal against the same live schema, the one
    after each edit of the YAML, copies it file by file instead of restoring the dump
    again (on 1,000 tables: psql replays ~9,000 statements). The copy is checked against
    the catalog fingerprint the kept database was published with. Nothing of this runs
    on the live server. BINDU_SCHEMA_REHEARSAL_BASE=0: restore the dump every time."""
    if not _rehearsal_base_enabled():
        with replica.schema_copy(live, dev, dump) as restored:
            yield restored
        return
    name = _kept_name(dump)
    copy: DatabaseURL | None = server.copy_of_cached(dev, name)
    if copy is None:
        base = _restore(dev, dump)
        if server.publish(dev, base, name):
            copy = server.copy_of_cached(dev, name)  # None when another command reads it
        else:
            copy = base
    if copy is None:
        with replica.schema_copy(live, dev, dump) as fresh:
            yield fresh
        return
    try:
        yield copy
    finally:
        server.drop_scratch(dev, copy.database or "")


def _kept_name(dump: str) -> str:
    # where it was made is part of its name, so that switching the memory tablespace off
    # (an ablation) restores to the disk instead of reusing the copy in memory
    where = "memory\n" if memory_space.enabled() else ""
    mark = _REHEARSAL_MARK + where + pgtools.dump_identity(dump)
    return server.template_name([DDL(mark, "copy")])


def _restore(dev: DatabaseURL, dump: str) -> DatabaseURL:
    """A new scratch database holding `dump` (the caller's to drop or publish): a kept
    restore is a cache, so it may live in memory (memory_space.py)."""
    base = server.create_scratch(dev, memory=True)
    try:
        pgtools.restore_sql(base, dump)
    except BaseException:
        server.drop_scratch(dev, base.database or "")
        raise
    return base


def _live_dump(live: DatabaseURL, ns: str) -> str:
    """live's schema as pg_dump prints it; kept while live's catalog is unchanged."""
    return readcache.cached(
        "dump", live, (ns,), lambda: pgtools.dump_schema(live, ns), lambda h: isinstance(h, str)
    )


KeptEarly = early.Early[tuple[str, psycopg2.extensions.connection | None]]


def _kept_early(live: DatabaseURL, dev: DatabaseURL, ns: str) -> KeptEarly | None:
    """live's dump (when cached) and a connection to its kept restore (None when there is
    none yet), opened in a thread while the desired database is inspected: the restore's
    fingerprint check then costs the plan nothing. Under BINDU_SCHEMA_PREFETCH, for the quick
    rehearsal with a kept restore only."""
    if not (
        early.enabled()
        and quick_rehearsal.enabled()
        and _rehearsal_base_enabled()
        and server.template_cache_enabled()
    ):
        return None

    def read() -> tuple[str, psycopg2.extensions.connection | None]:
        # a cached dump only: a plan that needs no rehearsal (live in sync) runs no pg_dump
        dump = readcache.peek("dump", live, (ns,), readcache.is_text)
        if not isinstance(dump, str):
            return "", None
        return dump, _open_kept(dev, _kept_name(dump))

    return early.Early(read, "kept")


def _open_kept(dev: DatabaseURL, name: str) -> psycopg2.extensions.connection | None:
    """server.open_cached, then the catalogs vacuumed: the last rehearsal here may have
    left its rollback to PostgreSQL (quick_rehearsal._undo's detach), and its dead rows
    would slow this one (0.03-0.05 s; in _kept_early's thread when prefetching)."""
    conn = server.open_cached(dev, name)
    if conn is not None:
        server.vacuum_catalogs(conn)
    return conn


def _kept_result(kept: KeptEarly) -> tuple[str, psycopg2.extensions.connection | None]:
    """What _kept_early read; ("", None) when it failed (the rehearsal reads it again
    itself, where a failure is reported as before)."""
    try:
        return kept.result()
    except Exception:
        return "", None


def _close_kept(kept: KeptEarly | None) -> None:
    """The early connection closed when the rehearsal did not take it (or did: closing
    twice is harmless)."""
    conn = _kept_result(kept)[1] if kept is not None else None
    if conn is not None:
        conn.close()


@contextmanager
def _kept_restore(
    dev: DatabaseURL, dump: str, kept: KeptEarly | None = None
) -> Iterator[psycopg2.extensions.connection | None]:
    """A connection to the kept restore of `dump` (restored and published first when
    there is none), which pins it while the quick rehearsal runs in it; None when it
    cannot be had (the cache is off, or publishing lost a race). `kept`: one opened early
    (_kept_early) for this dump."""
    if not (_rehearsal_base_enabled() and server.template_cache_enabled()):
        yield None
        return
    name = _kept_name(dump)
    conn = None
    if kept is not None:
        early_dump, conn = _kept_result(kept)
        if early_dump != dump and conn is not None:
            conn.close()
            conn = None
    if conn is None:
        conn = _open_kept(dev, name)
    if conn is None:
        base = _restore(dev, dump)
        published = server.publish(dev, base, name)
        if not published:
            server.drop_scratch(dev, base.database or "")
        conn = server.open_cached(dev, name, published)
    try:
        yield conn
    finally:
        if conn is not None:
            conn.close()


# Statements per transaction in a rehearsal (a scratch copy needs no atomicity, and one
# transaction over a thousand-table plan runs out of max_locks_per_transaction).
REHEARSAL_BATCH = 200


def _rehearse(
    live: DatabaseURL,
    dev: DatabaseURL,
    desired: DatabaseURL,
    up: Sequence[Record],
    down: Sequence[Record],
    exclude: model.Exclude,
    ns: str = "public",
    drift: Sequence[str] = (),
    fp_early: early.Early[str | None] | None = None,
    kept_early: KeptEarly | None = None,
) -> None:
    """Apply up to a copy of live: must equal the YAML; then down: must equal live again.
    Both by migra and at catalog fidelity (fidelity.py); after the upgrade only the drift
    already reported (what the YAML cannot declare) may remain.

    A rehearsal that passed is remembered (cache.py) under everything it depended on: the
    live schema as pg_dump prints it, both statement lists, the cached desired database
    (its DDL hash and the dev server's version) and the options. Failures are not kept."""
    # pg_dump's text is a function of the catalog too: kept while live's is unchanged.
    dump = _live_dump(live, ns)
    token = server.immutable_token(desired)
    k = ""
    if token:
        parts = (
            pgtools.dump_identity(dump),
            "\0".join(r.sql for r in up),
            "\0".join(r.sql for r in down),
            repr(exclude),
            ns,
            "fidelity",
        )
        k = cache.key("rehearsal", token, *parts)
        if cache.get("rehearsal", k) is True:
            return
    # what the dump leaves out but a kind compares (the declared privileges)
    setup = [s for k in kinds.KINDS for s in k.rehearsal_sql(live, ns)]
    if quick_rehearsal.enabled() and not drift:
        unmanaged = (differ.ALEMBIC_TABLE, *exclude.tables)
        with _kept_restore(dev, dump, kept_early) as kept:
            restored = server.immutable_token(dev.with_database(_kept_name(dump)))
            if kept is not None and quick_rehearsal.passes(
                kept, desired, up, down, ns, setup, unmanaged, exclude.functions, restored, fp_early
            ):
                if k:
                    cache.put("rehearsal", k, True)
                return
    with _rehearsal_copy(live, dev, dump) as copy:
        executor.run(copy, setup)
        executor.run(copy, up, batch=REHEARSAL_BATCH)
        left = differ.diff(copy, desired, exclude, ns) + [
            d for d in fidelity.differences(copy, desired, exclude, ns) if d not in drift
        ]
        if left:
            raise PlanValidationError("upgrade", left)
        if down:
            executor.run(copy, down, batch=REHEARSAL_BATCH)
            back = differ.diff(copy, live, exclude, ns) + fidelity.differences(
                copy, live, exclude, ns
            )
            if back:
                raise PlanValidationError("downgrade", back)
    if k:
        cache.put("rehearsal", k, True)
