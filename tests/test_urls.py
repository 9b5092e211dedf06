"""Database URLs as Bindu users write them, against the test server (no mocks).

Every accepted form must reach the same database whichever way it is given (--database-url,
DATABASE_URL, STORAGE__POSTGRES_URL, in that order of precedence); failures exit 1 and
never show the password.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import ROOT, Result, dev_args, sql

from bindu_schema.settings import DatabaseURL

FIXTURE = ROOT / "tests" / "fixtures" / "bindu_head.sql"
SCHEMA = ROOT / "schema" / "bindu.yaml"

Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def bindu_db(dev_server: DatabaseURL) -> Iterator[DatabaseURL]:
    """A database already at Bindu's head: a plan that reaches it exits 0, and one that
    reaches any other (empty) database exits 2, so exit 0 proves the URL was followed."""
    name = "bindu_test_urls_" + uuid.uuid4().hex[:8]
    sql(dev_server, f'CREATE DATABASE "{name}"')
    db = dev_server.with_database(name)
    sql(db, FIXTURE.read_text())
    yield db
    sql(dev_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def socket_dir(dev: DatabaseURL) -> str:
    host = dev.url.query.get("host") or dev.url.host
    if not isinstance(host, str) or not host.startswith("/"):
        pytest.skip("the test server is not reached through a Unix socket")
    return host


def port_part(dev: DatabaseURL) -> str:
    return f":{dev.url.port}" if dev.url.port else ""


def forms(
    dev: DatabaseURL, db: str, user: str = "postgres", password: str | None = None
) -> dict[str, str]:
    sock = socket_dir(dev)
    enc = quote(sock, safe="")
    auth = user + (f":{quote(password, safe='')}" if password else "")
    at = f"{auth}@{port_part(dev)}"
    return {
        "postgres": f"postgres://{at}/{db}?host={enc}",
        "postgresql": f"postgresql://{at}/{db}?host={enc}",
        "asyncpg": f"postgresql+asyncpg://{at}/{db}?host={enc}",
        "psycopg": f"postgresql+psycopg://{at}/{db}?host={enc}",
        "psycopg2": f"postgresql+psycopg2://{at}/{db}?host={enc}",
        "raw_socket_path": f"postgresql://{at}/{db}?host={sock}",
        "sslmode_disable": f"postgresql://{at}/{db}?host={enc}&sslmode=disable",
        "other_params": f"postgresql://{at}/{db}?host={enc}&application_name=bindu"
        "&connect_timeout=5&sslmode=prefer",
        "asyncpg_ssl_false": f"postgresql+asyncpg://{at}/{db}?host={enc}&ssl=false",
    }


FORM_NAMES = [
    "postgres",
    "postgresql",
    "asyncpg",
    "psycopg",
    "psycopg2",
    "raw_socket_path",
    "sslmode_disable",
    "other_params",
    "asyncpg_ssl_false",
]
UNREACHABLE = "postgresql://someone:Unreach4ble-pw@127.0.0.1:1/bindu?connect_timeout=3"


@pytest.mark.parametrize("form", FORM_NAMES)
@pytest.mark.parametrize("via", ["flag", "DATABASE_URL", "STORAGE__POSTGRES_URL"])
def test_accepted_form(
    cli: Cli, bindu_db: DatabaseURL, dev_server: DatabaseURL, form: str, via: str
) -> None:
    url = forms(dev_server, bindu_db.database)[form]
    argv = ["plan", "--schema", str(SCHEMA), *dev_args(dev_server)]
    if via == "flag":
        r = cli(*argv, "--database-url", url)
    else:
        r = cli(*argv, env={via: url})
    assert r.code == 0, r.text
    assert bindu_db.database in r.out  # the plan names the database it read


def test_each_form_also_works_as_a_process(
    cli_proc: Cli, bindu_db: DatabaseURL, dev_server: DatabaseURL
) -> None:
    for name, url in forms(dev_server, bindu_db.database).items():
        r = cli_proc(
            "plan", "--schema", str(SCHEMA), *dev_args(dev_server), env={"DATABASE_URL": url}
        )
        assert r.code == 0, f"{name}: {r.text}"


def test_flag_beats_database_url_beats_storage(
    cli: Cli, bindu_db: DatabaseURL, dev_server: DatabaseURL
) -> None:
    good = forms(dev_server, bindu_db.database)["asyncpg"]
    argv = ["plan", "--schema", str(SCHEMA), *dev_args(dev_server)]
    # The higher-precedence source wins even when a lower one points nowhere.
    r = cli(
        *argv,
        "--database-url",
        good,
        env={"DATABASE_URL": UNREACHABLE, "STORAGE__POSTGRES_URL": UNREACHABLE},
    )
    assert r.code == 0, r.text
    r = cli(*argv, env={"DATABASE_URL": good, "STORAGE__POSTGRES_URL": UNREACHABLE})
    assert r.code == 0, r.text
    # And a lower-precedence good URL is not used when a higher one is set.
    r = cli(*argv, env={"DATABASE_URL": UNREACHABLE, "STORAGE__POSTGRES_URL": good})
    assert r.code == 1, r.text
    assert "DATABASE_URL" in r.err
    r = cli(*argv, "--database-url", UNREACHABLE, env={"DATABASE_URL": good})
    assert r.code == 1, r.text
    assert "--database-url" in r.err
    r = cli(*argv, env={"STORAGE__POSTGRES_URL": good})
    assert r.code == 0, r.text


def assert_failed_without(r: Result, *secrets: str) -> None:
    assert r.code == 1, r.text
    assert "Traceback" not in r.text, r.text
    for s in secrets:
        assert s not in r.text, f"{s!r} leaked:\n{r.text}"


@pytest.mark.parametrize(
    "url",
    [
        UNREACHABLE,
        "postgresql+asyncpg://someone:Unreach4ble-pw@127.0.0.1:1/bindu?ssl=false",
        "postgresql://someone:Unreach4ble-pw@/bindu?host=/nonexistent/socket/dir",
        "postgres://someone:Unreach4ble-pw@/bindu?host=%2Fnonexistent%2Fsocket%2Fdir",
    ],
    ids=["tcp_port_1", "asyncpg_tcp_port_1", "missing_socket_dir", "missing_socket_dir_encoded"],
)
def test_unreachable_host(cli_proc: Cli, dev_server: DatabaseURL, url: str) -> None:
    for argv, env in (
        (["--database-url", url], None),
        ([], {"DATABASE_URL": url}),
        ([], {"STORAGE__POSTGRES_URL": url}),
    ):
        r = cli_proc("plan", "--schema", str(SCHEMA), *dev_args(dev_server), *argv, env=env)
        assert_failed_without(r, "Unreach4ble-pw")
        assert "cannot connect" in r.err
        assert "***" in r.err or "someone@" in r.err  # the URL is shown, redacted


def test_unknown_database(cli: Cli, dev_server: DatabaseURL) -> None:
    url = forms(dev_server, "bindu_no_such_db", password="Db-pw-9931")["postgresql"]
    r = cli("plan", "--schema", str(SCHEMA), "--database-url", url, *dev_args(dev_server))
    assert_failed_without(r, "Db-pw-9931")
    assert "bindu_no_such_db" in r.err


@pytest.mark.parametrize(
    "url",
    ["mysql://root:Sch3me-pw@localhost/bindu", "not a url Sch3me-pw", "postgresql://u:Sch3me-pw@h"],
    ids=["wrong_scheme", "garbage", "no_database"],
)
def test_unusable_url(cli: Cli, dev_server: DatabaseURL, url: str) -> None:
    r = cli("plan", "--schema", str(SCHEMA), "--database-url", url, *dev_args(dev_server))
    assert_failed_without(r, "Sch3me-pw")
    assert "--database-url" in r.err


PW_ROLE = "bindu_test_pw_role"
PASSWORD = "C0rrect-h0rse:b@ttery/st4ple"  # characters that need URL encoding


@pytest.fixture(scope="module")
def password_role(dev_server: DatabaseURL, bindu_db: DatabaseURL) -> Iterator[str]:
    """A role that must authenticate with a password over the socket.

    The embedded server trusts every local connection, so a `local all <role>
    scram-sha-256` line goes at the top of its pg_hba.conf for the length of this module.
    """
    try:
        hba = Path(str(sql(dev_server, "SHOW hba_file")[0][0]))
        original = hba.read_text()
    except Exception as exc:  # another server (BINDU_TEST_DEV_URL) may not allow this
        pytest.skip(f"cannot edit the test server's pg_hba.conf: {exc}")
    sql(dev_server, f"DROP ROLE IF EXISTS {PW_ROLE}")
    literal = PASSWORD.replace("'", "''")
    # Superuser so that whatever plan needs (catalog reads, pg_dump of the live schema)
    # is allowed: only the authentication is under test.
    sql(
        dev_server,
        f"SET password_encryption = 'scram-sha-256'; "
        f"CREATE ROLE {PW_ROLE} LOGIN SUPERUSER PASSWORD '{literal}'",
    )
    try:
        hba.write_text(f"local all {PW_ROLE} scram-sha-256\n" + original)
        sql(dev_server, "SELECT pg_reload_conf()")
        yield PW_ROLE
    finally:
        hba.write_text(original)
        sql(dev_server, "SELECT pg_reload_conf()")
        sql(dev_server, f"DROP ROLE IF EXISTS {PW_ROLE}")


def test_correct_password_works_and_is_not_shown(
    cli_proc: Cli, password_role: str, bindu_db: DatabaseURL, dev_server: DatabaseURL
) -> None:
    url = forms(dev_server, bindu_db.database, password_role, PASSWORD)["asyncpg"]
    r = cli_proc("plan", "--schema", str(SCHEMA), *dev_args(dev_server), env={"DATABASE_URL": url})
    assert r.code == 0, r.text
    assert PASSWORD not in r.text and quote(PASSWORD, safe="") not in r.text


@pytest.mark.parametrize("via", ["flag", "DATABASE_URL", "STORAGE__POSTGRES_URL"])
@pytest.mark.parametrize("form", ["postgresql", "asyncpg", "sslmode_disable"])
def test_wrong_password(
    cli_proc: Cli,
    password_role: str,
    bindu_db: DatabaseURL,
    dev_server: DatabaseURL,
    via: str,
    form: str,
) -> None:
    wrong = "Wr0ng-pass:w%rd@x"
    url = forms(dev_server, bindu_db.database, password_role, wrong)[form]
    argv = ["plan", "--schema", str(SCHEMA), *dev_args(dev_server)]
    if via == "flag":
        r = cli_proc(*argv, "--database-url", url)
    else:
        r = cli_proc(*argv, env={via: url})
    assert_failed_without(r, wrong, quote(wrong, safe=""), "Wr0ng-pass")
    assert "password authentication failed" in r.err
    assert password_role in r.err
