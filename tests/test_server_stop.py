"""`server stop` after runs killed with -9 (issue 14, item 6): their pids stay in the
wheel's handle file, which made its cleanup skip the stop and print "stopped" anyway.
The postmaster must really stop; a second stop says "not running"."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from conftest import ROOT

START_AND_DIE = (
    "import os, signal\n"
    "from bindu_schema import server\n"
    "server.embedded_server_url()\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n"
)


def alive(pid: int) -> bool:
    """Running: a zombie (exited, not reaped by whoever adopted it) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_server_stop_after_kill_9_stops_the_postmaster():
    home = Path("/tmp") / f"bindu-stop-{uuid.uuid4().hex[:8]}"  # short: socket path limit
    home.mkdir()
    env = {**os.environ, "BINDU_SCHEMA_HOME": str(home), "PYTHONPATH": str(ROOT)}

    def tool(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bindu_schema", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    pid = 0
    try:
        for _ in range(2):  # two runs killed with -9 after starting/using the server
            p = subprocess.run([sys.executable, "-c", START_AND_DIE], env=env, timeout=300)
            assert p.returncode == -signal.SIGKILL
        pid = int((home / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0])
        assert alive(pid)
        handles = home / "pgdata" / ".handle_pids.json"
        assert handles.exists() and handles.read_text() not in ("", "[]")  # stale pids
        r = tool("server", "stop")
        assert r.returncode == 0 and r.stdout.strip() == "stopped", r.stdout + r.stderr
        assert not alive(pid), "the postmaster still runs after `server stop`"
        r = tool("server", "stop")
        assert r.returncode == 0 and r.stdout.strip() == "not running", r.stdout + r.stderr
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGQUIT)  # ours: started by this test
        shutil.rmtree(home, ignore_errors=True)
