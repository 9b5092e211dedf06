"""A connection lost inside CREATE INDEX CONCURRENTLY during `apply` (issue 14, item 4):
exit 1 with one clear message and no traceback (env.py's release_lock must not bury the
error), the revision not recorded, an INVALID index left, and the next apply finishes."""

from __future__ import annotations

import pytest
from conftest import dev_args, sql
from test_apply_faults import (
    R2,
    R3,
    alembic,
    concurrent_project,
    finish,
    invalid_indexes,
    ok,
    poll,
    start_apply,
    version,
)

from bindu_schema import server


@pytest.mark.acceptance
def test_backend_terminated_during_a_concurrent_build(tmp_path, cli, make_db, dev_server):
    proj, _ = concurrent_project(tmp_path, cli, dev_server)
    db = make_db()
    ok(alembic(proj, "upgrade", R2, url=db))
    sql(db, "insert into items select g, g from generate_series(1, 100) g")
    old = server.connect(db)  # an open writer: the build waits for it
    with old.cursor() as cur:
        cur.execute("update items set a = 1 where id = 1")
    try:
        proc = start_apply(proj, db, dev_server)
        pid = poll(
            "the index build to wait for the open transaction",
            lambda: sql(
                db,
                "select pid from pg_stat_activity where datname = current_database() "
                "and query ilike 'create unique index concurrently%' "
                "and wait_event_type = 'Lock'",
            ),
            proc,
        )[0][0]  # type: ignore[index]
        sql(db, f"select pg_terminate_backend({pid})")  # the connection is lost
        code, out, err = finish(proc)
    finally:
        old.close()
    assert code == 1, out + err
    assert "Traceback" not in out + err, err
    assert "PendingRollbackError" not in err and "Can't reconnect" not in err, err
    assert err.count("error: ") == 1, err
    assert "terminat" in err, err  # the real cause, not the cleanup's
    assert version(db) == [(R2,)]
    assert invalid_indexes(db) == [("items_v_key",)]
    # plan describes what is left: the INVALID index, and the statements that finish it.
    schema = str(proj / "schema" / "bindu.yaml")
    r = cli("plan", "--schema", schema, "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 2, r.text
    assert "INVALID" in r.out, r.out
    assert "items_v_key" in r.out and "CONCURRENTLY" in r.out, r.out
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert version(db) == [(R3,)]
    assert invalid_indexes(db) == []
