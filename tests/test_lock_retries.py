"""Lock-timeout retries in `apply` (issue 14, item 5): a second connection holds a lock
the revision needs for longer than one lock_timeout; the run is rolled back, retried with
backoff (each retry printed) and finishes once the lock is released, before the tries run
out. Held for good, the tries run out: exit 1 naming the lock timeout. The number of tries
comes from --lock-retries, else [tool.bindu-schema] lock_retries in pyproject.toml."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import sql
from test_apply_faults import (
    R1,
    R2,
    R3,
    alembic,
    concurrent_project,
    finish,
    invalid_indexes,
    ok,
    project,
    start_apply,
    version,
)

from bindu_schema import retry, server
from bindu_schema.errors import BinduSchemaError

R2_STATEMENTS = [
    "alter table items add column a integer, add column b text, add column c integer",
    "create unique index items_v_key on items (v)",
]


def locked_project(tmp_path: Path, db) -> tuple[Path, object]:
    proj = project(tmp_path, (R2, R2_STATEMENTS, False))
    ok(alembic(proj, "upgrade", R1, url=db))
    holder = server.connect(db)
    with holder.cursor() as cur:
        cur.execute("lock table items in access exclusive mode")  # held until rollback
    return proj, holder


@pytest.mark.acceptance
def test_retried_until_the_lock_is_released(tmp_path, make_db, dev_server):
    db = make_db()
    proj, holder = locked_project(tmp_path, db)
    try:
        proc = start_apply(proj, db, dev_server, "--lock-timeout", "100ms")
        assert proc.stdout is not None
        seen = []
        while not any("lock_timeout" in line for line in seen):
            line = proc.stdout.readline()
            assert line, "apply ended before it retried:\n" + "".join(seen)
            seen.append(line)
        assert version(db) == [(R1,)]  # the failed try was rolled back
    finally:
        holder.rollback()  # released after at least one timeout, before the tries run out
        holder.close()
    code, out, err = finish(proc)
    out = "".join(seen) + out
    assert code == 0, out + err
    assert "try 2 of 5" in out, out
    assert "schema matches" in out
    assert "Traceback" not in out + err
    assert version(db) == [(R2,)]


@pytest.mark.acceptance
def test_tries_run_out_while_the_lock_is_held(tmp_path, make_db, dev_server):
    db = make_db()
    proj, holder = locked_project(tmp_path, db)
    (proj / "pyproject.toml").write_text("[tool.bindu-schema]\nlock_retries = 2\n")
    try:
        code, out, err = finish(start_apply(proj, db, dev_server, "--lock-timeout", "100ms"))
    finally:
        holder.rollback()
        holder.close()
    assert code == 1, out + err
    assert "try 2 of 2" in out and "gave up after 2 tries" in out, out
    assert "lock timeout" in err, err
    assert "Traceback" not in out + err
    assert version(db) == [(R1,)]


def test_configured_tries(tmp_path: Path) -> None:
    assert retry.configured_tries(None, tmp_path) == retry.DEFAULT_TRIES == 5
    (tmp_path / "pyproject.toml").write_text("[tool.bindu-schema]\nlock_retries = 3\n")
    assert retry.configured_tries(None, tmp_path) == 3
    assert retry.configured_tries(7, tmp_path) == 7  # the command line wins
    (tmp_path / "pyproject.toml").write_text("[tool.bindu-schema]\nlock_retries = 0\n")
    with pytest.raises(BinduSchemaError, match="lock_retries"):
        retry.configured_tries(None, tmp_path)


def test_backoff_grows_with_jitter() -> None:
    b = retry.Backoff(tries=5, base=0.5, cap=30)
    rng = random.Random(1)
    for n in range(1, 8):
        ceiling = min(30, 0.5 * 2 ** (n - 1))
        waits = {b.delay(n, rng) for _ in range(20)}
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(waits) > 1  # jitter: not all the same


@pytest.mark.acceptance
def test_concurrent_build_retried_after_dropping_its_invalid_leftover(
    tmp_path, cli, make_db, dev_server
):
    """CREATE INDEX CONCURRENTLY waits for an open writer, times out and leaves an INVALID
    index; the retry's revision drops that leftover and builds it again once the writer
    is gone."""
    proj, _ = concurrent_project(tmp_path, cli, dev_server)
    db = make_db()
    ok(alembic(proj, "upgrade", R2, url=db))
    sql(db, "insert into items select g, g from generate_series(1, 100) g")
    writer = server.connect(db)
    with writer.cursor() as cur:
        cur.execute("update items set a = 1 where id = 1")  # open: the build waits for it
    try:
        proc = start_apply(proj, db, dev_server, "--lock-timeout", "200ms")
        assert proc.stdout is not None
        seen = []
        while not any("lock_timeout" in line for line in seen):
            line = proc.stdout.readline()
            assert line, "apply ended before it retried:\n" + "".join(seen)
            seen.append(line)
        assert invalid_indexes(db) == [("items_v_key",)]  # what the failed build left
    finally:
        writer.rollback()
        writer.close()
    code, out, err = finish(proc)
    assert code == 0, "".join(seen) + out + err
    assert version(db) == [(R3,)]
    assert invalid_indexes(db) == []
