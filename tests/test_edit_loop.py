"""The edit loop's shortcuts keep plans honest (issue 18).

- The embedded dev server runs without durability (it holds scratch databases only); a
  server given by URL is never reconfigured.
- The rehearsal copies a kept restore of the live schema (keyed by its dump) instead of
  restoring the dump each time, and still catches a plan that does not do what it says.
"""

from __future__ import annotations

import time
import uuid

import pytest
from conftest import dev_args, scratch_databases, sql
from test_template_cache import templates, unique_yaml

from bindu_schema import executor, loader, pgtools, plan, quick_rehearsal, replica, server

SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


def settings_now(url) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = sql(url, "SELECT name, setting FROM pg_settings WHERE name IN " + str(SETTINGS))
    return {str(n): str(v) for n, v in rows}


def wait_for(url, want: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """pg_reload_conf() signals the server: new sessions see the change shortly after."""
    for _ in range(100):
        now = settings_now(url)
        if set(now.values()) == {want}:
            return now
        time.sleep(0.1)
    return settings_now(url)


def test_the_embedded_dev_server_runs_without_durability(dev_server, monkeypatch):
    assert wait_for(dev_server, "off") == dict.fromkeys(SETTINGS, "off")
    try:
        monkeypatch.setenv(server.FAST_DEV_SERVER_ENV, "0")
        server.scratch_only_settings(dev_server)
        assert wait_for(dev_server, "on") == dict.fromkeys(SETTINGS, "on")
    finally:
        monkeypatch.delenv(server.FAST_DEV_SERVER_ENV)
        server.scratch_only_settings(dev_server)
    assert wait_for(dev_server, "off") == dict.fromkeys(SETTINGS, "off")


def test_a_server_given_by_url_is_never_reconfigured(debian_pg, cli_proc, tmp_path):
    """plan against a database and a dev server given by URL leaves their settings alone
    (Debian's test server runs with fsync=off from its command line, the others on)."""
    before = settings_now(debian_pg)
    assert before["synchronous_commit"] == before["full_page_writes"] == "on"
    name = f"bindu_test_{uuid.uuid4().hex[:12]}"
    sql(debian_pg, f'CREATE DATABASE "{name}"')
    try:
        live = debian_pg.with_database(name)
        path = unique_yaml(tmp_path)
        res = cli_proc(
            "plan", "--schema", str(path), "--database-url", live.sqlalchemy,
            *dev_args(debian_pg),
        )  # fmt: skip
        assert res.code == 2, res.text
    finally:
        sql(debian_pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    time.sleep(0.5)  # a reload, had there been one, would have reached new sessions
    assert settings_now(debian_pg) == before


def kept_copy_name(db) -> str:  # type: ignore[no-untyped-def]
    return plan._kept_name(pgtools.dump_schema(db, "public"))


@pytest.fixture
def restores(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per restore of a dump (pg_dump output replayed by psql)."""
    calls: list[int] = []
    real = pgtools.restore_sql

    def counted(url, text):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(url, text)

    monkeypatch.setattr(pgtools, "restore_sql", counted)
    return calls


def test_the_rehearsal_copies_the_kept_restore_and_still_catches_a_bad_plan(
    dev_server, make_db, tmp_path, monkeypatch, restores
):
    # The full rehearsal (the quick one is tests/test_quick_rehearsal.py's)
    monkeypatch.setenv(quick_rehearsal.ENV, "0")
    db = make_db()
    sql(db, "CREATE TABLE keep_me (id int PRIMARY KEY)")
    first = loader.load(unique_yaml(tmp_path, tables=2))
    assert plan.build(first, db, dev_server).statements
    name = kept_copy_name(db)
    assert name in templates(dev_server) and len(restores) == 1

    # Next edit: a new YAML, the same live schema: copied from the kept restore.
    second = loader.load(unique_yaml(tmp_path, tables=3))
    assert plan.build(second, db, dev_server).statements
    assert len(restores) == 1

    real = executor.run
    calls = {"n": 0, "break": 1}

    def failing(url, statements, batch=None):  # type: ignore[no-untyped-def]
        # A rehearsal runs the upgrade, then the downgrade, in batches: the one chosen
        # silently leaves its last statement out.
        if batch == plan.REHEARSAL_BATCH:
            calls["n"] += 1
            if calls["n"] == calls["break"] and len(statements) > 1:
                statements = statements[:-1]
        return real(url, statements, batch=batch)

    monkeypatch.setattr(executor, "run", failing)
    for n, phase in enumerate(("upgrade", "downgrade")):
        calls.update(n=0, **{"break": n + 1})
        third = loader.load(unique_yaml(tmp_path, tables=4 + n))
        with pytest.raises(plan.PlanValidationError) as err:
            plan.build(third, db, dev_server)
        assert err.value.phase == phase
    assert len(restores) == 1, "every rehearsal ran on a copy of the kept restore"
    assert scratch_databases(dev_server) == []


def test_a_kept_restore_written_to_is_dropped_not_used(dev_server, make_db, tmp_path, restores):
    db = make_db()
    # A dump of its own: an empty database's dump is every empty database's, whose kept
    # restore an earlier test may have left (then the first build would not restore).
    sql(db, f"CREATE TABLE only_here_{uuid.uuid4().hex[:8]} (id int)")
    schema = loader.load(unique_yaml(tmp_path, tables=2))
    plan.build(schema, db, dev_server)
    name = kept_copy_name(db)
    conn = server.connect(dev_server.with_database(name), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            cur.execute("CREATE TABLE sneaked_in (id int)")
    finally:
        conn.close()
    assert server.copy_of_cached(dev_server, name) is None
    assert name not in templates(dev_server)
    # The next rehearsal restores the dump again (and keeps it again).
    plan.build(loader.load(unique_yaml(tmp_path, tables=3)), db, dev_server)
    assert len(restores) == 2 and name in templates(dev_server)


def test_without_the_kept_restore_every_rehearsal_restores(
    dev_server, make_db, tmp_path, monkeypatch, restores
):
    monkeypatch.setenv(plan.REHEARSAL_BASE_ENV, "0")
    copies: list[int] = []
    real = replica.schema_copy

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        copies.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(replica, "schema_copy", counted)
    db = make_db()
    sql(db, f"CREATE TABLE only_here_{uuid.uuid4().hex[:8]} (id int)")  # a dump of its own
    for tables in (2, 3):
        plan.build(loader.load(unique_yaml(tmp_path, tables=tables)), db, dev_server)
    assert len(copies) == 2 and len(restores) == 2
    assert kept_copy_name(db) not in templates(dev_server)
