"""Secrets (issue 7, item 5): with a password in DATABASE_URL (and in --dev-url), every
command, on its success path and its failure paths, keeps the password out of stdout,
stderr, log files (the server's and ours), generated files, backup files and their
names, and the argument lists of every process it starts.

The password authenticates for real: a role with a SCRAM password, and a
`local all <role> scram-sha-256` line on top of the test server's pg_hba.conf for the
length of this module (the embedded server trusts its socket otherwise).

Child processes are watched through a sitecustomize.py on PYTHONPATH that records the
argv of every subprocess any Python process of the run starts (the tool, alembic, and
what they spawn: pg_dump, psql, squawk).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic_project import make_project
from conftest import ROOT, Result, scram_role, sql
from sqlalchemy.engine import make_url

from bindu_schema import server
from bindu_schema.settings import DatabaseURL

ROLE = "bindu_test_secret_role"
PASSWORD = "Wombat-7q:S3CR3T@x/y%z"  # distinctive; needs URL encoding
WRONG = "Platypus-4k:N0PE@x/y"
FORMS = (
    PASSWORD,
    quote(PASSWORD, safe=""),
    "Wombat-7q",
    WRONG,
    quote(WRONG, safe=""),
    "Platypus-4k",
)

SITECUSTOMIZE = """\
import json, os, subprocess
_log = os.environ.get("BINDU_TEST_ARGV_LOG")
_init = subprocess.Popen.__init__
def _spy(self, args, *a, **kw):
    if _log:
        with open(_log, "a") as f:
            one = isinstance(args, (str, bytes, os.PathLike))
            f.write(json.dumps([str(x) for x in ([args] if one else args)]) + "\\n")
    _init(self, args, *a, **kw)
subprocess.Popen.__init__ = _spy
"""


def socket_dir(dev: DatabaseURL) -> str:
    host = dev.url.query.get("host") or dev.url.host
    assert isinstance(host, str) and host.startswith("/"), "the test server has a socket"
    return host


@pytest.fixture(scope="module")
def secret_role(dev_server: DatabaseURL) -> Iterator[str]:
    def drop(name: str) -> None:
        # Template databases the tool cached while connected as the role are the role's.
        assert name.startswith(server.TEMPLATE_PREFIX), name
        server.drop_template(dev_server, name)

    with scram_role(dev_server, ROLE, PASSWORD, drop) as role:
        yield role


def url_for(
    dev: DatabaseURL, database: str, password: str = PASSWORD, scheme: str = "postgresql"
) -> str:
    sock = quote(socket_dir(dev), safe="")
    port = f":{dev.url.port}" if dev.url.port else ""
    return f"{scheme}://{ROLE}:{quote(password, safe='')}@{port}/{database}?host={sock}"


class Runner:
    """Runs the tool and alembic as processes, collecting everything they show."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.spy = tmp / "spy"
        self.spy.mkdir()
        (self.spy / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.argv_log = tmp / "argv.jsonl"
        self.results: list[tuple[list[str], Result]] = []

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        e = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "STORAGE__POSTGRES_URL")
        }
        e["PYTHONPATH"] = os.pathsep.join(
            [str(self.spy), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        e["BINDU_TEST_ARGV_LOG"] = str(self.argv_log)
        e.update(extra)
        return e

    def run(self, module: str, *argv: str, cwd: Path, env: dict[str, str]) -> Result:
        p = subprocess.run(
            [sys.executable, "-m", module, *argv],
            cwd=cwd,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        r = Result(p.returncode, p.stdout, p.stderr)
        self.results.append(([module, *argv], r))
        return r

    def tool(self, *argv: str, cwd: Path, env: dict[str, str]) -> Result:
        return self.run("bindu_schema", *argv, cwd=cwd, env=env)

    def alembic(self, *argv: str, cwd: Path, env: dict[str, str]) -> Result:
        return self.run("alembic", *argv, cwd=cwd, env=env)

    def child_argvs(self) -> list[list[str]]:
        if not self.argv_log.exists():
            return []
        return [json.loads(line) for line in self.argv_log.read_text().splitlines()]


def assert_no_secret(text: str, where: str) -> None:
    for s in FORMS:
        assert s not in text, f"{s!r} in {where}:\n{text}"


def assert_clean(runner: Runner, *trees: Path) -> None:
    for argv, r in runner.results:
        if argv[0] == "bindu_schema":  # plain alembic prints tracebacks for SQL errors
            assert "Traceback" not in r.text, f"{argv}:\n{r.text}"
        assert_no_secret(r.out, f"stdout of {argv}")
        assert_no_secret(r.err, f"stderr of {argv}")
    for argv in runner.child_argvs():
        assert_no_secret(" ".join(argv), "a child process's argument list")
    for tree in trees:
        for f in sorted(tree.rglob("*")):
            assert_no_secret(str(f), "a file name")
            if f.is_file() and f.name != "argv.jsonl" and "spy" not in f.parts:
                assert_no_secret(f.read_bytes().decode("utf-8", "replace"), str(f))


def server_logs(dev: DatabaseURL) -> list[Path]:
    data = Path(str(sql(dev, "SHOW data_directory")[0][0]))
    logdir = Path(str(sql(dev, "SHOW log_directory")[0][0]))
    logdir = logdir if logdir.is_absolute() else data / logdir
    return [logdir] if logdir.is_dir() else []


def registered_commands() -> set[str]:
    from bindu_schema.cli import cli

    return set(cli.commands)  # type: ignore[attr-defined]


def changed_yaml() -> str:
    return (
        (ROOT / "schema" / "bindu.yaml")
        .read_text()
        .replace(
            "tables:\n",
            "tables:\n  secrets_probe:\n    columns:\n      id: {type: integer, nullable: false}\n"
            "    primary_key: {name: secrets_probe_pkey, columns: [id]}\n",
            1,
        )
    )


def test_success_paths_show_no_password(tmp_path, secret_role, make_db, dev_server):
    runner = Runner(tmp_path)
    db = make_db()
    live = url_for(dev_server, db.database, scheme="postgresql+asyncpg")
    dev = url_for(dev_server, dev_server.database)
    env = {"DATABASE_URL": live}
    proj = make_project(tmp_path, (ROOT / "schema" / "bindu.yaml").read_text(), with_versions=True)
    schema = str(proj / "schema" / "bindu.yaml")
    common = ["--schema", schema, "--dev-url", dev]

    def tool(*argv: str, codes: tuple[int, ...] = (0,)) -> Result:
        r = runner.tool(*argv, cwd=proj, env=env)
        assert r.code in codes, f"{argv}: {r.text}"
        return r

    assert "CREATE TABLE" in tool("render", "--schema", schema).out
    for fmt in ("text", "json", "markdown"):
        assert db.database in tool("plan", *common, "--format", fmt, codes=(2,)).out
    assert "erDiagram" in tool("diagram", "--schema", schema).out
    backup = tmp_path / "backups" / "before.sql"
    r = tool("apply", *common, "--backup", str(backup))
    assert "schema matches" in r.out
    assert "PostgreSQL database dump" in backup.read_text()
    assert sorted(p.name for p in backup.parent.iterdir()) == ["before.sql"]
    assert "already managed" in tool("adopt", *common).out
    assert "tasks:" in tool("inspect").out
    tool("inspect", "-o", str(tmp_path / "inspected.yaml"))
    assert "tasks:" in (tmp_path / "inspected.yaml").read_text()
    # A database built by Bindu's hand-written migrations, adopted for real.
    sql(db, "update alembic_version set version_num = '20260418_0001'")
    assert "adopted" in tool("adopt", *common).out
    for argv in (("upgrade", "head"), ("current",), ("history", "--verbose"), ("check",)):
        r = runner.alembic(*argv, cwd=proj, env=env)
        assert r.code == 0, f"{argv}: {r.text}"
    offline = runner.alembic("upgrade", "head", "--sql", cwd=proj, env=env)
    assert offline.code == 0 and "pg_advisory_lock" in offline.out, offline.text
    # A new revision from a changed YAML (written into the project's generated/).
    (proj / "schema" / "bindu.yaml").write_text(changed_yaml())
    r = tool("revision", "-m", "secrets probe", *common)
    assert "wrote" in r.out
    assert (
        "create table"
        in next((proj / "generated" / "versions").glob("*secrets_probe.py")).read_text().lower()
    )
    assert "schema matches" in tool("apply", *common).out
    for name in sorted(registered_commands() & {"check", "tenants"}):
        r = runner.tool(name, "--help", cwd=proj, env=env)
        assert r.code == 0, r.text
        r = runner.tool(
            name, *(["--dev-url", dev] if "--dev-url" in r.out else []), cwd=proj, env=env
        )
        assert r.code in (0, 1, 2, 3), r.text  # whatever it finds: no password, no traceback
    # pg_dump ran, with no password on its command line.
    assert any(Path(a[0]).name == "pg_dump" for a in runner.child_argvs())
    assert_clean(
        runner, proj, tmp_path / "backups", tmp_path / "inspected.yaml", *server_logs(dev_server)
    )


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    """A project whose only revision fails on its second statement."""
    yaml_text = (
        "version: 1\ntables:\n  t:\n    columns:\n      id: {type: integer, nullable: false}\n"
    )
    proj = make_project(tmp_path / "failing", yaml_text)
    (proj / "generated" / "versions" / "20260301_0001_fails.py").write_text(
        '"""fails"""\n\nfrom alembic import op\n\nrevision = "20260301_0001"\n'
        "down_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.execute("create table t (id integer not null)")\n'
        '    op.execute("select 1/0")\n\n\n'  # the failing statement
        "def downgrade() -> None:\n    pass\n"
    )
    return proj


def failure_cases(dev: DatabaseURL, db: str) -> dict[str, str]:
    return {
        "wrong_password": url_for(dev, db, password=WRONG),
        "unreachable_host": f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@127.0.0.1:1/{db}"
        "?connect_timeout=3",
        "bad_database_name": url_for(dev, "bindu_no_such_db_" + uuid.uuid4().hex[:6]),
    }


@pytest.mark.parametrize("case", ["wrong_password", "unreachable_host", "bad_database_name"])
def test_failure_paths_show_no_password(tmp_path, secret_role, make_db, dev_server, case):
    runner = Runner(tmp_path)
    db = make_db()
    live = failure_cases(dev_server, db.database)[case]
    good_dev = url_for(dev_server, dev_server.database)
    proj = make_project(tmp_path, (ROOT / "schema" / "bindu.yaml").read_text(), with_versions=True)
    env = {"DATABASE_URL": live}
    schema = str(proj / "schema" / "bindu.yaml")
    common = ["--schema", schema, "--dev-url", good_dev]
    for argv in (
        ("plan", *common),
        ("plan", *common, "--format", "json"),
        ("apply", *common),
        ("apply", *common, "--backup", str(tmp_path / "b.sql")),
        ("adopt", *common),
        ("inspect",),
    ):
        r = runner.tool(*argv, cwd=proj, env=env)
        assert r.code == 1, f"{argv}: {r.text}"
        assert r.err.startswith("error: "), f"{argv}: {r.text}"
        assert "***" in r.err or ROLE in r.err, r.err  # says which URL, redacted
    for argv in (("upgrade", "head"), ("current",), ("check",)):
        r = runner.alembic(*argv, cwd=proj, env=env)
        assert r.code != 0, f"{argv}: {r.text}"
    # The same server, used as --dev-url, fails the same way.
    bad_dev = failure_cases(dev_server, dev_server.database)[case]
    r = runner.tool(
        "revision", "-m", "x", "--schema", schema, "--dev-url", bad_dev, cwd=proj, env={}
    )
    assert r.code == 1, r.text
    assert not (tmp_path / "b.sql").exists()
    assert_clean(runner, proj, tmp_path, *server_logs(dev_server))


def test_failing_statement_shows_no_password(
    tmp_path, secret_role, make_db, dev_server, failing_project
):
    runner = Runner(tmp_path)
    db = make_db()
    env = {"DATABASE_URL": url_for(dev_server, db.database)}
    dev = url_for(dev_server, dev_server.database)
    schema = str(failing_project / "schema" / "bindu.yaml")
    r = runner.tool("apply", "--schema", schema, "--dev-url", dev, cwd=failing_project, env=env)
    assert r.code == 1, r.text
    assert "division by zero" in r.err
    assert "1/0" in r.err  # the statement is named (its text is not the password)
    r = runner.alembic("upgrade", "head", cwd=failing_project, env=env)
    assert r.code != 0 and "division by zero" in r.err, r.text
    assert sql(db, "select count(*) from pg_tables where tablename = 't'") == [(0,)]
    assert_clean(runner, failing_project, *server_logs(dev_server))


def test_the_password_really_authenticates(secret_role, make_db, dev_server):
    """The tests above would pass vacuously if the password were not needed."""
    db = make_db()
    from bindu_schema.settings import normalize

    good = normalize(url_for(dev_server, db.database), "test")
    conn = server.connect(good)
    conn.close()
    bad = normalize(url_for(dev_server, db.database, password=WRONG), "test")
    with pytest.raises(Exception, match="password authentication failed"):
        server.connect(bad)
    assert make_url(good.sqlalchemy).password == PASSWORD
