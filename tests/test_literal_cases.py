"""String literals round trip byte for byte: render, plan, revision (upgrade, downgrade,
upgrade) and apply, on databases whose default is standard_conforming_strings = off.

Each tests/cases/literals/NAME.yaml lists columns with a default (SQL as the YAML holds
it), the value a row gets from it and a comment, plus a table comment. The test writes a
schema of one table from it and checks, on the real server, every stored comment and
every defaulted value against the case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic_project import alembic, make_project, ok, project_args, revision_in
from conftest import ROOT, plan_json, sql

from bindu_schema import executor, literals
from bindu_schema.server import connect
from bindu_schema.settings import DatabaseURL

CASES = sorted((ROOT / "tests" / "cases" / "literals").glob("*.yaml"))


def load(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(case.read_text())
    return data


def schema_yaml(case: dict[str, Any]) -> str:
    columns = {
        name: {"type": "text", "default": c["default"], "comment": c["comment"]}
        for name, c in case["columns"].items()
    }
    doc = {
        "version": 1,
        "tables": {"lit": {"comment": case["table_comment"], "columns": columns}},
    }
    # allow_unicode=False: YAML escapes U+2028 and friends itself ("\L", "\P")
    return yaml.safe_dump(doc, allow_unicode=False, sort_keys=False, width=1000)


def conforming_off(db: DatabaseURL) -> DatabaseURL:
    """db, with standard_conforming_strings = off for every new session on it."""
    sql(db, f'ALTER DATABASE "{db.database}" SET standard_conforming_strings = off')
    assert sql(db, "show standard_conforming_strings") == [("off",)]
    return db


def stored(db: DatabaseURL, case: dict[str, Any]) -> dict[str, Any]:
    """The table comment, the column comments and the values a row gets by default."""
    names = list(case["columns"])
    conn = connect(db, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT obj_description('lit'::regclass, 'pg_class')")
            row = cur.fetchone()
            table_comment = row[0] if row else None
            cur.execute(
                "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                "WHERE attrelid = 'lit'::regclass AND attnum > 0 AND NOT attisdropped"
            )
            comments = dict(cur.fetchall())
            cols = ", ".join(f'"{n}"' for n in names)
            cur.execute(f"INSERT INTO lit DEFAULT VALUES RETURNING {cols}")
            values = dict(zip(names, cur.fetchone() or (), strict=True))
            cur.execute("DELETE FROM lit")
    finally:
        conn.close()
    return {"table": table_comment, "comments": comments, "values": values}


def expected(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "table": case["table_comment"],
        "comments": {n: c["comment"] for n, c in case["columns"].items()},
        "values": {n: c["value"] for n, c in case["columns"].items()},
    }


def lit_exists(db: DatabaseURL) -> bool:
    return sql(db, "select to_regclass('public.lit') is not null") == [(True,)]


@pytest.mark.acceptance
@pytest.mark.parametrize("path", CASES, ids=[c.stem for c in CASES])
def test_literals_round_trip(path: Path, tmp_path, cli, make_db, dev_server) -> None:
    case = load(path)
    want = expected(case)
    proj = make_project(tmp_path, schema_yaml(case))
    schema = proj / "schema" / "bindu.yaml"

    # render: every comment and every default's value is a string constant of the DDL
    r = cli("render", "--schema", str(schema))
    assert r.code == 0, r.text
    constants = literals.string_constants(r.out)
    for c in case["columns"].values():
        assert c["comment"] in constants
    assert case["table_comment"] in constants

    # plan, its statements run on a database whose sessions default to the setting off
    planned = conforming_off(make_db())
    r = plan_json(cli, schema, planned, dev_server, "--no-lint")
    assert r.code == 2, r.text
    executor.run(planned, [s["sql"] for s in json.loads(r.out)["statements"]])
    assert stored(planned, case) == want
    assert plan_json(cli, schema, planned, dev_server, "--no-lint").code == 0

    # revision: upgrade, downgrade, upgrade through the real alembic command
    ok(revision_in(cli, proj, dev_server, "literals"))
    migrated = conforming_off(make_db())
    ok(alembic(proj, "upgrade", "head", url=migrated))
    assert stored(migrated, case) == want
    ok(alembic(proj, "downgrade", "base", url=migrated))
    assert not lit_exists(migrated)
    ok(alembic(proj, "upgrade", "head", url=migrated))
    assert stored(migrated, case) == want
    assert plan_json(cli, schema, migrated, dev_server, "--no-lint").code == 0

    # apply (alembic upgrade head, then its own drift check)
    applied = conforming_off(make_db())
    r = cli("apply", *project_args(proj, applied, dev_server))
    assert r.code == 0, r.text
    assert stored(applied, case) == want
