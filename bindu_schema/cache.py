"""Results that are pure functions of their inputs, kept on disk between commands.

`make plan` runs on every edit and mostly sees inputs it has seen before: the same YAML,
the same desired database, the same live schema. Each entry is keyed by the sha256 of
everything its value depends on, plus a fingerprint of this tool and the libraries that
produce the value (so an upgrade of bindu-schema, migra or schemainspect starts afresh).
A key never names a database by password or URL.

Entries are pickles under <home>/cache/<kind>/ (home: BINDU_SCHEMA_HOME or .bindu_schema,
git-ignored), written atomically; each kind keeps its MAX_ENTRIES most recently used.
A cache that cannot be read or written is skipped, never an error. BINDU_SCHEMA_CACHE=0
turns it off; `rm -rf .bindu_schema/cache` empties it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

CACHE_ENV = "BINDU_SCHEMA_CACHE"
MAX_ENTRIES = 32
# Libraries whose output a cached value embeds: loader (yaml, jsonschema), compiler
# (sqlalchemy), inspections and diffs (schemainspect, migra).
_LIBRARIES = ("yaml", "jsonschema", "sqlalchemy", "schemainspect", "migra")


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def root() -> Path:
    from .server import home

    return home() / "cache"


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """Our own sources and the identity (path, size, mtime) of the libraries' files."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.glob("*.py"), *package.glob("*.json")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin:
            st = os.stat(origin)
            h.update(f"{name}:{origin}:{st.st_size}:{st.st_mtime_ns}\0".encode())
        else:
            h.update(f"{name}:missing\0".encode())
    return h.hexdigest()


def key(*parts: str | bytes) -> str:
    """sha256 of the parts (length-prefixed, so no two part lists collide) and the tool."""
    h = hashlib.sha256(tool_fingerprint().encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def _path(kind: str, k: str) -> Path:
    return root() / kind / f"{k}.pickle"


def get(kind: str, k: str) -> Any | None:
    """The value stored under (kind, key), or None on a miss or an unreadable entry."""
    if not enabled():
        return None
    path = _path(kind, k)
    try:
        with open(path, "rb") as f:
            value = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:  # truncated or from an incompatible version: forget it
        try:
            path.unlink()
        except OSError:
            pass
        return None
    try:
        os.utime(path)  # most recently used
    except OSError:
        pass
    return value


def put(kind: str, k: str, value: Any) -> None:
    """Store value under (kind, key); best effort."""
    if not enabled():
        return
    folder = root() / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, _path(kind, k))
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(folder)
    except Exception:
        return


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        try:
            old.unlink()
        except OSError:
            pass
