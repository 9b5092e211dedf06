"""Database URL resolution and normalization; password redaction.

Order: --database-url, DATABASE_URL, STORAGE__POSTGRES_URL, else the embedded server.
Every URL is normalized to postgresql+psycopg2:// because SQLAlchemy 2.1 maps a bare
postgresql:// to psycopg 3, and Bindu users write asyncpg URLs.
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

    def libpq(self) -> str:
        """A libpq connection URI (for pg_dump / psql), password included."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def server_key(self) -> tuple[str, int | None, str]:
        """Identifies the server (host, port, socket dir) to tell two URLs apart."""
        host = self.url.host or str(self.url.query.get("host", "")) or "localhost"
        return host, self.url.port, str(self.url.query.get("port", ""))


def redact_url(url: URL | str) -> str:
    try:
        u = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable URL>"
    return u.render_as_string(hide_password=True)


def normalize(raw: str, source: str = "--database-url") -> DatabaseURL:
    """Parse any URL form Bindu users write and return a psycopg2 URL."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        # The raw text may hold a password: never echo it.
        raise BinduSchemaError(
            f"{source}: not a database URL; expected postgresql://user@host:5432/dbname"
        ) from None
    if url.drivername not in _ACCEPTED:
        raise BinduSchemaError(
            f"{source}: unsupported URL scheme '{url.drivername}://'; use postgresql://, "
            "postgres://, postgresql+asyncpg:// or postgresql+psycopg://"
        )
    query = dict(url.query)
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
    # Any other user:password@ that slipped into a driver message.
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
