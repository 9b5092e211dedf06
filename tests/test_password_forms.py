"""Every way libpq and SQLAlchemy take a password (issue 14, item 1), against a role that
must authenticate with it: the userinfo (percent-encoded or not, with `@`, `:`, `/` and `?`
unencoded), `?password=`, PGPASSWORD, a passfile (PGPASSFILE or `?passfile=`) and a
service file. Each works for plan (whose rehearsal runs pg_dump), check and plain
`alembic current`, and the password is in no output, no file, no child's argv.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic_project import make_project
from conftest import ROOT, scram_role, sql
from test_secrets import Runner, socket_dir

from bindu_schema.settings import DatabaseURL

ROLE = "bindu_test_pwform_role"
PASSWORD = "Qu0ll-9z:P@ss/w?rd%x"  # every character a URL parser cuts a password at
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), "Qu0ll-9z", "P@ss/w", "rd%x", "ss/w")
SCHEMA = ROOT / "schema" / "bindu.yaml"


@pytest.fixture(scope="module")
def pw_role(dev_server: DatabaseURL) -> Iterator[str]:
    """ROLE with a SCRAM password, required over the socket (a `local all ROLE
    scram-sha-256` line on top of the test server's pg_hba.conf for this module)."""

    def drop(name: str) -> None:
        sql(dev_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    with scram_role(dev_server, ROLE, PASSWORD, drop) as role:
        yield role


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def url_and_env(form: str, dev: DatabaseURL, db: str, tmp: Path) -> tuple[str, dict[str, str]]:
    sock = socket_dir(dev)
    port = str(dev.url.port or 5432)
    host = f"host={quote(sock, safe='')}&port={port}"
    bare = f"postgresql://{ROLE}@/{db}?{host}"
    passfile = tmp / "pgpass"
    passfile.write_text(f"*:*:*:{ROLE}:{_pgpass_escape(PASSWORD)}\n")
    passfile.chmod(0o600)
    if form == "userinfo_encoded":
        return f"postgresql+asyncpg://{ROLE}:{quote(PASSWORD, safe='')}@/{db}?{host}", {}
    if form == "userinfo_unencoded":
        return f"postgresql://{ROLE}:{PASSWORD}@/{db}?host={sock}&port={port}", {}
    if form == "query_password":
        return f"{bare}&password={quote(PASSWORD, safe='')}", {}
    if form == "PGPASSWORD":
        return bare, {"PGPASSWORD": PASSWORD}
    if form == "PGPASSFILE":
        return bare, {"PGPASSFILE": str(passfile)}
    if form == "passfile_param":
        return f"{bare}&passfile={quote(str(passfile), safe='')}", {}
    if form == "service_file":
        services = tmp / "pg_service.conf"
        services.write_text(
            f"[bindu_pwform]\nhost={sock}\nport={port}\nuser={ROLE}\npassword={PASSWORD}\n"
        )
        services.chmod(0o600)
        return f"postgresql:///{db}?service=bindu_pwform", {"PGSERVICEFILE": str(services)}
    raise AssertionError(form)


FORMS = [
    "userinfo_encoded",
    "userinfo_unencoded",
    "query_password",
    "PGPASSWORD",
    "PGPASSFILE",
    "passfile_param",
    "service_file",
]


def assert_no_password(runner: Runner, *trees: Path) -> None:
    for argv, r in runner.results:
        assert "Traceback" not in r.text, f"{argv}:\n{r.text}"
        for s in SECRETS:
            assert s not in r.text, f"{s!r} shown by {argv}:\n{r.text}"
    children = runner.child_argvs()
    for argv in children:
        for s in SECRETS:
            assert s not in " ".join(argv), f"{s!r} in argv {argv}"
    for tree in trees:
        for f in tree.rglob("*"):
            if f.is_file() and f.name not in ("pgpass", "pg_service.conf", "argv.jsonl"):
                if "spy" not in f.parts:
                    text = f.read_bytes().decode("utf-8", "replace")
                    assert PASSWORD not in text, f"the password is in {f}"


@pytest.mark.acceptance
@pytest.mark.parametrize("form", FORMS)
def test_password_form_works_everywhere_and_is_never_shown(
    tmp_path: Path, pw_role: str, make_db, dev_server: DatabaseURL, form: str
) -> None:
    runner = Runner(tmp_path)
    db = make_db()
    url, extra = url_and_env(form, dev_server, db.database, tmp_path)
    env = {"DATABASE_URL": url, **extra}
    proj = make_project(tmp_path, SCHEMA.read_text(), with_versions=True)
    dev = ["--dev-url", dev_server.sqlalchemy]
    # An empty database: plan has statements, so the rehearsal dumps it with pg_dump.
    r = runner.tool("plan", "--schema", str(SCHEMA), *dev, "--format", "json", cwd=proj, env=env)
    assert r.code == 2, r.text
    plan = json.loads(r.out)
    assert db.database in plan["target"], plan["target"]
    assert plan["statements"], plan
    assert any(Path(a[0]).name == "pg_dump" for a in runner.child_argvs()), "no rehearsal"
    r = runner.alembic("current", cwd=proj, env=env)
    assert r.code == 0, r.text
    r = runner.alembic("-x", f"url={url}", "current", cwd=proj, env=extra)
    assert r.code == 0, r.text
    if form == "query_password":  # the form the issue found printed everywhere
        for fmt in ("text", "markdown"):
            r = runner.tool(
                "plan", "--schema", str(SCHEMA), *dev, "--format", fmt, cwd=proj, env=env
            )
            assert r.code == 2 and db.database in r.out, r.text
        r = runner.tool("check", *dev, cwd=proj, env=env)
        assert r.code in (0, 1) and db.database in r.text, r.text
    assert_no_password(runner, proj)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://owner:Unp4rse-pw@host:notaport/app",
        "postgresql://owner:Unp4rse-pw@host:99999999999999999999/app",
        "postgresql+asyncpg://owner@host:x1/app?password=Unp4rse-pw",
    ],
    ids=["port_not_a_number", "port_out_of_range", "query_password"],
)
def test_unparseable_url_is_redacted(tmp_path: Path, dev_server: DatabaseURL, url: str) -> None:
    runner = Runner(tmp_path)
    proj = make_project(tmp_path, SCHEMA.read_text(), with_versions=True)
    dev = ["--dev-url", dev_server.sqlalchemy]
    for via in ({"DATABASE_URL": url}, {}):
        args = () if via else ("--database-url", url)
        r = runner.tool("plan", "--schema", str(SCHEMA), *dev, *args, cwd=proj, env=via)
        assert r.code == 1, r.text
        assert r.err.startswith("error: ") and "owner" in r.err, r.err
        assert "***" in r.err, r.err
    r = runner.alembic("-x", f"url={url}", "current", cwd=proj, env={})
    assert r.code != 0 and "owner" in r.err, r.text
    for argv, res in runner.results:
        assert "Unp4rse-pw" not in res.text, f"{argv}: {res.text}"
        if argv[0] == "bindu_schema":
            assert "Traceback" not in res.text, res.text
