"""Database URL resolution and normalization; password redaction.

Order: --database-url, DATABASE_URL, STORAGE__POSTGRES_URL, else the embedded server.
Every URL is normalized to postgresql+psycopg2:// because SQLAlchemy 2.1 maps a bare
postgresql:// to psycopg 3, and Bindu users write asyncpg URLs.

Passwords: in the userinfo (percent-encoded or not: an unencoded `@`, `:`, `/`, `?` or `#`
in the password is encoded before parsing), as `?password=` (moved into the userinfo so
every redaction hides it), or from libpq itself (PGPASSWORD, a passfile, a service file),
which the drivers and pg_dump/psql read on their own. No message shows a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import BinduSchemaError

ENV_VARS = ("DATABASE_URL", "STORAGE__POSTGRES_URL")
_ACCEPTED = {
    "postgres",
    "postgresql",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2cffi",
    "postgresql+pg8000",
}
# asyncpg spells TLS as ssl=...; libpq (psycopg2) as sslmode=...
_ASYNCPG_SSL = {"true": "require", "false": "disable", "1": "require", "0": "disable"}


@dataclass(frozen=True)
class DatabaseURL:
    url: URL
    source: str  # where it came from, for messages

    @property
    def sqlalchemy(self) -> str:
        """The full URL, password included: for drivers only, never for output."""
        return self.url.render_as_string(hide_password=False)

    @property
    def safe(self) -> str:
        return redact_url(self.url)

    @property
    def database(self) -> str:
        return self.url.database or ""

    def with_database(self, name: str) -> DatabaseURL:
        return DatabaseURL(self.url.set(database=name), self.source)

    def conninfo(self) -> str:
        """A libpq conninfo string of every parameter but the password (safe in argv): the
        child process gets the password from PGPASSWORD, a passfile or a service file."""
        u = self.url
        # The same parameters, in the same precedence, as server.connect gives psycopg2.
        params: dict[str, object] = {
            k: (v if isinstance(v, str) else v[-1]) for k, v in u.query.items() if k != "password"
        }
        for key, val in (("host", u.host), ("port", u.port), ("user", u.username)):
            if val is not None:
                params[key] = val
        params["dbname"] = u.database or ""
        return " ".join(f"{k}={_conninfo_quote(str(v))}" for k, v in params.items())

    def server_key(self) -> tuple[str, int | None, str]:
        """Identifies the server (host, port, socket dir) to tell two URLs apart."""
        host = self.url.host or str(self.url.query.get("host", "")) or "localhost"
        return host, self.url.port, str(self.url.query.get("port", ""))


def _conninfo_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def redact_url(url: URL | str) -> str:
    if isinstance(url, str):
        try:
            url = _parse(url)
        except (ArgumentError, ValueError):
            return redact_text(str(url))
    return url.set(query=_redacted_query(url)).render_as_string(hide_password=True)


def _redacted_query(url: URL) -> dict[str, str | tuple[str, ...]]:
    return {k: ("***" if k == "password" else v) for k, v in url.query.items()}


# Characters that end a userinfo password in a URL parser; encoded when unencoded.
_USERINFO_BREAKERS = {c: f"%{ord(c):02X}" for c in "@:/?#[]"}
# What may follow the userinfo's `@`: host[:port], /database (no `@`, `?`), then ?query.
_AFTER_USERINFO = re.compile(r"[^@/?]*/[^@?]*(?:\?.*)?", re.DOTALL)
_AFTER_USERINFO_LOOSE = re.compile(r"[^@/?]*(?:/[^@?]*)?(?:\?.*)?", re.DOTALL)


def _split_userinfo(raw: str) -> tuple[str, str, str] | None:
    """(scheme://, userinfo, @rest) of a URL. The userinfo ends at the last `@` followed
    by host/database[?query], so a password may hold `@`, `/`, `?` unencoded (a query
    value holding `@` and then `/` is the one form this misreads)."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return None
    ats = [i for i, c in enumerate(rest) if c == "@"]
    for pattern, order in ((_AFTER_USERINFO, ats[::-1]), (_AFTER_USERINFO_LOOSE, ats)):
        for at in order:
            if pattern.fullmatch(rest, at + 1):
                return scheme + sep, rest[:at], rest[at:]
    return None


def _parse(raw: str) -> URL:
    """make_url, after encoding what would cut an unencoded password short."""
    parts = _split_userinfo(raw)
    if parts is not None:
        head, userinfo, rest = parts
        user, colon, password = userinfo.partition(":")
        if colon:
            password = "".join(_USERINFO_BREAKERS.get(c, c) for c in password)
            raw = f"{head}{user}:{password}{rest}"
    return make_url(raw)


def redact_text(raw: str) -> str:
    """A URL that could not be parsed, shown without what may be its password."""
    if "://" not in raw:
        return "text that is no URL, not shown"  # where a password would be is unknown
    parts = _split_userinfo(raw)
    if parts is not None:
        head, userinfo, rest = parts
        user, colon, _ = userinfo.partition(":")
        raw = f"{head}{user}{':***' if colon else ''}{rest}"
    elif "@" in raw:
        return raw.partition("://")[0] + "://***"
    return _scrub_patterns(raw)


def normalize(raw: str, source: str = "--database-url") -> DatabaseURL:
    """Parse any URL form Bindu users write and return a psycopg2 URL."""
    try:
        url = _parse(raw.strip())
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise BinduSchemaError(
            f"{source}: not a database URL ({redact_text(raw.strip())}); "
            "expected postgresql://user:password@host:5432/dbname"
        ) from None
    if url.drivername not in _ACCEPTED:
        raise BinduSchemaError(
            f"{source}: unsupported URL scheme '{url.drivername}://'; use postgresql://, "
            "postgres://, postgresql+asyncpg:// or postgresql+psycopg://"
        )
    query = dict(url.query)
    in_query = query.pop("password", None)
    if in_query is not None and not url.password:
        url = url.set(password=in_query if isinstance(in_query, str) else in_query[-1])
    if "ssl" in query and "sslmode" not in query:
        ssl = str(query.pop("ssl"))
        query["sslmode"] = _ASYNCPG_SSL.get(ssl.lower(), ssl)
    url = url.set(drivername="postgresql+psycopg2", query=query)
    if url.password == "":
        url = url._replace(password=None)  # set() treats None as "keep"
    if not url.database:
        raise BinduSchemaError(f"{source}: the URL names no database ({redact_url(url)})")
    return DatabaseURL(url, source)


def from_environment(
    explicit: str | None, env: Mapping[str, str] | None = None
) -> DatabaseURL | None:
    """The configured target database, or None for the embedded default."""
    environ = os.environ if env is None else env
    if explicit:
        return normalize(explicit, "--database-url")
    for name in ENV_VARS:
        value = environ.get(name)
        if value:
            return normalize(value, name)
    return None


def scrub(text: str, *urls: DatabaseURL | None) -> str:
    """Remove every password of the given URLs (and any URL-embedded password) from text."""
    for u in urls:
        if u is not None and u.url.password:
            text = text.replace(str(u.url.password), "***")
    return _scrub_patterns(text)


def _scrub_patterns(text: str) -> str:
    # Any other user:password@ that slipped into a driver message, and password=... of a
    # query string or a libpq conninfo.
    text = re.sub(r"(://[^:/@\s]*:)\S*@(?=[^@\s]*(?:/|\s|$))", r"\1***@", text)
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", r"\1***", text)
