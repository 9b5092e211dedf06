"""schemainspect's catalog queries run at once on several connections, in one snapshot.

schemainspect's inspector runs its ~15 catalog queries one after the other on one
connection and builds its objects from each result before it sends the next. On 1,000
tables the server spends ~0.45 s in them (the index query alone ~0.25 s: pg_get_indexdef
per index), and the inspector ~0.5 s in Python. Here the same queries are sent first, on
WORKERS connections of their own, and the inspector is then built from their results as
they arrive: it turns the relations into objects while the server still reads the
indexes. The inspector itself runs unchanged, on a stand-in connection whose execute()
hands back the result of the query it is given (any query not sent ahead runs on the
real connection, as before).

Which queries it sends is learned, not listed: a first inspector built on a connection
that answers every query with no rows records them (the queries depend on the server
version and on the kinds' patches). All connections read one snapshot (the first
exports it, REPEATABLE READ, as `pg_dump -j` does), so a database changing meanwhile is
still read as of one moment, which the one-connection inspection did not promise.
differ.py also reads the comments on a connection of their own meanwhile.
BINDU_SCHEMA_PARALLEL_INSPECT=0 inspects on one connection, then reads the comments, as
before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import switches
from .settings import DatabaseURL

ENV = "BINDU_SCHEMA_PARALLEL_INSPECT"
# Connections besides the one the inspector reads through: two keep a 2-core server busy
# with the two slow queries (relations, indexes) while this process works.
WORKERS = 2


def enabled() -> bool:
    return switches.on(ENV)


class _Recorder:
    """A connection that answers every query with no rows, noting each query's text."""

    def __init__(self, conn: sa.Connection) -> None:
        self.engine, self.dialect = conn.engine, conn.dialect
        self.queries: list[Any] = []

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.queries.append(query)
        return []


class _Prefetched:
    """A connection whose execute() waits for the result sent ahead for that query text."""

    def __init__(self, conn: sa.Connection, results: dict[str, _Result]) -> None:
        self.engine, self.dialect = conn.engine, conn.dialect
        self._conn, self._results = conn, results

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        ahead = None if args or kwargs else self._results.pop(str(query), None)
        rows = ahead.rows() if ahead is not None else None
        return rows if rows is not None else self._conn.execute(query, *args, **kwargs)


class _Result:
    """One query's rows, filled by a worker; rows() waits, None when the worker failed."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._rows: list[Any] | None = None

    def fill(self, rows: list[Any] | None) -> None:
        self._rows = rows
        self._done.set()

    def rows(self) -> list[Any] | None:
        self._done.wait()
        return self._rows


def queries(conn: sa.Connection, make: Callable[[Any], Any]) -> list[Any]:
    """The queries make(connection) sends, in order, learned on a connection of no rows."""
    recorder = _Recorder(conn)
    make(recorder)
    return recorder.queries


def _repeatable_read(conn: sa.Connection) -> None:
    """The connection's next transaction REPEATABLE READ and READ ONLY (none may be open:
    psycopg2 sets these for the session, between transactions)."""
    conn.commit()
    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


@contextmanager
def _snapshot(conn: sa.Connection) -> Iterator[str | None]:
    """conn in a REPEATABLE READ, READ ONLY transaction; its exported snapshot's name
    (None when the server refuses to export one: a hot standby, for one)."""
    _repeatable_read(conn)
    try:
        name = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
    except sa.exc.DBAPIError:
        conn.rollback()
        name = None
    try:
        yield None if name is None else str(name)
    finally:
        conn.rollback()


def _work(
    url: DatabaseURL, snapshot: str | None, todo: list[tuple[Any, _Result]], lock: threading.Lock
) -> None:
    """Take queries off `todo` (in order) and run them on a connection of this worker's own,
    in the exported snapshot; on any error, the rest is left to the inspector's connection."""
    engine = sa.create_engine(url.sqlalchemy, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET standard_conforming_strings = on")
            _repeatable_read(conn)
            if snapshot is not None:
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{_snapshot_name(snapshot)}'")
            while True:
                with lock:
                    if not todo:
                        break
                    query, result = todo.pop(0)
                try:
                    result.fill(list(conn.execute(query)))
                except BaseException:
                    result.fill(None)
                    raise
            conn.rollback()
    except Exception:
        with lock:
            left, todo[:] = list(todo), []
        for _, result in left:
            result.fill(None)
    finally:
        engine.dispose()


def _snapshot_name(name: str) -> str:
    """An exported snapshot's name as PostgreSQL writes it (hex digits and dashes);
    anything else is refused rather than put into SQL."""
    if not name or any(ch not in "0123456789ABCDEFabcdef-" for ch in name):
        raise ValueError(f"unexpected snapshot name {name!r}")
    return name


def inspect(conn: sa.Connection, url: DatabaseURL, make: Callable[[Any], Any]) -> Any:
    """make(connection) (schemainspect's get_inspector) with its queries sent ahead on
    WORKERS connections to `url`, all in `conn`'s exported snapshot."""
    sent = queries(conn, make)
    results = {str(q): _Result() for q in sent}
    todo = [(q, results[str(q)]) for q in sent]
    lock = threading.Lock()
    with _snapshot(conn) as snapshot:
        workers = [
            threading.Thread(
                target=_work, args=(url, snapshot, todo, lock), daemon=True, name="inspect-q"
            )
            for _ in range(WORKERS)
        ]
        for w in workers:
            w.start()
        try:
            return make(_Prefetched(conn, results))
        finally:
            with lock:
                left, todo[:] = list(todo), []
            for _, result in left:
                result.fill(None)
            for w in workers:
                w.join()
