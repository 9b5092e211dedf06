"""What is read from a database's catalog, kept while that catalog has not changed.

After an edit of the YAML the live database is the same as at the last `plan`: its
schemainspect inspection (1.2 s on 1,000 tables) and fidelity.py's snapshot are read
again for nothing. Each is kept in the result cache (cache.py) under a token that names
the catalog's content:

- a cached desired database or kept restore: server.immutable_token (read-only, verified
  against the fingerprint it was published with);
- any other database: the server, the database, version(), each catalog's row count and
  xmin sum (server._fingerprint_sql without the user tables' row counts), the roles
  (pg_authid is shared, not in that list, and its names appear in owners and ACLs) and
  pg_index's state flags (CREATE INDEX CONCURRENTLY sets them in place, without a new
  xmin). Any DDL inserts, updates or deletes catalog rows, and a row written later has a
  larger xid than every row it replaces, so a changed schema never gives an earlier token
  back. The token is read before and after a miss's read, and the value is kept only
  when both agree (no DDL committed in between).

Only the live database `plan` targets is read this way (remember()).
BINDU_SCHEMA_LIVE_READ_CACHE=0 reads it every time (immutable databases are still cached,
as before).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg2

from . import cache, server, switches
from .errors import DatabaseError
from .settings import DatabaseURL

LIVE_READ_CACHE_ENV = "BINDU_SCHEMA_LIVE_READ_CACHE"
PIN_ENV = "BINDU_SCHEMA_PIN_LIVE_TOKEN"
_PIN_LOCK = threading.Lock()

T = TypeVar("T")
_LIVE = "live\0"

_EXTRA_SQL = """
SELECT (SELECT coalesce(string_agg(oid::text || ':' || rolname, ',' ORDER BY oid), '')
        FROM pg_catalog.pg_roles),
       (SELECT coalesce(string_agg(indexrelid::text || ':' || indisvalid::text
               || indisready::text || indislive::text, ',' ORDER BY indexrelid), '')
        FROM pg_catalog.pg_index)
"""


def live_enabled() -> bool:
    return switches.on(LIVE_READ_CACHE_ENV)


def live_token(url: DatabaseURL) -> str | None:
    """The token of a database that may change (see the module's docstring); None when it
    cannot be read."""
    try:
        conn = server.connect(url, autocommit=True)
    except (psycopg2.Error, DatabaseError):
        return None
    try:
        fingerprint, version = server._fingerprint_and_version(conn, with_rows=False)
        with conn.cursor() as cur:
            cur.execute(_EXTRA_SQL)
            row = cur.fetchone()
    except psycopg2.Error:
        return None
    finally:
        conn.close()
    h = hashlib.sha256()
    who = (repr(url.server_key()), url.url.username or "", url.database or "")
    for part in (*who, version, fingerprint, *(row or ())):
        h.update(str(part).encode() + b"\0")
    return _LIVE + h.hexdigest()


# Live databases whose reads may be cached: `plan` names its target (plan.build's
# remember_live). Not every database read: scratch copies change under the rehearsal, and
# a fleet's tenants would each pay two token reads of a large catalog for nothing.
_remembered: set[tuple[tuple[str, int | None, str], str]] = set()


def _key(url: DatabaseURL) -> tuple[tuple[str, int | None, str], str]:
    return (url.server_key(), url.database or "")


def remember(url: DatabaseURL) -> None:
    """Let reads of the live database at url be cached (the edit loop's `plan`)."""
    _remembered.add(_key(url))


# Live databases whose token is read once inside pinned(): key -> the token (None: not
# read yet). A token costs 0.1 s on 1,000 tables and `plan` asked for it five times.
_pinned: dict[tuple[tuple[str, int | None, str], str], str | None] = {}


@contextmanager
def pinned(url: DatabaseURL) -> Iterator[None]:
    """Inside the block, hits for url are looked up under the token read first: the
    caller (plan.build) reads live several times and never writes to it. A miss still
    reads the token again after its read, and a changed token replaces the pinned one."""
    if not switches.on(PIN_ENV):
        yield
        return
    key = _key(url)
    _pinned[key] = None
    try:
        yield
    finally:
        _pinned.pop(key, None)


def token(url: DatabaseURL) -> str | None:
    """A token naming the catalog content of the database at url, or None."""
    fixed = server.immutable_token(url)
    if fixed is not None:
        return fixed
    key = _key(url)
    if key not in _remembered:
        return None
    if not (live_enabled() and cache.enabled()):
        return None
    if key in _pinned:
        with _PIN_LOCK:  # plan reads live from two threads: one token read between them
            if _pinned.get(key) is None:
                _pinned[key] = live_token(url)
            return _pinned[key]
    return live_token(url)


def _after_read(url: DatabaseURL, before: str) -> bool:
    """True when url's catalog is still the one `before` names (a fresh read for a live
    database; a pinned token is moved on when it changed)."""
    if not before.startswith(_LIVE):
        return True
    now = live_token(url)
    key = _key(url)
    if key in _pinned:
        _pinned[key] = now
    return now == before


def peek(
    kind: str, url: DatabaseURL, parts: tuple[str, ...], valid: Callable[[object], bool]
) -> object:
    """What cached() would return from the cache without reading, or None."""
    return _lookup(kind, url, parts, valid)[1]


def _lookup(
    kind: str, url: DatabaseURL, parts: tuple[str, ...], valid: Callable[[object], bool]
) -> tuple[str | None, object]:
    """(url's token, the valid cached value under it or None)."""
    before = token(url)
    if before is None:
        return None, None
    hit = cache.get(kind, cache.key(kind, before, *parts))
    return before, (hit if hit is not None and valid(hit) else None)


def cached(
    kind: str,
    url: DatabaseURL,
    parts: tuple[str, ...],
    read: Callable[[], T],
    valid: Callable[[object], bool],
    store: Callable[[T], object] = lambda v: v,
) -> T:
    """read() (a pure function of url's catalog and `parts`), from the cache when the
    catalog is one read before; `valid` says a cached value has the right shape, `store`
    turns a value into what can be pickled."""
    before, hit = _lookup(kind, url, parts, valid)
    if before is None:
        return read()
    if hit is not None:
        return hit  # type: ignore[return-value]
    value = read()
    if _after_read(url, before):
        cache.put(kind, cache.key(kind, before, *parts), store(value))
    return value


def schema_fingerprint(
    url: DatabaseURL, ns: str, read: Callable[[], str | None] | None = None
) -> str | None:
    """fingerprint.py's fingerprint of schema `ns` (equal exactly when pg_dump
    --schema-only is, owners aside), kept under url's token; `read` (a read started
    earlier, early.py) in place of reading it now."""
    from . import fingerprint

    def now() -> str | None:
        return fingerprint.of_schemas(url, [ns]).get(ns)

    return cached(FINGERPRINT, url, (ns,), read or now, is_text)


def is_text(hit: object) -> bool:
    return isinstance(hit, str)


FINGERPRINT = "fingerprint"
