"""`bindu-schema apply`: alembic upgrade head under the advisory lock, drift check, backup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic_project import alembic, make_project, ok, user_tables, versions
from conftest import ROOT, dev_args, sql

from bindu_schema import server

HEAD = versions(ROOT)[-1].name[:13]
LOG_TABLE = "apply_log"


def apply_args(db, dev, *extra: str) -> list[str]:
    return ["apply", "--database-url", db.sqlalchemy, *dev_args(dev), *extra]


def test_apply_empty_database_then_nothing_to_do(cli, make_db, dev_server):
    db = make_db()
    first = cli(*apply_args(db, dev_server))
    assert first.code == 0, first.text
    assert f"(empty) -> {HEAD}" in first.out
    assert "Running upgrade" in first.out
    assert "schema matches schema/bindu.yaml" in first.out
    assert sql(db, "select version_num from alembic_version") == [(HEAD,)]
    # `alembic check` right after apply: no new operations.
    check = alembic(ROOT, "check", url=db)
    assert check.code == 0, check.text
    second = cli(*apply_args(db, dev_server))
    assert second.code == 0, second.text
    assert f"already at head {HEAD}" in second.out
    assert "Running upgrade" not in second.out


def test_apply_with_environment_variables(cli, make_db, dev_server):
    db = make_db()
    asyncpg = db.url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    r = cli("apply", *dev_args(dev_server), env={"STORAGE__POSTGRES_URL": asyncpg})
    assert r.code == 0, r.text
    assert "contexts" in user_tables(db)


def test_apply_reports_drift(cli, make_db, dev_server):
    db = make_db()
    assert cli(*apply_args(db, dev_server)).code == 0
    sql(db, "alter table tasks add column extra integer")
    r = cli(*apply_args(db, dev_server))
    assert r.code == 1, r.text
    assert "still differs" in r.err
    assert 'drop column "extra"' in r.err


def test_apply_refuses_a_foreign_alembic_version(cli, make_db, dev_server):
    db = make_db()
    sql(
        db,
        "create table alembic_version (version_num varchar(32) primary key);"
        "insert into alembic_version values ('20260418_0001')",
    )
    r = cli(*apply_args(db, dev_server))
    assert r.code == 1
    assert "20260418_0001" in r.err and "bindu-schema adopt" in r.err
    assert user_tables(db) == ["alembic_version"]


def test_backup_before_apply_keeps_the_password_out_of_sight(
    tmp_path, cli_proc, make_db, dev_server
):
    db = make_db()
    secret = "Backup-S3cret-pw"
    role = "bindu_backup_" + db.database[-8:]
    sql(dev_server, f"create role {role} login superuser password '{secret}'")
    try:
        url = db.url.set(username=role, password=secret)
        raw = url.render_as_string(hide_password=False)
        dump = tmp_path / "dumps" / "before.sql"
        r = cli_proc(
            "apply", "--backup", str(dump), *dev_args(dev_server), env={"DATABASE_URL": raw}
        )
        assert r.code == 0, r.text
        assert secret not in r.text
        text = dump.read_text()
        assert "PostgreSQL database dump" in text
        assert "CREATE TABLE public.tasks" not in text  # taken before the upgrade
        assert secret not in text
        after = tmp_path / "after.sql"
        r2 = cli_proc(
            "apply", "--backup", str(after), *dev_args(dev_server), env={"DATABASE_URL": raw}
        )
        assert r2.code == 0, r2.text
        assert "CREATE TABLE public.tasks" in after.read_text()
    finally:
        sql(db, f"drop owned by {role}")
        sql(dev_server, f"drop role if exists {role}")


def test_backup_failure_applies_nothing(tmp_path, cli, make_db, dev_server):
    db = make_db()
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = cli(*apply_args(db, dev_server, "--backup", str(blocker / "dump.sql")))
    assert r.code == 1
    assert r.err.startswith("error: --backup")
    assert user_tables(db) == []


def concurrency_project(tmp_path: Path, cli, dev) -> tuple[Path, list[str]]:
    """Generated base revision + a hand-written one that logs every run into apply_log."""
    yaml_text = (
        ROOT / "tests" / "cases" / "revisions" / "drop_index" / "before.yaml"
    ).read_text() + f"\nexclude:\n  tables: [{LOG_TABLE}]\n"
    proj = make_project(tmp_path, yaml_text)
    r = cli(
        "revision",
        "-m",
        "base",
        "-c",
        str(proj / "alembic.ini"),
        "--schema",
        str(proj / "schema" / "bindu.yaml"),
        *dev_args(dev),
    )
    assert r.code == 0, r.text
    ok(alembic(proj, "revision", "-m", "log runs"))
    f = next(p for p in versions(proj) if p.name.endswith("_log_runs.py"))
    text = f.read_text()
    new = text.replace(
        "def upgrade() -> None:\n    pass",
        "def upgrade() -> None:\n"
        f'    op.execute("create table if not exists {LOG_TABLE} (pid int, lock_timeout text, '
        'statement_timeout text)")\n'
        f'    op.execute("insert into {LOG_TABLE} select pg_backend_pid(), '
        "current_setting('lock_timeout'), current_setting('statement_timeout')\")\n"
        '    op.execute("select pg_sleep(1)")  # widen the window for the other apply',
    )
    assert new != text
    f.write_text(new)
    ids = [p.name for p in versions(proj)]
    return proj, ids


def test_two_concurrent_applies_run_each_revision_once(tmp_path, cli, make_db, dev_server):
    proj, _ = concurrency_project(tmp_path, cli, dev_server)
    db = make_db()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    env["DATABASE_URL"] = db.sqlalchemy
    cmd = [sys.executable, "-m", "bindu_schema", "apply", *dev_args(dev_server)]
    procs = [
        subprocess.Popen(
            cmd, cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [
        (p.wait(timeout=300), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
        for p in procs
    ]
    for code, out, err in results:
        assert code == 0, out + err
        assert "schema matches" in out
    # The generated base revision would fail on a second run (its tables exist);
    # the hand-written one logs each run.
    assert sql(db, f"select lock_timeout, statement_timeout from {LOG_TABLE}") == [("5s", "15min")]
    assert alembic(proj, "current", url=db).out.count("(head)") == 1


def test_apply_timeout_options(tmp_path, cli, make_db, dev_server, monkeypatch):
    proj, _ = concurrency_project(tmp_path, cli, dev_server)
    db = make_db()
    monkeypatch.chdir(proj)
    r = cli(
        *apply_args(
            db,
            dev_server,
            "--lock-timeout",
            "3s",
            "--statement-timeout",
            "2min",
            "--advisory-lock-timeout",
            "30s",
        )
    )
    assert r.code == 0, r.text
    assert sql(db, f"select lock_timeout, statement_timeout from {LOG_TABLE}") == [("3s", "2min")]


def test_apply_waits_for_a_held_lock_and_gives_up(cli, make_db, dev_server):
    db = make_db()
    holder = server.connect(db, autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(7235390106112548197)")
        r = cli(*apply_args(db, dev_server, "--advisory-lock-timeout", "1s"))
        assert r.code == 1
        assert "advisory lock" in r.err
        assert user_tables(db) == []
    finally:
        holder.close()
