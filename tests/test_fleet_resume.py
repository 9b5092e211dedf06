"""A rollout interrupted midway resumes (issue 19 item 2), and a tenant blocked by a lock
is retried after lock_timeout like public (item 5), against real PostgreSQL.

Every committed migration is counted by an event trigger (the row is written in the
migration's own transaction, so a rolled-back try leaves none): after a killed rollout and
a second run, every tenant is at head and each ran its revision exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from alembic import command
from alembic_project import versions
from conftest import ROOT, dev_args, sql

from bindu_schema import server, tenancy
from bindu_schema.revision import alembic_config

HEAD, PREVIOUS = (p.name[:13] for p in versions(ROOT)[-1:-3:-1])
DDL_LOG = """
create table public.ddl_log (schema_name text, tag text);
create function public.log_ddl() returns event_trigger language plpgsql as $$
begin
  insert into public.ddl_log select schema_name, command_tag from pg_event_trigger_ddl_commands();
end $$;
create event trigger log_ddl on ddl_command_end execute function public.log_ddl();
"""


def at_previous_head(db, names) -> None:
    for name in names:
        cfg = alembic_config(ROOT / "alembic.ini", db, ROOT / "schema" / "bindu.yaml",
                             settings={"tenant_schema": name})  # fmt: skip
        command.upgrade(cfg, PREVIOUS)


def version(db, schema: str) -> list[str]:
    return [str(r[0]) for r in sql(db, f"select version_num from {schema}.alembic_version")]


def migrations_run(db) -> dict[str, int]:
    rows = sql(db, "select schema_name, count(*) from public.ddl_log "
                   "where tag = 'ALTER SEQUENCE' group by 1")  # fmt: skip
    return {str(s): int(n) for s, n in rows}


def until(predicate, what: str, proc: subprocess.Popen[str] | None = None, limit: float = 180):
    deadline = time.monotonic() + limit
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the rollout ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.05)


def advisory_waiters(db) -> int:
    rows = sql(db, "select count(*) from pg_locks where locktype = 'advisory' and not granted "
                   f"and classid = {tenancy.TENANT_LOCK_CLASS}")  # fmt: skip
    return int(rows[0][0])


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_an_interrupted_rollout_resumes_and_migrates_no_tenant_twice(cli, make_db, dev_server,
                                                                     how):  # fmt: skip
    db = make_db()
    names = [f"did_resume_{n}" for n in range(5)]
    at_previous_head(db, names)
    sql(db, DDL_LOG)
    blocked = names[2]
    args = ["--schema-list", ",".join(names), "--order", "list", "--jobs", "1",
            "--database-url", db.sqlalchemy, *dev_args(dev_server)]  # fmt: skip
    holder = server.connect(db, autocommit=True)  # holds the third tenant's advisory lock
    try:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s, hashtext(%s))",
                        (tenancy.TENANT_LOCK_CLASS, blocked))  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "bindu_schema", "apply", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            until(lambda: advisory_waiters(db) == 1, "the third tenant wait for its lock", proc)
            assert [version(db, n) for n in names[:2]] == [[HEAD], [HEAD]]
            proc.send_signal(how)  # the controller, midway
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        # its worker went with it: nobody waits for the lock any more
        until(lambda: advisory_waiters(db) == 0, "the worker's session end", limit=30)
    finally:
        holder.close()
    assert [version(db, n) for n in names[2:]] == [[PREVIOUS]] * 3
    assert migrations_run(db) == {names[0]: 1, names[1]: 1}

    again = cli("apply", *args, "--format", "json")
    assert again.code == 0, again.text
    seen = [(t["schema"], t["status"]) for t in json.loads(again.out)["tenants"]]
    assert seen == [(n, "CURRENT") for n in names[:2]] + [(n, "MIGRATED") for n in names[2:]]
    assert all(version(db, n) == [HEAD] for n in names)
    assert migrations_run(db) == dict.fromkeys(names, 1)  # none migrated twice


def sequence_lock_waiters(db, schema: str) -> int:
    rows = sql(db, "select count(*) from pg_locks where not granted and relation = "
                   f"'{schema}.task_feedback_id_seq'::regclass")  # fmt: skip
    return int(rows[0][0])


def test_a_tenant_blocked_by_a_lock_is_retried(cli, make_db, dev_server):
    db = make_db()
    name, other = "did_retry_locked", "did_retry_free"
    at_previous_head(db, [name, other])
    holder = server.connect(db)  # ALTER SEQUENCE in an open transaction: the lock is held
    with holder.cursor() as cur:
        cur.execute(f"alter sequence {name}.task_feedback_id_seq cache 1")
    seen: list[str] = []

    def release_after_one_timeout() -> None:
        try:
            until(lambda: sequence_lock_waiters(db, name) == 1, "the upgrade wait for the lock")
            seen.append("waiting")
            until(lambda: sequence_lock_waiters(db, name) == 0, "the first try time out")
            seen.append("timed out")
        finally:
            holder.rollback()
            holder.close()

    t = threading.Thread(target=release_after_one_timeout)
    t.start()
    try:
        r = cli("apply", "--schema-list", f"{name},{other}", "--lock-timeout", "1s",
                "--lock-retries", "5", "--format", "json", "--database-url", db.sqlalchemy,
                *dev_args(dev_server))  # fmt: skip
    finally:
        t.join()
    assert seen == ["waiting", "timed out"]
    assert r.code == 0, r.text
    by = {t["schema"]: t for t in json.loads(r.out)["tenants"]}
    assert by[name]["status"] == "MIGRATED"
    assert "lock_timeout" in by[name]["note"] and "try 2 of 5" in by[name]["note"]
    assert by[other]["status"] == "MIGRATED" and by[other]["note"] is None
    assert version(db, name) == [HEAD]


def test_a_tenant_whose_lock_stays_held_fails_after_its_tries(cli, make_db, dev_server):
    db = make_db()
    name = "did_retry_held"
    at_previous_head(db, [name])
    holder = server.connect(db)
    try:
        with holder.cursor() as cur:
            cur.execute(f"alter sequence {name}.task_feedback_id_seq cache 1")
        r = cli("apply", "--target-schema", name, "--lock-timeout", "100ms", "--lock-retries",
                "2", "--format", "json", "--database-url", db.sqlalchemy,
                *dev_args(dev_server))  # fmt: skip
    finally:
        holder.rollback()
        holder.close()
    assert r.code == 1, r.text
    (tenant,) = json.loads(r.out)["tenants"]
    assert tenant["status"] == "FAILED"
    assert "try 2 of 2" in tenant["error"] and "gave up after 2 tries" in tenant["error"]
    assert "lock timeout" in tenant["error"]
    assert version(db, name) == [PREVIOUS]
