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

Nothing is unpickled unless it is authenticated: each entry starts with an HMAC-SHA256 of
(kind, key, payload) under a random key in <home>/cache/key, created 0600 in a 0700
directory. An entry that does not verify (written by someone else, or moved from another
key) is a miss and is deleted unread. The cache is not used at all when the directory, a
kind's folder or the key file belongs to another user or others can write to it.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import pickle
import secrets
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import switches

CACHE_ENV = "BINDU_SCHEMA_CACHE"
MAX_ENTRIES = 32
# Libraries whose output a cached value embeds: loader (yaml, jsonschema), compiler
# (sqlalchemy), inspections and diffs (schemainspect, migra).
_LIBRARIES = ("yaml", "jsonschema", "sqlalchemy", "schemainspect", "migra")


def enabled() -> bool:
    return switches.on(CACHE_ENV)


def root() -> Path:
    from .server import home

    return home() / "cache"


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """Our own sources and the identity (path, size, mtime) of the libraries' files."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.rglob("*.py"), *package.glob("*.json")]):
        name = path.relative_to(package).as_posix()  # kinds/*.py too
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
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


_KEY_FILE = "key"
_TAG_BYTES = 32


def _private(path: Path, dir_mode: bool) -> bool:
    """Ours, and no one else can write to it (nor read it, for the key file)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return False
    return st.st_mode & (0o022 if dir_mode else 0o077) == 0


def _folder(kind: str, create: bool) -> Path | None:
    """<root>/<kind>, created 0700; None when it (or root) is not private."""
    top = root()
    folder = top / kind
    try:
        if create:
            top.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
        if not (_private(top, True) and _private(folder, True)):
            return None
    except OSError:
        return None
    return folder


def _secret(create: bool) -> bytes | None:
    """The HMAC key: read from <root>/key, created once with 32 random bytes, 0600."""
    path = root() / _KEY_FILE
    try:
        if create and not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        if not _private(path, False):
            return None
        data = path.read_bytes()
    except FileExistsError:  # created by another process meanwhile
        return _secret(False)
    except OSError:
        return None
    return data if len(data) == 32 else None


def _tag(secret: bytes, kind: str, k: str, payload: bytes) -> bytes:
    msg = f"{kind}\0{k}\0".encode() + payload
    return hmac.new(secret, msg, hashlib.sha256).digest()


def get(kind: str, k: str) -> Any | None:
    """The value stored under (kind, key), or None on a miss or an entry that does not
    verify (deleted unread)."""
    if not enabled() or _folder(kind, create=False) is None:
        return None
    secret = _secret(create=False)
    if secret is None:
        return None
    path = _path(kind, k)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    tag, payload = data[:_TAG_BYTES], data[_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(secret, kind, k, payload)):
        _forget(path)
        return None
    try:
        value = pickle.loads(payload)  # authenticated: written by this user's bindu-schema
    except Exception:  # from an incompatible version: forget it
        _forget(path)
        return None
    try:
        os.utime(path)  # most recently used
    except OSError:
        pass
    return value


def _forget(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def put(kind: str, k: str, value: Any) -> None:
    """Store value under (kind, key); best effort."""
    if not enabled():
        return
    folder = _folder(kind, create=True)
    secret = _secret(create=True) if folder is not None else None
    if folder is None or secret is None:
        return
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_tag(secret, kind, k, payload) + payload)
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
