"""Eight `bindu-schema apply` processes at once on one database (issue 7, item 4).

All exit 0, the database ends at head, and each revision ran exactly once: every revision
inserts a row into a log table (excluded from the YAML), and a second run of the first
revision would fail anyway (its tables exist). The processes are started together and
released at the same moment by a lock the test holds and lets go.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic_project import alembic, make_project, ok
from conftest import dev_args, sql
from test_apply_faults import poll

from bindu_schema import server, tenancy
from bindu_schema.settings import DatabaseURL

PROCESSES = 8
REVS = ["20260201_0001", "20260201_0002", "20260201_0003"]
BINDU_LOCK = tenancy.PUBLIC_LOCK_KEY

YAML = """\
version: 1
tables:
  accounts:
    columns:
      id: {type: integer, nullable: false}
      name: {type: text}
      email: {type: text}
    primary_key: {name: accounts_pkey, columns: [id]}
    indexes:
      accounts_email_idx: {columns: [email]}
exclude:
  tables: [run_log]
"""

UPGRADES = {
    REVS[0]: [
        "create table run_log (revision text, pid int, at timestamptz default clock_timestamp())",
        "create table accounts (id integer not null, name text, "
        "constraint accounts_pkey primary key (id))",
    ],
    REVS[1]: ["alter table accounts add column email text"],
    REVS[2]: ["create index accounts_email_idx on accounts (email)"],
}


def write_project(tmp_path: Path) -> Path:
    proj = make_project(tmp_path, YAML)
    down = None
    for rev in REVS:
        stmts = [
            *UPGRADES[rev],
            f"insert into run_log (revision, pid) values ('{rev}', pg_backend_pid())",
        ]
        body = "\n".join(f"    op.execute({s!r})" for s in stmts)
        (proj / "generated" / "versions" / f"{rev}_step.py").write_text(
            f'"""{rev}"""\n\nfrom alembic import op\n\n'
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
            f"depends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\n\n"
            "def downgrade() -> None:\n    pass\n"
        )
        down = rev
    return proj


def waiting_for_bindu_lock(db: DatabaseURL) -> int:
    rows = sql(
        db,
        "select count(*) from pg_locks l join pg_database d on d.oid = l.database "
        "where l.locktype = 'advisory' and not l.granted "
        f"and l.objid = {BINDU_LOCK & 0xFFFFFFFF} and d.datname = current_database()",
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def test_eight_concurrent_applies_run_each_revision_once(tmp_path, make_db, dev_server):
    proj = write_project(tmp_path)
    db = make_db()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    env["DATABASE_URL"] = db.sqlalchemy
    cmd = [sys.executable, "-m", "bindu_schema", "apply", *dev_args(dev_server)]
    # The test takes the advisory lock first, so all eight are provably contending for it
    # before any of them migrates; then it lets go.
    holder = server.connect(db, autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute(f"select pg_advisory_lock({BINDU_LOCK})")
        procs = [
            subprocess.Popen(
                cmd, cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(PROCESSES)
        ]
        poll(
            "all eight applies to wait for the advisory lock",
            lambda: (
                waiting_for_bindu_lock(db) == PROCESSES or any(p.poll() is not None for p in procs)
            ),
        )
        assert all(p.poll() is None for p in procs)
    finally:
        holder.close()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        results.append((p.returncode, out, err))
    for code, out, err in results:
        assert code == 0, out + err
        assert "schema matches" in out, out + err
        assert "Traceback" not in out + err
    assert sql(db, "select version_num from alembic_version") == [(REVS[-1],)]
    # Each revision ran exactly once, all three in one process's run.
    log = sql(
        db, "select revision, count(*), count(distinct pid) from run_log group by 1 order by 1"
    )
    assert log == [(rev, 1, 1) for rev in REVS]
    assert len({r[0] for r in sql(db, "select pid from run_log")}) == 1
    outputs = "".join(out for _, out, _ in results)
    assert outputs.count(f"Running upgrade  -> {REVS[0]}") == 1
    assert outputs.count(f"Running upgrade {REVS[0]} -> {REVS[1]}") == 1
    assert outputs.count(f"Running upgrade {REVS[1]} -> {REVS[2]}") == 1
    # Each reports where its own run started (read under the lock): one did the work, the
    # seven others found the database at head.
    assert outputs.count(f"(empty) -> {REVS[-1]}") == 1, outputs
    assert outputs.count(f"already at head {REVS[-1]}") == PROCESSES - 1, outputs
    assert ok(alembic(proj, "current", url=db)).out.count("(head)") == 1
