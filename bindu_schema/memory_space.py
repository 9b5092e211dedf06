"""The embedded server's rehearsal databases in memory: a tablespace in /dev/shm.

Why: the quick rehearsal runs a whole plan in the kept restore of the live schema and
rolls it back. Against an empty database a 1,000-table plan creates ~7,000 relation files
there and the rollback deletes them again. On this project's bench machine (ext4) file
creation right after thousands of deletions is slow (`perf`: ext4 `recently_deleted`), so
that upgrade took 4-9 s on disk and 3-4 s with the same database in memory; the deleted
files also slowed whatever created files next on that disk.

Only the embedded server this tool starts gets the tablespace (scratch-only, like its
fsync=off: server.py), and only databases that are caches go there (create_scratch's
`memory`, used for the kept restores: plan.py). A database given by URL is never touched.

/dev/shm is emptied by a reboot while PostgreSQL's catalog still lists the tablespace and
the databases in it: ensure() then drops those databases (caches of ours, by their name
prefixes; anything else there and the tablespace is left alone and unused) and the
tablespace, and makes both again. The folder is /dev/shm/bindu-schema-<uid>-<digest of
the server home>, 0700, owned by the server's user; a folder of that name owned by anyone
else, or a symlink, is never used. When /dev/shm has less than MIN_FREE bytes free, new
databases go to the disk. BINDU_SCHEMA_MEMORY_SCRATCH=0: every database on the disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
from pathlib import Path

import psycopg2
from psycopg2 import sql as pgsql

from . import switches

ENV = "BINDU_SCHEMA_MEMORY_SCRATCH"
NAME = "bindu_schema_memory"
ROOT = Path("/dev/shm")
MIN_FREE = 1 << 30  # a 1,000-table kept restore is ~80 MB; keep well clear of a full /dev/shm
OURS = ("bindu_schema_scratch_", "bindu_schema_tmpl_")  # server.SCRATCH_PREFIX, TEMPLATE_PREFIX

# server key -> the folder, for servers whose tablespace ensure() found usable
_ready: dict[object, Path] = {}


def enabled() -> bool:
    return switches.on(ENV)


def folder(home: Path) -> Path:
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return ROOT / f"bindu-schema-{os.getuid()}-{digest}"


def _owners(pgdata: Path) -> set[int]:
    """Who may own the folder: us, and the server's user (the data directory's owner)."""
    try:
        return {os.getuid(), pgdata.stat().st_uid}
    except OSError:
        return {os.getuid()}


def _trusted(where: Path, owners: set[int]) -> bool:
    """A real folder (not a symlink) owned by us or the server's user, closed to others."""
    try:
        st = os.lstat(where)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode) and st.st_uid in owners and stat.S_IMODE(st.st_mode) & 0o077 == 0
    )


def ensure(cur: psycopg2.extensions.cursor, key: object, home: Path, pgdata: Path) -> bool:
    """Make the tablespace usable on the embedded server `cur` is connected to (autocommit);
    True when new scratch databases may go there. Never raises for a database reason: the
    tablespace is an optimization, and every database works on the disk too."""
    _ready.pop(key, None)
    if not enabled() or not ROOT.is_dir():
        return False
    where = folder(home)
    try:
        server_uid = pgdata.stat().st_uid
        owners = _owners(pgdata)
        with _locked(home):
            cur.execute(
                "SELECT oid, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = %s",
                (NAME,),
            )
            row = cur.fetchone()
            if row is not None and (row[1] != str(where) or not _trusted(where, owners)):
                if not _drop(cur, int(row[0])):
                    return False
                row = None
            if row is None and not _create(cur, where, server_uid, owners):
                return False
    except (OSError, psycopg2.Error):
        return False
    _ready[key] = where
    return True


def tablespace(key: object) -> str | None:
    """The tablespace for a new scratch database on the server `key`, None for the disk."""
    where = _ready.get(key)
    if where is None or not enabled():
        return None
    try:
        if shutil.disk_usage(where).free < MIN_FREE:
            return None
    except OSError:
        return None
    return NAME


class _locked:
    """One process at a time makes or drops the tablespace of a server home."""

    def __init__(self, home: Path) -> None:
        self._path = home / "memory.lock"

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def _drop(cur: psycopg2.extensions.cursor, oid: int) -> bool:
    """Drop the tablespace whose folder is gone (a reboot) and the caches in it; False,
    and nothing dropped, when it holds a database that is not ours."""
    cur.execute("SELECT datname FROM pg_database WHERE dattablespace = %s", (oid,))
    names = [str(r[0]) for r in cur.fetchall()]
    if any(not n.startswith(OURS) for n in names):
        return False
    for n in names:
        cur.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(n))
        )
    cur.execute(pgsql.SQL("DROP TABLESPACE IF EXISTS {}").format(pgsql.Identifier(NAME)))
    return True


def _create(
    cur: psycopg2.extensions.cursor, where: Path, server_uid: int, owners: set[int]
) -> bool:
    if os.path.lexists(where):
        if not _trusted(where, owners):
            return False  # someone else's, or a symlink: never ours to use or remove
        shutil.rmtree(where)  # ours, left behind by a tablespace dropped or lost
    os.mkdir(where, 0o700)
    if server_uid != os.getuid():  # we are root; the server runs as its own user
        os.chown(where, server_uid, -1)
    cur.execute(
        pgsql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
            pgsql.Identifier(NAME), pgsql.Literal(str(where))
        )
    )
    return True


def remove(home: Path) -> None:
    """Delete the folder of a server home that is being removed (its server stopped)."""
    where = folder(home)
    if _trusted(where, _owners(home / "pgdata")):
        shutil.rmtree(where, ignore_errors=True)
