"""Scratch databases never outlive a command, and nothing without the prefix is dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, dev_args, scratch_databases, sql

from bindu_schema import cache, server
from bindu_schema.errors import BinduSchemaError


def _wait(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_normal_and_error_exits_leave_no_scratch(cli, make_db, dev_server, tmp_path):
    db = make_db()
    ok = cli("plan", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert ok.code == 2, ok.text
    assert scratch_databases(dev_server) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntables:\n  t:\n    columns:\n      a: {type: no_such_type}\n")
    err = cli("plan", "--schema", str(bad), "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert err.code == 1
    assert "no_such_type" in err.err
    assert scratch_databases(dev_server) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_drops_scratch(sig, make_db, dev_server):
    db = make_db()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
    }
    # Caches off: with them a repeated plan may finish without any scratch database.
    env.update({server.TEMPLATE_CACHE_ENV: "0", cache.CACHE_ENV: "0"})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bindu_schema",
            "plan",
            "--database-url",
            db.sqlalchemy,
            *dev_args(dev_server),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait(lambda: bool(scratch_databases(dev_server)) or proc.poll() is not None)
        assert proc.poll() is None, "plan finished before a scratch database was seen"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert _wait(lambda: scratch_databases(dev_server) == [], timeout=10)


def test_never_drops_a_database_without_the_prefix(make_db, dev_server):
    db = make_db()
    with pytest.raises(BinduSchemaError, match="not a scratch database"):
        server.drop_scratch(dev_server, db.database)
    assert sql(db, "select 1") == [(1,)]


def test_refuses_when_dev_and_target_are_the_same(cli, make_db):
    db = make_db()
    r = cli("plan", "--database-url", db.sqlalchemy, "--dev-url", db.sqlalchemy)
    assert r.code == 1
    assert "the dev server database and the target database are the same" in r.err
