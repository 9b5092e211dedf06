"""Many databases in one rollout (issue 19 item 3): a targets file lists them (a URL, or
url_env: the environment variable holding it), each with its tenant patterns or list and
its concurrency limit; `apply --all-tenants --targets FILE` migrates them all with one
report. The second database lives on a second PostgreSQL cluster that this test starts.
A bad targets file is refused at file:line:col, exit 1, before anything runs."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, dev_args, sql

from bindu_schema import ensure_tenant, server
from bindu_schema.settings import normalize

SCHEMA = json.loads((ROOT / "docs" / "tenant-rollout.schema.json").read_text())
PASSWORD = "fleet-s3cret-pw"


@pytest.fixture(scope="module")
def second_cluster(pg_home):
    """Another embedded PostgreSQL cluster (its own data directory), stopped at the end."""
    home = Path("/tmp") / f"bindu-test2-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    session_home = os.environ["BINDU_SCHEMA_HOME"]
    os.environ["BINDU_SCHEMA_HOME"] = str(home)
    try:
        url = server.embedded_server_url()
    finally:
        os.environ["BINDU_SCHEMA_HOME"] = session_home
    yield url
    os.environ["BINDU_SCHEMA_HOME"] = str(home)
    try:
        assert server.stop_embedded()
    finally:
        os.environ["BINDU_SCHEMA_HOME"] = session_home
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def second_db(second_cluster):
    name = "bindu_test_" + uuid.uuid4().hex[:12]
    sql(second_cluster, f'CREATE DATABASE "{name}"')
    yield second_cluster.with_database(name)
    sql(second_cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def version(db, schema: str) -> list[str]:
    return [str(r[0]) for r in sql(db, f"select version_num from {schema}.alembic_version")]


def test_two_databases_in_one_run(tmp_path, cli, make_db, second_db, dev_server):
    first = make_db()
    assert first.server_key() != second_db.server_key()  # two clusters
    at_head = ensure_tenant(first.sqlalchemy, "did:one:at-head")
    sql(first, "create schema did_one_new; create schema schema_7_not_matched")
    sql(second_db, "create schema did_two_a; create schema did_two_b; create schema did_two_c")
    with_password = second_db.url.set(password=PASSWORD).render_as_string(hide_password=False)
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"targets:\n"
        f"  - name: first\n"
        f"    url: {first.sqlalchemy}\n"
        f"    patterns: ['did\\_%']\n"
        f"    jobs: 2\n"
        f"  - name: second\n"
        f"    url_env: BINDU_TEST_SECOND_URL\n"
        f"    schemas: [did_two_a, did_two_c]\n"
        f"    jobs: 1\n"
    )
    env = {"BINDU_TEST_SECOND_URL": with_password}
    second = normalize(with_password).safe  # the password shown as ***
    assert "***" in second and PASSWORD not in second
    dry = cli("apply", "--all-tenants", "--targets", str(targets), "--dry-run", "--canary", "2",
              *dev_args(dev_server), env=env)  # fmt: skip
    assert dry.code == 0, dry.text
    assert [line.split(":")[0].split() for line in dry.out.splitlines()[:4]] == [
        ["1.", "first", at_head],
        ["2.", "first", "did_one_new", "[canary]"],
        ["3.", "second", "did_two_a", "[canary]"],
        ["4.", "second", "did_two_c"],
    ]
    assert "nothing changed" in dry.out and PASSWORD not in dry.text
    assert not sql(second_db, "select 1 from pg_tables where schemaname = 'did_two_a'")
    r = cli("apply", "--all-tenants", "--targets", str(targets), "--format", "json",
            *dev_args(dev_server), env=env)  # fmt: skip
    assert r.code == 0, r.text
    assert PASSWORD not in r.text
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    seen = [(t["database"], t["schema"], t["status"]) for t in doc["tenants"]]
    assert seen == [
        (first.safe, at_head, "CURRENT"),
        (first.safe, "did_one_new", "MIGRATED"),
        (second, "did_two_a", "MIGRATED"),
        (second, "did_two_c", "MIGRATED"),
    ]
    assert [(d["name"], d["database"], d["jobs"], d["tenants"]) for d in doc["databases"]] == [
        ("first", first.safe, 2, 2),
        ("second", second, 1, 2),
    ]
    head = doc["head"]
    for db, schema in ((first, "did_one_new"), (second_db, "did_two_a"), (second_db, "did_two_c")):
        assert version(db, schema) == [head]
    # not selected: the pattern, and the second database's list, left them alone
    assert not sql(second_db, "select 1 from pg_tables where schemaname = 'did_two_b'")
    assert not sql(first, "select 1 from pg_tables where schemaname = 'schema_7_not_matched'")

    # text: each line names its database; a second run finds everything at head
    again = cli("apply", "--all-tenants", "--targets", str(targets), *dev_args(dev_server),
                env=env)  # fmt: skip
    assert again.code == 0, again.text
    assert f"{second}: did_two_a: already at head" in again.out
    assert "already current 4" in again.out and PASSWORD not in again.text
    md = cli("apply", "--all-tenants", "--targets", str(targets), "--format", "markdown",
             *dev_args(dev_server), env=env)  # fmt: skip
    assert md.code == 0, md.text
    assert "| `first` | 2 | 2 | 0 | 0 |" in md.out and "| `second` | 1 | 2 | 0 | 0 |" in md.out


BAD_TARGETS = [
    ("targets: []\n", "1:10: targets: must be a non-empty list"),
    ("targets:\n  - url: postgresql://u:pw1@h/db\n", "2:10: a password in the targets file"),
    ("targets:\n  - name: x\n", "2:5: give the database as exactly one of url: or url_env:"),
    ("targets:\n  - url_env: NOT_SET_ANYWHERE_1\n", "2:14: the environment variable"),
    ("targets:\n  - url: postgresql://h/db\n    jobs: 0\n", "3:11: jobs must be a whole number"),
    ("targets:\n  - url: postgresql://h/db\n    colour: red\n", "3:5: unknown key 'colour'"),
    ("targets:\n  - url: postgresql://h/db\n    schemas: [Bad-Name]\n",
     "3:15: 'Bad-Name' is not a tenant schema name"),
    ("targets:\n  - url: postgresql://h/db\n  - url: postgresql://h/db\n",
     "3:5: the same database as the target at 2:5"),
    ("targets:\n  - url: [unclosed\n", "not valid YAML"),
    ("tragets:\n  - url: postgresql://h/db\n", "1:1: unknown key 'tragets'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD_TARGETS, ids=[e for _, e in BAD_TARGETS])
def test_a_bad_targets_file_is_refused_where_it_is_wrong(tmp_path, cli, make_db, dev_server,
                                                         text, expected):  # fmt: skip
    db = make_db()
    sql(db, "create schema did_untouched")
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    r = cli("apply", "--all-tenants", "--targets", str(path), "--database-url", db.sqlalchemy,
            *dev_args(dev_server))  # fmt: skip
    assert r.code == 1
    assert "--targets names each database" in r.err  # --database-url is refused too
    r = cli("apply", "--all-tenants", "--targets", str(path), *dev_args(dev_server))
    assert r.code == 1, r.text
    assert f"error: {path}:" in r.err and expected in r.err, r.err
    assert "Traceback" not in r.text and "pw1" not in r.text
    assert not sql(db, "select 1 from pg_tables where schemaname = 'did_untouched'")
