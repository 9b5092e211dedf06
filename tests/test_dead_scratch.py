"""Scratch databases of processes that died without cleaning up (SIGKILL, out of disk)
are dropped by the next run, which reads the owner recorded on each (issue 14, item 4);
one whose owner is alive is left alone. A full disk is a message, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import ROOT, dev_args, scratch_databases, sql

from bindu_schema import server

CREATE_AND_HANG = """\
import sys, time
from bindu_schema import server
from bindu_schema.settings import normalize
url = server.create_scratch(normalize(sys.argv[1], "test"))
print(url.database, flush=True)
time.sleep(600)
"""


def start_owner(dev) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CREATE_AND_HANG, dev.sqlalchemy],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name.startswith(server.SCRATCH_PREFIX), name
    return proc, name


def test_scratch_of_a_killed_process_is_dropped_by_the_next_run(dev_server):
    dead, dead_name = start_owner(dev_server)
    alive, alive_name = start_owner(dev_server)
    try:
        comment = sql(
            dev_server,
            f"SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            f"WHERE datname = '{dead_name}'",
        )
        assert f" {dead.pid} " in str(comment[0][0]), comment
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=60)
        assert dead_name in scratch_databases(dev_server)  # nobody cleaned up
        dropped = server.sweep_dead_scratch(dev_server)
        assert dead_name in dropped and alive_name not in dropped
        left = scratch_databases(dev_server)
        assert dead_name not in left and alive_name in left
    finally:
        alive.kill()
        alive.wait(timeout=60)
    server.sweep_dead_scratch(dev_server)
    assert alive_name not in scratch_databases(dev_server)


def test_a_full_disk_is_a_message(cli, make_db, dev_server):
    db = make_db()
    r = cli(
        "inspect", "--database-url", db.sqlalchemy, "-o", "/dev/full", *dev_args(dev_server)[:0]
    )
    assert r.code == 1, r.text
    assert "No space left on device" in r.err and "/dev/full" in r.err, r.err
    assert "Traceback" not in r.text
