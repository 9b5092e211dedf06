"""Faults during `bindu-schema apply` (issue 7, item 3), against real PostgreSQL.

- SIGKILL of the apply process while it is provably inside a revision with several
  statements: the database stays at the previous revision with none of the revision's
  changes, and the next apply completes.
- A statement that fails (a unique index on duplicate data): the revision rolls back whole,
  the error names the statement, `alembic current` is unchanged, exit 1, no traceback.
- A CONCURRENTLY statement (autocommit block) that fails leaves an INVALID index: the next
  apply must not be wedged by it.

The revisions are hand-written into a temporary project (tests/alembic_project.py), so the
moment of the fault is under the test's control: the revision waits on an advisory lock
that the test holds, and the test polls pg_locks until the apply's backend is waiting there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2.extensions
from alembic_project import alembic, make_project, ok
from conftest import dev_args, sql
from pgcatalog import snapshot

from bindu_schema import server, tenancy
from bindu_schema.settings import DatabaseURL

# The advisory lock a revision waits on (classid 0, objid GATE, objsubid 1 in pg_locks).
GATE = 4242
BINDU_LOCK = tenancy.PUBLIC_LOCK_KEY
R1, R2, R3 = "20260101_0001", "20260101_0002", "20260101_0003"

YAML = """\
version: 1
tables:
  items:
    columns:
      id: {type: integer, nullable: false}
      v: {type: integer, nullable: false}
      a: {type: integer}
      b: {type: text}
      c: {type: integer}
    primary_key: {name: items_pkey, columns: [id]}
    indexes:
      items_v_key: {columns: [v], unique: true}
exclude:
  tables: [run_log]
"""

BASE = [
    "create table items (id integer not null, v integer not null, "
    "constraint items_pkey primary key (id))",
    "create table run_log (revision text, pid int)",
    f"insert into run_log values ('{R1}', pg_backend_pid())",
]


def revision_file(
    rev: str, down: str | None, upgrade: list[str], concurrently: bool = False
) -> str:
    body = "\n".join(f"    op.execute({s!r})" for s in upgrade)
    if concurrently:
        body = "    with op.get_context().autocommit_block():\n" + "\n".join(
            f"        op.execute({s!r})" for s in upgrade
        )
    return (
        f'"""{rev}"""\n\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
        f"depends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def project(tmp_path: Path, *revisions: tuple[str, list[str], bool]) -> Path:
    """A project whose generated/versions holds R1 (BASE) and then the given revisions."""
    proj = make_project(tmp_path, YAML)
    chain: list[tuple[str, list[str], bool]] = [(R1, BASE, False), *revisions]
    down: str | None = None
    for rev, statements, concurrently in chain:
        path = proj / "generated" / "versions" / f"{rev}_step.py"
        path.write_text(revision_file(rev, down, statements, concurrently))
        down = rev
    return proj


def version(db: DatabaseURL) -> list[tuple[object, ...]]:
    return sql(db, "select version_num from alembic_version")


def start_apply(
    proj: Path, db: DatabaseURL, dev: DatabaseURL, *extra: str
) -> subprocess.Popen[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    env["DATABASE_URL"] = db.sqlalchemy
    return subprocess.Popen(
        [sys.executable, "-m", "bindu_schema", "apply", *dev_args(dev), *extra],
        cwd=proj,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=300)
    return p.returncode, out, err


def poll(
    what: str, probe: Callable[[], object], proc: subprocess.Popen[str] | None = None
) -> object:
    """Poll until probe() is truthy (the apply process must still be alive meanwhile)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"apply exited ({proc.returncode}) before {what}:\n{out}{err}")
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def waiting_on(db: DatabaseURL, objid: int, exclude: tuple[int, ...] = ()) -> int | None:
    """The pid of a backend of db waiting (not granted) on advisory lock (0, objid)."""
    rows = sql(
        db,
        "select l.pid from pg_locks l join pg_database d on d.oid = l.database "
        f"where l.locktype = 'advisory' and not l.granted and l.objid = {objid} "
        "and d.datname = current_database() "
        f"and l.pid <> all(array[{','.join(map(str, (0, *exclude)))}])",
    )
    return int(rows[0][0]) if rows else None  # type: ignore[call-overload]


def waiting_on_bindu_lock(db: DatabaseURL, exclude: tuple[int, ...]) -> int | None:
    low = BINDU_LOCK & 0xFFFFFFFF
    return waiting_on(db, low, exclude)


def backend_gone(db: DatabaseURL, pid: int) -> bool:
    return not sql(db, f"select 1 from pg_stat_activity where pid = {pid}")


def hold_gate(db: DatabaseURL) -> psycopg2.extensions.connection:
    conn = server.connect(db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"select pg_advisory_lock({GATE})")
    return conn


SEVERAL = [
    "alter table items add column a integer",
    "alter table items add column b text",
    "update items set a = v, b = 'changed'",
    f"insert into run_log values ('{R2}', pg_backend_pid())",
    f"select pg_advisory_xact_lock({GATE})",  # the test holds it: the kill lands here
    "alter table items add column c integer",
    "create unique index items_v_key on items (v)",
]


def at_r1(
    tmp_path: Path, make_db: Callable[[], DatabaseURL], revisions: list
) -> tuple[Path, DatabaseURL]:
    proj = project(tmp_path, *revisions)
    db = make_db()
    ok(alembic(proj, "upgrade", R1, url=db))
    sql(db, "insert into items select g, g from generate_series(1, 100) g")
    return proj, db


def test_sigkill_inside_a_revision_leaves_the_previous_revision(tmp_path, make_db, dev_server):
    proj, db = at_r1(tmp_path, make_db, [(R2, SEVERAL, False)])
    before = snapshot(db)
    gate = hold_gate(db)
    try:
        proc = start_apply(proj, db, dev_server, "--lock-timeout", "10min")
        pid = poll("the revision to wait on the gate", lambda: waiting_on(db, GATE), proc)
        # Provably inside R2: its backend holds the ALTERs' lock on items, uncommitted.
        held = sql(
            db,
            "select mode from pg_locks where relation = 'items'::regclass "
            f"and pid = {pid} and granted",
        )
        assert ("AccessExclusiveLock",) in held
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        gate.close()  # lets the orphaned backend run on, find its client gone and roll back
    poll("the killed apply's backend to end", lambda: backend_gone(db, pid))
    assert version(db) == [(R1,)]
    assert snapshot(db) == before
    assert sql(db, "select revision from run_log") == [(R1,)]
    assert sql(db, "select count(*) from items") == [(100,)]
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert f"Running upgrade {R1} -> {R2}" in out
    assert "schema matches" in out
    assert version(db) == [(R2,)]
    assert sql(db, "select revision from run_log order by 1") == [(R1,), (R2,)]
    assert sql(db, "select count(*) from items where b = 'changed'") == [(100,)]


def test_next_apply_waits_for_the_killed_one_then_completes(tmp_path, make_db, dev_server):
    """The orphaned backend of a killed apply still holds the bindu-schema advisory lock:
    an apply started meanwhile waits for it instead of running beside it."""
    proj, db = at_r1(tmp_path, make_db, [(R2, SEVERAL, False)])
    gate = hold_gate(db)
    try:
        first = start_apply(proj, db, dev_server, "--lock-timeout", "10min")
        orphan = poll("the revision to wait on the gate", lambda: waiting_on(db, GATE), first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        second = start_apply(proj, db, dev_server, "--lock-timeout", "10min")
        poll(
            "the second apply to wait for the advisory lock",
            lambda: waiting_on_bindu_lock(db, exclude=(orphan,)),
            second,
        )
        assert version(db) == [(R1,)]
    finally:
        gate.close()
    code, out, err = finish(second)
    assert code == 0, out + err
    assert backend_gone(db, orphan)
    assert version(db) == [(R2,)]
    # R2 ran to its end once: the killed run's insert was rolled back.
    assert sql(db, "select revision from run_log order by 1") == [(R1,), (R2,)]


def test_sigkill_between_two_pending_revisions_rolls_back_both(tmp_path, make_db, dev_server):
    """All pending revisions of one run share a transaction (Alembic's default, kept by
    env.py): a kill inside the second leaves the first unapplied too."""
    proj, db = at_r1(
        tmp_path,
        make_db,
        [(R2, SEVERAL[:4], False), (R3, SEVERAL[4:], False)],
    )
    before = snapshot(db)
    gate = hold_gate(db)
    try:
        proc = start_apply(proj, db, dev_server, "--lock-timeout", "10min")
        pid = poll("R3 to wait on the gate", lambda: waiting_on(db, GATE), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        gate.close()
    poll("the killed apply's backend to end", lambda: backend_gone(db, pid))
    assert version(db) == [(R1,)]
    assert snapshot(db) == before
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert version(db) == [(R3,)]


FAILING = [
    "alter table items add column a integer",
    "alter table items add column b text",
    f"insert into run_log values ('{R2}', pg_backend_pid())",
    "create unique index items_v_key on items (v)",
    "alter table items add column c integer",
]


def test_failing_statement_rolls_back_the_whole_revision(tmp_path, make_db, dev_server):
    proj, db = at_r1(tmp_path, make_db, [(R2, FAILING, False)])
    sql(db, "update items set v = 1 where id <= 2")  # duplicates: the unique index fails
    before = snapshot(db)
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert err.startswith("error: "), err
    assert "could not create unique index" in err
    assert "create unique index items_v_key on items (v)" in err  # names the statement
    assert version(db) == [(R1,)]
    assert snapshot(db) == before
    assert sql(db, "select revision from run_log") == [(R1,)]
    current = ok(alembic(proj, "current", url=db))
    assert R1 in current.out and R2 not in current.out
    # Fix the data: the next apply completes.
    sql(db, "update items set v = id")
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert version(db) == [(R2,)]
    assert "schema matches" in out


def test_failing_statement_with_plain_alembic_upgrade(tmp_path, make_db):
    proj, db = at_r1(tmp_path, make_db, [(R2, FAILING, False)])
    sql(db, "update items set v = 1 where id <= 2")
    before = snapshot(db)
    r = alembic(proj, "upgrade", "head", url=db)
    assert r.code != 0
    assert "could not create unique index" in r.err
    assert version(db) == [(R1,)]
    assert snapshot(db) == before


CONCURRENT_COLUMNS = [
    "alter table items add column a integer",
    "alter table items add column b text",
    "alter table items add column c integer",
]


def invalid_indexes(db: DatabaseURL) -> list[tuple[object, ...]]:
    return sql(
        db,
        "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
        "where not i.indisvalid",
    )


def concurrent_project(tmp_path: Path, cli, dev: DatabaseURL) -> tuple[Path, str]:
    """R1, R2 hand-written (items without the unique index), then a revision written by
    `bindu-schema revision` for the unique index: CREATE UNIQUE INDEX CONCURRENTLY on an
    existing table, in an autocommit block."""
    proj = project(tmp_path, (R2, CONCURRENT_COLUMNS, False))
    yaml_path = proj / "schema" / "bindu.yaml"
    yaml_path.write_text(
        YAML.replace("    indexes:\n      items_v_key: {columns: [v], unique: true}\n", "")
    )
    assert "items_v_key" not in yaml_path.read_text()
    yaml_path.write_text(YAML)
    r = cli(
        "revision",
        "-m",
        "unique v",
        "--rev-id",
        R3,
        "-c",
        str(proj / "alembic.ini"),
        "--schema",
        str(yaml_path),
        *dev_args(dev),
    )
    assert r.code == 0, r.text
    text = next((proj / "generated" / "versions").glob(f"{R3}_*.py")).read_text()
    assert "autocommit_block()" in text
    assert "CREATE UNIQUE INDEX CONCURRENTLY items_v_key" in text
    return proj, text


def test_failed_concurrent_index_does_not_wedge_the_next_apply(tmp_path, cli, make_db, dev_server):
    """CREATE INDEX CONCURRENTLY runs in an autocommit block: when it fails it cannot roll
    back and leaves an INVALID index behind. The revision is not recorded, and the next
    apply (after the data is fixed) must replace that index, not fail on its name."""
    proj, _ = concurrent_project(tmp_path, cli, dev_server)
    db = make_db()
    ok(alembic(proj, "upgrade", R2, url=db))
    sql(db, "insert into items select g, g from generate_series(1, 100) g")
    sql(db, "update items set v = 1 where id <= 2")
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert "could not create unique index" in err
    assert "CREATE UNIQUE INDEX CONCURRENTLY items_v_key" in err  # names the statement
    assert version(db) == [(R2,)]
    assert invalid_indexes(db) == [("items_v_key",)]
    sql(db, "update items set v = id")
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert "schema matches" in out
    assert version(db) == [(R3,)]
    assert invalid_indexes(db) == []


def test_sigkill_during_a_concurrent_index_build(tmp_path, cli, make_db, dev_server):
    """Killed while CREATE INDEX CONCURRENTLY waits for an older transaction (one the test
    keeps open), and its orphaned backend then terminated (as an operator would, or as a
    lost connection does): an INVALID index is left, the revision is not recorded, and the
    next apply completes."""
    proj, _ = concurrent_project(tmp_path, cli, dev_server)
    db = make_db()
    ok(alembic(proj, "upgrade", R2, url=db))
    sql(db, "insert into items select g, g from generate_series(1, 100) g")
    old = server.connect(db)  # an open transaction the index build must wait for
    with old.cursor() as cur:
        cur.execute("update items set a = 1 where id = 1")  # a writer: the build waits
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
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        sql(db, f"select pg_terminate_backend({pid})")
        poll("the terminated backend to end", lambda: backend_gone(db, pid))
    finally:
        old.close()
    assert version(db) == [(R2,)]
    assert invalid_indexes(db) == [("items_v_key",)]
    code, out, err = finish(start_apply(proj, db, dev_server))
    assert code == 0, out + err
    assert version(db) == [(R3,)]
    assert invalid_indexes(db) == []
