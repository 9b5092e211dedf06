"""parallel_inspect.py (issue 18): schemainspect's catalog queries sent ahead on connections
of their own, in one exported snapshot; the inspector built from their results.

- the inspection equals the one-connection inspection, every attribute of every object
  (a database holding every kind the format declares);
- the queries really run on the workers, and a worker that fails leaves its queries to
  the inspector's own connection (same result);
- all connections read the exported snapshot: a table created after it is not seen;
- the snapshot's name is checked before it becomes SQL.
"""

from __future__ import annotations

import copy
import pickle
import time
from typing import Any

import pytest
from conftest import sql
from test_inspect_everything import EVERYTHING

from bindu_schema import differ, parallel_inspect, server


def _everything(inspection: Any) -> bytes:
    """Every attribute of every inspected object, as bytes (the connection left out, as
    differ.py leaves it out of the cache, and the query objects: SQLAlchemy memoizes on
    the ones it ran, which here are the ones sent ahead)."""
    kept = copy.copy(inspection)
    kept.c = kept.engine = kept.dialect = None
    for name in [n for n in vars(kept) if n.endswith("_QUERY")]:
        setattr(kept, name, None)
    return pickle.dumps(kept)


def _inspect(db: Any, monkeypatch: pytest.MonkeyPatch, parallel: str) -> Any:
    monkeypatch.setenv(parallel_inspect.ENV, parallel)
    return differ.inspect(db)


def test_the_inspection_equals_the_one_connection_inspection(dev_server, make_db, monkeypatch):
    db = make_db()
    sql(db, EVERYTHING)
    sql(db, "CREATE VIEW open_bookings AS SELECT id, code FROM bookings WHERE NOT cancelled")
    served: list[str] = []
    real = parallel_inspect._Result.fill

    def fill(self: Any, rows: Any) -> None:
        served.append("rows" if rows is not None else "none")
        real(self, rows)

    monkeypatch.setattr(parallel_inspect._Result, "fill", fill)
    plain = _inspect(db, monkeypatch, "0")
    assert served == []
    ahead = _inspect(db, monkeypatch, "1")
    assert served and set(served) == {"rows"}  # every query came from a worker
    assert len(plain.tables) >= 3 and plain.functions and plain.indexes and plain.views
    assert _everything(ahead) == _everything(plain)


def test_a_failing_worker_leaves_its_queries_to_the_inspectors_connection(
    dev_server, make_db, monkeypatch
):
    db = make_db()
    sql(db, EVERYTHING)
    plain = _inspect(db, monkeypatch, "0")
    nowhere = db.with_database("bindu_test_no_such_database")
    real = parallel_inspect._work
    monkeypatch.setattr(parallel_inspect, "_work", lambda url, *rest: real(nowhere, *rest))
    assert _everything(_inspect(db, monkeypatch, "1")) == _everything(plain)


def test_every_connection_reads_the_exported_snapshot(dev_server, make_db, monkeypatch):
    db = make_db()
    sql(db, "CREATE TABLE before_it (id int PRIMARY KEY)")
    real = parallel_inspect._snapshot
    from contextlib import contextmanager

    @contextmanager
    def then_a_table(conn: Any) -> Any:
        with real(conn) as name:
            assert name is not None
            sql(db, "CREATE TABLE after_it (id int PRIMARY KEY); CREATE INDEX ON before_it (id)")
            yield name

    monkeypatch.setattr(parallel_inspect, "_snapshot", then_a_table)
    seen = _inspect(db, monkeypatch, "1")
    assert list(seen.tables) == ['"public"."before_it"']
    assert list(seen.indexes) == ['"public"."before_it_pkey"']
    monkeypatch.undo()
    assert sorted(differ.inspect(db).tables) == ['"public"."after_it"', '"public"."before_it"']


@pytest.mark.parametrize("name", ["", "00000003-0000001B-1'; DROP TABLE x; --", "a b", "1$$"])
def test_a_snapshot_name_that_is_not_one_is_refused(name):
    with pytest.raises(ValueError):
        parallel_inspect._snapshot_name(name)
    assert parallel_inspect._snapshot_name("00000003-0000001B-1") == "00000003-0000001B-1"


def test_server_connections_are_all_closed_after(dev_server, make_db, monkeypatch):
    db = make_db()
    sql(db, EVERYTHING)
    _inspect(db, monkeypatch, "1")
    conn = server.connect(dev_server, autocommit=True)
    try:
        with conn.cursor() as cur:
            # A backend leaves pg_stat_activity a moment after its client closed the
            # socket (it exits on its own time), so the count is read until it is zero;
            # a connection left open keeps it at one and the test fails after ~10 s.
            for _ in range(200):
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db.database,)
                )
                left = cur.fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.05)
            assert left == 0
    finally:
        conn.close()
