"""Table entries of the YAML already found structurally valid, kept between commands.

After an edit of one table in a file of 1,000, the JSON Schema validation of the 999
others is the same work as before: the subschema a table entry is validated against
(`tables.additionalProperties`) is fixed for a given bindu-schema and depends on nothing
but the entry itself. So the loader skips entries whose canonical form (digest()) is in
this set, and adds the entries it validated and found without error. Invalid entries are
never added: every error still comes from a fresh validation, with its usual message and
line:column. The rest of the document (other sections, the tables map's own keywords)
is validated in full every time.

The set is one entry of the result cache (cache.py: HMAC-authenticated, keyed by the
tool's fingerprint, so another version of bindu-schema or jsonschema starts afresh),
bounded to MAX_DIGESTS, the most recently used kept. BINDU_SCHEMA_ENTRY_CACHE=0 (or
BINDU_SCHEMA_CACHE=0) turns it off.

The SQL fragments of the file (defaults, expressions, types: fragments.py) are kept the
same way, as the digests of (check, text) pairs found good: each distinct fragment costs
50-70 us of parsing, which a file with a distinct WHERE or CHECK per table pays for
every table after any edit. Bad fragments are never kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from . import cache, limits, switches

ENTRY_CACHE_ENV = "BINDU_SCHEMA_ENTRY_CACHE"
KIND = "entries"
# Twice the largest schema, so a file at the table limit and its previous version fit.
MAX_DIGESTS = 2 * limits.MAX_TABLES


def enabled() -> bool:
    return cache.enabled() and switches.on(ENTRY_CACHE_ENV)


def digest(entry: Any) -> bytes | None:
    """sha256 of the entry's canonical JSON (keys sorted), or None when the entry holds a
    value JSON cannot write (a YAML timestamp or !!binary): such an entry is always
    validated. The loader's data is made of dicts with string keys, lists and the safe
    constructor's scalars; over those, the JSON text is injective (1, 1.0 and true differ;
    no tuple or set ever occurs), so two entries share a digest only when they are equal."""
    try:
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


class KnownGood:
    """Digests of inputs a pure check passed, each with the generation it was last used in;
    `what` (and `parts`: the versions the check depends on) name the set."""

    def __init__(self, what: str, *parts: str) -> None:
        self._key = cache.key(what, *parts)
        stored = cache.get(KIND, self._key) if enabled() else None
        self._seen: dict[bytes, int] = stored if isinstance(stored, dict) else {}
        self._generation = max(self._seen.values(), default=0) + 1
        self._used: set[bytes] = set()

    def __contains__(self, d: bytes | None) -> bool:
        if d is None or d not in self._seen:
            return False
        self._used.add(d)
        return True

    def __len__(self) -> int:
        return len(self._seen)

    def save(self, valid: Iterable[bytes]) -> None:
        """Add the newly validated digests and store the set (when something was added:
        an unchanged file costs no write)."""
        new = [d for d in valid if d not in self._seen]
        if not new or not enabled():
            return
        for d in (*self._used, *new):
            self._seen[d] = self._generation
        if len(self._seen) > MAX_DIGESTS:
            kept = sorted(self._seen.items(), key=lambda kv: kv[1], reverse=True)[:MAX_DIGESTS]
            self._seen = dict(kept)
        cache.put(KIND, self._key, self._seen)


class ValidEntries(KnownGood):
    """The table entries found structurally valid (the JSON Schema's subschema for one)."""

    def __init__(self) -> None:
        super().__init__("valid table entries")


def good_fragments() -> KnownGood | None:
    """The SQL fragments (fragments.py) found to be exactly one of their kind, by check and
    text: a pure function of the two and of pglast's parser, whose version keys the set.
    None when the cache is off."""
    import pglast

    return KnownGood("good sql fragments", pglast.__version__) if enabled() else None


def fragment_digest(check: str, text: str) -> bytes:
    return hashlib.sha256(f"{check}\0{text}".encode("utf-8", "surrogatepass")).digest()
