"""The rehearsal in one rolled-back transaction, checked by catalog fingerprints.

The full rehearsal (plan._rehearse) copies the kept restore of the live schema, runs the
upgrade, compares the copy with the desired database through migra and fidelity.py (each
inspection on its own connection, so the statements must be committed), runs the
downgrade and compares again. Here the same statements run on the kept restore itself,
inside one transaction that is always rolled back, and the comparisons are
fingerprint.py's catalog fingerprint read on that transaction's own connection: after the
upgrade it must equal the desired database's, after the downgrade the restore's own
before the upgrade. The fingerprint covers what `pg_dump --schema-only` prints (owners
aside), so equal fingerprints are the "no differences" the full rehearsal looks for; the
fleet's drift check trusts it the same way (tests/cases/fingerprint/mutations.yaml).

It only ever says "passed": any doubt (a statement that fails or cannot run in a
transaction, a fingerprint that differs, drift the plan reported, a lock table too small)
returns False, and the caller runs the full rehearsal, which finds and explains the
difference. CONCURRENTLY index statements run in their plain form here (a transaction
cannot hold them); the full rehearsal, when it runs, runs them as planned.
BINDU_SCHEMA_QUICK_REHEARSAL=0 turns this off.

The downgrade runs beside the upgrade, not after it: in the desired database itself (also
in a transaction that is rolled back, on a connection of its own), which is what the
upgrade must produce. When the upgrade's fingerprint equals the desired database's, the
two schemas print the same `pg_dump --schema-only`, so the downgrade's statements meet
the same objects there as after the upgrade; a downgrade that then comes back to the
restore's fingerprint is the downgrade the serial order would have proved. The two halves
keep two server processes busy at once (on 1,000 tables against an empty database, each
half runs ~9,000 statements). BINDU_SCHEMA_SPLIT_REHEARSAL=0 runs them one after the other
in one transaction, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import psycopg2
from psycopg2 import sql as pgsql

from . import cache, early, fidelity, fingerprint, readcache, server, statements, switches
from .errors import DatabaseError
from .settings import DatabaseURL
from .statements import Record, StatementError

ENV = "BINDU_SCHEMA_QUICK_REHEARSAL"
SPLIT_ENV = "BINDU_SCHEMA_SPLIT_REHEARSAL"
BATCH_ENV = "BINDU_SCHEMA_BATCH_STATEMENTS"
DETACH_ENV = "BINDU_SCHEMA_DETACHED_ROLLBACK"
# Statements sent in one round trip: on 7,000 CREATE statements in one transaction, one per
# execute() took 2.5-3.0 s, twenty per execute() 1.7-1.9 s (fewer round trips and Python
# calls); larger batches gained nothing more.
BATCH = 20


# Each function of the schema: name, name(identity arguments) as fidelity.py reads it, and
# the schema-qualified, quoted reference DROP ROUTINE takes.
_FUNCTIONS = """
SELECT p.proname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.oid::regprocedure::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(ns)s AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
"""


def enabled() -> bool:
    return switches.on(ENV)


def _runnable(records: Sequence[Record]) -> list[str] | None:
    """The statements as they can run inside one transaction; None when one cannot."""
    out = []
    for rec in records:
        if not rec.transactional:
            try:
                rec = statements.without_concurrently(rec)
            except StatementError:
                return None
        out.append(rec.sql)
    return out


def _execute_all(cur: psycopg2.extensions.cursor, sqls: Sequence[str]) -> None:
    """Run the statements in order, BATCH to a round trip (BINDU_SCHEMA_BATCH_STATEMENTS=0:
    one each). Joining is safe because each is exactly one complete statement (parsed by
    pglast in statements.py: no open quote or block comment can swallow the separator; a
    trailing line comment ends at its newline). Which statement failed does not matter
    here: any failure is no verdict and the full rehearsal runs them one by one."""
    size = BATCH if switches.on(BATCH_ENV) else 1
    for start in range(0, len(sqls), size):
        cur.execute("\n;\n".join(sqls[start : start + size]))


class _Downgrade:
    """The downgrade run in the desired database, in a daemon thread, inside a transaction
    that is always rolled back; result() is the schema's fingerprint after it (None when a
    statement failed or the database could not be had). cancel() stops it early."""

    def __init__(self, desired: DatabaseURL, todo: list[str], ns: str) -> None:
        self._desired, self._todo, self._ns = desired, todo, ns
        self._lock = threading.Lock()
        self._conn: psycopg2.extensions.connection | None = None
        self._cancelled = False
        self._early = early.Early(self._run, "downgrade")

    def _run(self) -> str | None:
        try:
            conn = server.connect(self._desired)
        except DatabaseError:
            return None
        with self._lock:
            self._conn = conn
            if self._cancelled:
                conn.close()
                return None
        try:
            with conn.cursor() as cur:
                _begin(cur)
                _execute_all(cur, self._todo)
                return fingerprint.in_transaction(cur, self._ns)
        except psycopg2.Error:
            return None
        finally:
            try:
                _undo(conn, len(self._todo))
            except psycopg2.Error:
                pass
            with self._lock:
                conn.close()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._conn is not None and not self._conn.closed:
                try:
                    self._conn.cancel()
                except psycopg2.Error:
                    pass  # it ended meanwhile

    def result(self) -> str | None:
        return self._early.result()


def prefetch(desired: DatabaseURL, ns: str) -> early.Early[str | None] | None:
    """Start reading the desired database's fingerprint, what passes() compares the
    rehearsal with (early.py); None when the quick rehearsal or prefetching is off, when
    the desired database is not a cached one, or when the result cache holds it already."""
    if not enabled():
        return None
    if readcache.peek(readcache.FINGERPRINT, desired, (ns,), readcache.is_text) is not None:
        return None
    return early.start(
        desired, lambda: fingerprint.of_schemas(desired, [ns], connections=1).get(ns), "fp"
    )


def passes(
    restore: psycopg2.extensions.connection,
    desired: DatabaseURL,
    up: Sequence[Record],
    down: Sequence[Record],
    ns: str,
    setup: Sequence[str] = (),
    unmanaged: Sequence[str] = (),
    unmanaged_functions: Sequence[str] = (),
    restore_token: str | None = None,
    prefetched: early.Early[str | None] | None = None,
) -> bool:
    """True when `up` takes the restored live schema (`restore`: a connection to the kept
    restore, not in a transaction) to the desired database's catalog and `down` takes it
    back; `setup` runs first (what the dump leaves out but a kind compares). The tables
    `unmanaged` (alembic_version, `exclude:`) and functions `unmanaged_functions`
    (`exclude:`, matched as fidelity.py matches them) are dropped first, as the full
    rehearsal's comparisons leave them out (one that something depends on: no decision). Nothing it
    does stays: the transaction is rolled back whatever happens.

    Two of its four fingerprints are of databases that cannot change and are kept in the
    result cache: the desired database's (readcache.py) and the restore's after `setup` and
    the drops, under `restore_token` (server.immutable_token of the kept restore). The
    desired database's may have been started early (`prefetched`, prefetch())."""
    todo_up, todo_down = _runnable(up), _runnable(down)
    if todo_up is None or todo_down is None:
        return False
    want = readcache.schema_fingerprint(desired, ns, prefetched.result if prefetched else None)
    if want is None:
        return False
    split = switches.on(SPLIT_ENV) and bool(todo_down)
    beside = _Downgrade(desired, todo_down, ns) if split else None
    try:
        return _passes(
            restore,
            want,
            todo_up,
            [] if split else todo_down,
            ns,
            setup,
            unmanaged,
            unmanaged_functions,
            restore_token,
            beside,
        )
    finally:
        if beside is not None:
            beside.cancel()  # a no-op once it is done
            beside.result()


def _passes(
    restore: psycopg2.extensions.connection,
    want: str,
    todo_up: list[str],
    todo_down: list[str],
    ns: str,
    setup: Sequence[str],
    unmanaged: Sequence[str],
    unmanaged_functions: Sequence[str],
    restore_token: str | None,
    beside: _Downgrade | None,
) -> bool:
    """passes() on the kept restore; with `beside`, its downgrade ran in the desired
    database and the last comparison is with that result."""
    before_key = ""
    if restore_token is not None:
        parts = (ns, *setup, "\0", *unmanaged, "\0", *unmanaged_functions)
        before_key = cache.key("fingerprint-before", restore_token, *parts)
    restore.autocommit = False
    passed = False
    try:
        with restore.cursor() as cur:
            _begin(cur)
            for sql in setup:
                cur.execute(sql)
            for table in unmanaged:
                cur.execute(
                    pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(ns, table))
                )
            if unmanaged_functions:
                cur.execute(_FUNCTIONS, {"ns": ns})
                for bare, full, ref in cur.fetchall():
                    if fidelity.excluded_function(str(bare), str(full), unmanaged_functions):
                        # regprocedure's text is PostgreSQL's own quoted reference
                        cur.execute(pgsql.SQL("DROP ROUTINE {}").format(pgsql.SQL(str(ref))))
            before = cache.get("fingerprint-before", before_key) if before_key else None
            if not isinstance(before, str):
                before = fingerprint.in_transaction(cur, ns)
                if before_key and before is not None:
                    cache.put("fingerprint-before", before_key, before)
            _execute_all(cur, todo_up)
            if fingerprint.in_transaction(cur, ns) != want:
                return False
            if beside is not None:
                passed = beside.result() == before
            else:
                _execute_all(cur, todo_down)
                passed = fingerprint.in_transaction(cur, ns) == before
            return passed
    except psycopg2.Error:
        return False
    finally:
        _undo(restore, len(todo_up) + len(todo_down), detach=passed)


def _begin(cur: psycopg2.extensions.cursor) -> None:
    """The rehearsal's transaction: writable (cached databases are read-only) and reading
    literals as executor.run does."""
    cur.execute("SET TRANSACTION READ WRITE")
    cur.execute("SET LOCAL standard_conforming_strings = on")


def _undo(conn: psycopg2.extensions.connection, statements_run: int, detach: bool = False) -> None:
    """Roll the rehearsal back, leaving conn in autocommit; vacuum the catalogs after a
    large one (_VACUUM_AFTER).

    detach (a rehearsal that passed, BINDU_SCHEMA_DETACHED_ROLLBACK on): a large one is
    not waited for. The connection is closed inside its transaction, which PostgreSQL
    rolls back by itself as the session ends (on 1,000 tables against an empty database
    the rollback and vacuum took 0.3-0.4 s at the end of the plan); the next command
    vacuums the kept restore when it opens it (plan._kept_early, in a thread). Never
    after a failure: the full rehearsal then copies this database, which PostgreSQL
    refuses while a session is still in it."""
    if detach and statements_run >= _VACUUM_AFTER and switches.on(DETACH_ENV):
        conn.close()
        return
    conn.rollback()
    conn.autocommit = True
    if statements_run >= _VACUUM_AFTER:
        server.vacuum_catalogs(conn)


# A rolled-back transaction leaves its catalog rows dead: a 1,000-table upgrade and
# downgrade left ~200,000 in the kept restore's pg_attribute and pg_depend, and the next
# rehearsal there was slower (7 s instead of 4-5 s). Plain VACUUM of the database's own
# catalogs (server.vacuum_catalogs, 0.03-0.05 s) makes the space reusable without writing
# a live row, so the restore's published catalog fingerprint stays valid.
_VACUUM_AFTER = 200
