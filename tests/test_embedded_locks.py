"""The embedded server gets room in its lock table for large quick rehearsals (server.py,
LOCKS_PER_TRANSACTION): a new server home starts with max_locks_per_transaction raised,
after one restart right after its first start; the setting stays across restarts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import ROOT

from bindu_schema import server

SHOW = (
    "import psycopg2\n"
    "from bindu_schema import server\n"
    "url = server.embedded_server_url()\n"
    "conn = server.connect(url, autocommit=True)\n"
    "cur = conn.cursor()\n"
    'cur.execute("SELECT setting, pending_restart FROM pg_settings"\n'
    "            \" WHERE name = 'max_locks_per_transaction'\")\n"
    "print(*cur.fetchone())\n"
)


def test_a_new_embedded_server_has_room_for_large_rehearsals():
    home = Path("/tmp") / f"bindu-locks-{uuid.uuid4().hex[:8]}"  # short: socket path limit
    home.mkdir()
    env = {**os.environ, "BINDU_SCHEMA_HOME": str(home), "PYTHONPATH": str(ROOT)}

    def show() -> str:
        p = subprocess.run(
            [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    try:
        assert show() == f"{server.LOCKS_PER_TRANSACTION} False"
        assert (
            "database system is ready"
            in (home / "pgdata" / "log").read_text().split("received fast shutdown request", 1)[-1]
        )  # the restarted server still logs where the wheel's does
        stop = [sys.executable, "-m", "bindu_schema", "server", "stop"]
        assert subprocess.run(stop, env=env, timeout=300).returncode == 0
        assert show() == f"{server.LOCKS_PER_TRANSACTION} False"  # kept (ALTER SYSTEM)
    finally:
        subprocess.run(
            [sys.executable, "-m", "bindu_schema", "server", "stop"],
            env=env,
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(home, ignore_errors=True)
