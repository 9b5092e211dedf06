"""The previous head for `revision`: every revision replayed once, then kept.

`revision` compares the YAML with the schema the existing revisions build. Replaying them
(Alembic, one transaction per revision) took 8 s on a 1,000-table base revision, on every
`revision`, and the result depends only on the revision scripts. So the replayed database
is kept on the dev server like a desired database (server.publish: read-only, its catalog
fingerprint checked on every use, evicted least recently used first), named by a hash of
the script directory's files, the Alembic config, Alembic's version and our own source
(cache.tool_fingerprint). Being immutable, what is read from it is cached too (its
inspection, fidelity snapshot and fingerprint). BINDU_SCHEMA_REPLAY_CACHE=0 (or the
template cache off) replays into a scratch database every time.

A one-revision `revision` is validated in the kept head itself (validate_in_place: taken
over, upgraded, checked, downgraded, proved back at the same schema fingerprint and
alembic_version, published again) instead of in a copy of it: copying a 1,000-table
database took 6 s of a 10 s `revision`. BINDU_SCHEMA_VALIDATE_IN_PLACE=0 copies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from . import cache, readcache, server, switches
from .compile import DDL
from .errors import DatabaseError
from .settings import DatabaseURL

REPLAY_CACHE_ENV = "BINDU_SCHEMA_REPLAY_CACHE"
IN_PLACE_ENV = "BINDU_SCHEMA_VALIDATE_IN_PLACE"
NS = "public"  # the schema a revision is validated in
_MARK = "-- bindu-schema: the revisions of a script directory, replayed "


def enabled() -> bool:
    on = switches.on(REPLAY_CACHE_ENV)
    return on and server.template_cache_enabled()


def _name(ini: Path, scripts: Path) -> str:
    import alembic

    h = hashlib.sha256()
    for part in (alembic.__version__, cache.tool_fingerprint(), ini.read_bytes()):
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    for path in sorted(p for p in scripts.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        h.update(path.relative_to(scripts).as_posix().encode() + b"\0" + path.read_bytes())
    return server.template_name([DDL(_MARK + h.hexdigest(), "replayed head")])


@contextmanager
def head(
    dev: DatabaseURL, ini: Path, scripts: Path, replay: Callable[[DatabaseURL], None]
) -> Iterator[DatabaseURL]:
    """A database at the script directory's head (`replay` runs the revisions into an
    empty one): the kept one when there is one, else replayed and kept. Read-only."""
    if not enabled():
        with server.scratch(dev) as fresh:
            replay(fresh)
            yield fresh
        return
    name = _name(ini, scripts)
    pin = server.open_cached(dev, name)
    if pin is None:
        url = server.create_scratch(dev)
        try:
            replay(url)
        except BaseException:
            server.drop_scratch(dev, url.database or "")
            raise
        published = server.publish(dev, url, name)
        if not published:  # another command kept the same first
            try:
                yield url
            finally:
                server.drop_scratch(dev, url.database or "")
            return
        pin = server.open_cached(dev, name, published)
        if pin is None:  # evicted in the instant between: replay into a private one
            with server.scratch(dev) as fresh:
                replay(fresh)
                yield fresh
            return
    # Not pinned while in use: validate() copies it, and PostgreSQL copies no database
    # anybody is connected to. Eviction spares one used in the last 30 s, and the copy is
    # checked against its published fingerprint (server.copy_of_cached).
    pin.close()
    yield dev.with_database(name)


def copy(dev: DatabaseURL, previous: DatabaseURL) -> DatabaseURL:
    """A scratch copy of `previous` (the caller drops it)."""
    name = previous.database or ""
    if name.startswith(server.TEMPLATE_PREFIX):
        got = server.copy_of_cached(dev, name)
        if got is not None:
            return got
    return server.create_scratch(dev, template=name)


def _versions(url: DatabaseURL) -> list[str] | None:
    from .differ import ALEMBIC_TABLE

    try:
        conn = server.connect(url, autocommit=True)
    except DatabaseError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(f'SELECT version_num FROM "{ALEMBIC_TABLE}" ORDER BY 1')
            return [str(r[0]) for r in cur.fetchall()]
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def validate_in_place(
    dev: DatabaseURL, previous: DatabaseURL, check: Callable[[DatabaseURL], bool]
) -> bool | None:
    """Run `check` (upgrade, compare, downgrade) in the kept head `previous` itself.

    None: not tried (switched off, not a kept head, or in use by another command): copy
    it instead. True: `check` passed and the head is back at the schema fingerprint and
    alembic_version it had, so it is published again under its name. False: anything
    else; the head is dropped (it may be anything now), and the caller replays it."""
    name = previous.database or ""
    if not (enabled() and switches.on(IN_PLACE_ENV) and name.startswith(server.TEMPLATE_PREFIX)):
        return None
    want, versions = readcache.schema_fingerprint(previous, NS), _versions(previous)
    if want is None or versions is None:
        return None
    url = server.take_over(dev, name)
    if url is None:
        return None
    kept = False
    try:
        back = readcache.schema_fingerprint(url, NS)
        passed = check(url) and back == want and _versions(url) == versions
        if passed:
            kept = server.put_back(dev, url, name) is not None
        return passed
    finally:
        if not kept:
            server.drop_scratch(dev, url.database or "")
