"""migra's statements, parsed, kept between commands (issue 18's edit loop).

A 1,000-table schema planned against an empty database is 9,000 statements up and 3,000
down; parsing each with pglast (statements.parse) took 1.2 s, and the next plan after an
edit parses nearly the same statements again. statements.parse is a pure function of the
text, so its records are kept in one result-cache entry (cache.py: keyed also by our own
source, so a change of the parser starts afresh), for plans of at least MIN_STATEMENTS
statements (below that parsing is cheaper than reading the entry). Only statements that
parsed are kept: an error always comes from a fresh parse.
BINDU_SCHEMA_PARSE_CACHE=0 parses every statement every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from . import cache, switches
from .statements import Record

PARSE_CACHE_ENV = "BINDU_SCHEMA_PARSE_CACHE"
MIN_STATEMENTS = 200
MAX_KEPT = 50_000
_KIND = "records"

_memo: dict[str, Record] | None = None
K = TypeVar("K")
# The proved rewrites of statements.py (online.py's NOT VALID collapse: against an empty
# database one per foreign key, three parses each, 0.3-0.5 s on 1,000 tables), by the
# rewrite's name and the statement's text: each is a pure function of that text.
MIN_REWRITES = 50
_REWRITES = "rewrites"
_rewrites: dict[tuple[str, str], Record] | None = None


def enabled() -> bool:
    on = switches.on(PARSE_CACHE_ENV)
    return on and cache.enabled()


def known(count: int) -> dict[str, Record]:
    """The kept records (empty when off, or for a plan of fewer than MIN_STATEMENTS)."""
    global _memo
    if count < MIN_STATEMENTS or not enabled():
        return {}
    if _memo is None:
        hit = cache.get(_KIND, cache.key(_KIND, "records"))
        _memo = hit if isinstance(hit, dict) else {}
    return _memo


def remember(new: dict[str, Record]) -> None:
    """Keep these records too (the newest first, at most MAX_KEPT)."""
    global _memo
    if not new or not enabled():
        return
    _memo = _merged(new, _memo or {})
    cache.put(_KIND, cache.key(_KIND, "records"), _memo)


def _merged(new: dict[K, Record], old: dict[K, Record]) -> dict[K, Record]:
    """new, then as many of old as fit in MAX_KEPT (the newest are kept)."""
    merged = dict(new)
    for key, rec in old.items():
        if len(merged) >= MAX_KEPT:
            break
        merged.setdefault(key, rec)
    return merged


def rewritten(fn: Callable[[Record], Record], records: Sequence[Record]) -> list[Record]:
    """[fn(r) for r in records], the results kept between commands (fn must depend on
    r.sql alone, as statements.py's rewrites do; a rewrite that fails is never kept)."""
    global _rewrites
    if len(records) < MIN_REWRITES or not enabled():
        return [fn(r) for r in records]
    if _rewrites is None:
        hit = cache.get(_REWRITES, cache.key(_REWRITES, "rewrites"))
        _rewrites = hit if isinstance(hit, dict) else {}
    name = fn.__qualname__
    out, new = [], {}
    for r in records:
        done = _rewrites.get((name, r.sql))
        if done is None:
            done = new[(name, r.sql)] = fn(r)
        out.append(done)
    if new:
        _rewrites = _merged(new, _rewrites)
        cache.put(_REWRITES, cache.key(_REWRITES, "rewrites"), _rewrites)
    return out
