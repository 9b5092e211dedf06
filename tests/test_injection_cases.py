"""The injections of issue 12 as permanent cases: tests/cases/injection/NAME.yaml.

Each case holds a `base` schema (revision 1, applied, table v filled with rows) and a
`change` carrying the hostile value, and says how the tools must end: `exit: 0` (the
value is quoted correctly and works) or `exit: 1` with an `error` fragment (refused).
Optional: `message` (the -m of the change's revision; {marker} becomes a path nobody may
create), `allow_hazards`, `standard_conforming_strings` (the target databases' default:
ALTER DATABASE ... SET), `standard_conforming_strings_role` (the same as the default of
the role the tools connect as: ALTER ROLE ... SET) and `comment` (a table comment that
must be stored exactly).

Every case is run through plan, revision, `alembic upgrade` / `downgrade` and `apply`
on the real server, and v's rows are counted after each step. A refused case must have
written no revision file and changed nothing in the database."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic_project import alembic, make_project, ok, project_args, revision_in, versions
from conftest import ROOT, plan_json, sql
from pgcatalog import snapshot

from bindu_schema.settings import DatabaseURL

CASES = sorted((ROOT / "tests" / "cases" / "injection").glob("*.yaml"))
ROWS = [(1,), (2,), (3,)]


def v_rows(db: DatabaseURL) -> list[tuple[object, ...]]:
    return sql(db, "select id from v order by id")


@pytest.fixture
def role(dev_server: DatabaseURL) -> Iterator[str]:
    """A login role of its own, for cases that configure the role. Requested before
    make_db, so that it is dropped after make_db dropped the databases it owns things in."""
    name = "bindu_test_role_" + uuid.uuid4().hex[:10]
    sql(dev_server, f'CREATE ROLE "{name}" LOGIN SUPERUSER')
    yield name
    sql(dev_server, f'DROP ROLE "{name}"')


def target(make_db: Any, case: dict[str, Any], role: str) -> DatabaseURL:
    db: DatabaseURL = make_db()
    setting = case.get("standard_conforming_strings")
    if setting is not None:
        sql(db, f'ALTER DATABASE "{db.database}" SET standard_conforming_strings = {setting}')
        assert sql(db, "show standard_conforming_strings") == [(setting,)]
    setting = case.get("standard_conforming_strings_role")
    if setting is not None:
        sql(db, f'ALTER ROLE "{role}" SET standard_conforming_strings = {setting}')
        db = DatabaseURL(db.url.set(username=role), db.source)
        assert sql(db, "show standard_conforming_strings") == [(setting,)]
    return db


def at_base(proj: Path, make_db: Any, case: dict[str, Any], role: str) -> DatabaseURL:
    """A database at the base revision, v holding ROWS."""
    db = target(make_db, case, role)
    ok(alembic(proj, "upgrade", "head", url=db))
    sql(db, "insert into v values (1), (2), (3)")
    return db


def table_comment(db: DatabaseURL, table: str) -> object:
    rows = sql(db, f"select obj_description('public.{table}'::regclass, 'pg_class')")
    return rows[0][0]


@pytest.mark.acceptance
@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_injection_case(path: Path, tmp_path, cli, role, make_db, dev_server) -> None:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    marker = tmp_path / "pwned"
    message = str(case.get("message", "change")).replace("{marker}", str(marker))
    allow = ["--allow-hazards", case["allow_hazards"]] if case.get("allow_hazards") else []
    refused = case["exit"] == 1

    proj = make_project(tmp_path, case["base"])
    ok(revision_in(cli, proj, dev_server, "base"))
    base_files = {f.name: f.read_bytes() for f in versions(proj)}
    db = at_base(proj, make_db, case, role)
    before = snapshot(db)
    other = at_base(proj, make_db, case, role)  # for apply (env.py loads the YAML: built first)
    other_before = snapshot(other)
    schema = proj / "schema" / "bindu.yaml"
    schema.write_text(case["change"])

    # plan
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == (1 if refused else 2), r.text
    assert "Traceback" not in r.text
    if refused:
        assert case["error"] in r.err, r.err
        assert "DELETE" not in r.out and "statements" not in r.out, r.out
    assert v_rows(db) == ROWS and snapshot(db) == before

    # revision
    r = revision_in(cli, proj, dev_server, message, *allow)
    assert r.code == case["exit"], r.text
    assert "Traceback" not in r.text
    assert not marker.exists(), "the revision message ran as code"
    if refused:
        assert case["error"] in r.err, r.err
        assert {f.name: f.read_bytes() for f in versions(proj)} == base_files
    else:
        new = [f for f in versions(proj) if f.name not in base_files]
        assert new
        for f in new:
            tree = ast.parse(f.read_text())  # valid Python
            doc = ast.get_docstring(tree, clean=False) or ""
            assert doc.startswith(message if len(new) == 1 else f"{message} (1 of")
        ok(alembic(proj, "history", url=db))
        ok(alembic(proj, "upgrade", "head", url=db))
        assert v_rows(db) == ROWS
        if "comment" in case:
            assert table_comment(db, case["comment"]["table"]) == case["comment"]["text"]
        ok(alembic(proj, "downgrade", f"-{len(new)}", url=db))
        assert v_rows(db) == ROWS
        assert snapshot(db) == before
        if "comment" in case:
            assert table_comment(db, case["comment"]["table"]) is None
        ok(alembic(proj, "upgrade", "head", url=db))
        assert v_rows(db) == ROWS
        assert plan_json(cli, schema, db, dev_server, "--no-lint").code == 0
    assert not marker.exists()

    # apply, on the other database at the base revision
    r = cli("apply", *project_args(proj, other, dev_server), *allow)
    assert r.code == case["exit"], r.text
    assert "Traceback" not in r.text
    assert v_rows(other) == ROWS
    if refused:
        assert case["error"] in r.err, r.err
        assert snapshot(other) == other_before
    elif "comment" in case:
        assert table_comment(other, case["comment"]["table"]) == case["comment"]["text"]
    assert not marker.exists()
