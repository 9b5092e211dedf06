"""Shared fixtures: one real PostgreSQL server per test session (the embedded wheel).

Set BINDU_TEST_DEV_URL to run the suite against another server instead (any database
on it; test databases are created beside it).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from bindu_schema import server
from bindu_schema.settings import DatabaseURL, normalize

ROOT = Path(__file__).resolve().parent.parent
TEST_DB_PREFIX = "bindu_test_"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """BINDU_SCHEMA_HOME for the whole session: the embedded server's data lives here."""
    home = Path("/tmp") / f"bindu-test-{uuid.uuid4().hex[:8]}"  # short: socket path limit
    home.mkdir()
    old = os.environ.get("BINDU_SCHEMA_HOME")
    os.environ["BINDU_SCHEMA_HOME"] = str(home)
    yield home
    if not os.environ.get("BINDU_TEST_DEV_URL"):
        server.stop_embedded()
        # The session's server must not outlive it (pg_ctl removes the pid file on stop).
        assert not (home / "pgdata" / "postmaster.pid").exists(), f"{home}: server left running"
        shutil.rmtree(home, ignore_errors=True)
    if old is None:
        os.environ.pop("BINDU_SCHEMA_HOME", None)
    else:
        os.environ["BINDU_SCHEMA_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def worker_dir() -> Iterator[Path]:
    """The warm worker's sockets for this session (launcher.py): not the user's folder,
    and removed at the end, so the session's workers exit (they check every 10 s)."""
    folder = Path("/tmp") / f"bw-{uuid.uuid4().hex[:8]}"  # short: socket path limit
    folder.mkdir(mode=0o700)
    old = {k: os.environ.get(k) for k in ("BINDU_SCHEMA_WORKER_DIR", "BINDU_SCHEMA_WORKER_IDLE")}
    os.environ["BINDU_SCHEMA_WORKER_DIR"] = str(folder)
    os.environ["BINDU_SCHEMA_WORKER_IDLE"] = "120"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A BINDU_SCHEMA_HOME of the test's own, so its result cache starts empty (for tests
    that use no database: the session's embedded server lives in the session's home)."""
    monkeypatch.setenv("BINDU_SCHEMA_HOME", str(tmp_path_factory.mktemp("home")))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "acceptance: runs against both targets, embedded PostgreSQL 18 and Debian's "
        "PostgreSQL 15 (BINDU_TEST_TARGETS=pg18 limits it to one)",
    )


TARGETS = [t for t in os.environ.get("BINDU_TEST_TARGETS", "pg18,pg15").split(",") if t]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Acceptance tests run once per server; every other test uses the embedded server only.
    if "dev_server" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "acceptance"
    ):
        metafunc.parametrize("dev_server", TARGETS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def debian_pg() -> Iterator[DatabaseURL]:
    from debian_pg import new_server

    srv = new_server()
    srv.start()
    yield normalize(srv.url, "Debian PostgreSQL")
    srv.stop()


@pytest.fixture(scope="session")
def dev_server(pg_home: Path, request: pytest.FixtureRequest) -> DatabaseURL:
    """The maintenance database URL of the test server (param: pg18 or pg15)."""
    target = getattr(request, "param", "pg18")
    if target == "pg15":
        url: DatabaseURL = request.getfixturevalue("debian_pg")
        return url
    raw = os.environ.get("BINDU_TEST_DEV_URL")
    if raw:
        return normalize(raw, "BINDU_TEST_DEV_URL")
    return server.embedded_server_url()


@pytest.fixture
def make_db(dev_server: DatabaseURL) -> Iterator[Callable[[], DatabaseURL]]:
    """Factory for empty test databases, dropped after the test."""
    created: list[str] = []

    def make() -> DatabaseURL:
        name = TEST_DB_PREFIX + uuid.uuid4().hex[:12]
        conn = server.connect(dev_server, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        created.append(name)
        return dev_server.with_database(name)

    yield make
    conn = server.connect(dev_server, autocommit=True)
    with conn.cursor() as cur:
        for name in created:
            assert name.startswith(TEST_DB_PREFIX)
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def sql(url: DatabaseURL, text: str) -> list[tuple[object, ...]]:
    """Run SQL (possibly several statements) and return the last result's rows."""
    conn = server.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(text)
            try:
                return list(cur.fetchall())
            except psycopg2.ProgrammingError:
                return []
    finally:
        conn.close()


def scratch_databases(dev: DatabaseURL) -> list[str]:
    rows = sql(
        dev,
        f"SELECT datname FROM pg_database WHERE datname LIKE '{server.SCRATCH_PREFIX}%' ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


@pytest.fixture
def cli(dev_server: DatabaseURL, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process: cli(*argv, env={...}). DATABASE_URL etc. are cleared first."""
    from bindu_schema.cli import run

    def invoke(*argv: str, env: dict[str, str] | None = None) -> Result:
        with monkeypatch.context() as m:
            for var in ("DATABASE_URL", "STORAGE__POSTGRES_URL"):
                m.delenv(var, raising=False)
            for k, v in (env or {}).items():
                m.setenv(k, v)
            out, err = io.StringIO(), io.StringIO()
            code = run(list(argv), out, err)
        return Result(code, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture
def cli_proc(dev_server: DatabaseURL) -> Callable[..., Result]:
    """Run the CLI as a real process (python -m bindu_schema) from the repo root."""

    def invoke(
        *argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 300
    ) -> Result:
        e = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
        }
        e.update(env or {})
        p = subprocess.run(
            [sys.executable, "-m", "bindu_schema", *argv],
            cwd=cwd,
            env=e,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    return invoke


def dev_args(dev: DatabaseURL) -> list[str]:
    return ["--dev-url", dev.sqlalchemy]


def plan_json(
    cli: Callable[..., Result], schema: Path, db: DatabaseURL, dev: DatabaseURL, *extra: str
) -> Result:
    """`bindu-schema plan --format json` of a schema file against db (cli: the fixture)."""
    args = ["--schema", str(schema), "--database-url", db.sqlalchemy, *dev_args(dev), *extra]
    return cli("plan", "--format", "json", *args)


@contextmanager
def scram_role(
    dev: DatabaseURL, role: str, password: str, drop_database: Callable[[str], None]
) -> Iterator[str]:
    """ROLE with a SCRAM password, required over the socket (a `local all ROLE
    scram-sha-256` line on top of the test server's pg_hba.conf while it is in use). On
    exit pg_hba.conf is restored, each database the role came to own or owns objects in
    is handed to drop_database, and the role is dropped."""
    hba = Path(str(sql(dev, "SHOW hba_file")[0][0]))
    original = hba.read_text()
    sql(dev, f"DROP ROLE IF EXISTS {role}")
    sql(
        dev,
        "SET password_encryption = 'scram-sha-256'; "
        f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'",
    )
    try:
        hba.write_text(f"local all {role} scram-sha-256\n" + original)
        sql(dev, "SELECT pg_reload_conf()")
        yield role
    finally:
        hba.write_text(original)
        sql(dev, "SELECT pg_reload_conf()")
        # Databases the role owns, and those holding objects it owns (pg_shdepend).
        owned = sql(
            dev,
            "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            f"WHERE r.rolname = '{role}' UNION SELECT d.datname FROM pg_shdepend s "
            "JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid "
            f"WHERE r.rolname = '{role}' ORDER BY 1",
        )
        for (name,) in owned:
            drop_database(str(name))
        sql(dev, f"DROP ROLE IF EXISTS {role}")
