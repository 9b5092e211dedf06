"""Golden files: the rendered DDL of every case, and what PostgreSQL makes of it.

tests/golden/bindu.sql          `render` of schema/bindu.yaml
tests/golden/cases/NAME.yaml    one YAML feature area per file (see docs/schema-format.md)
tests/golden/cases/NAME.sql     `render` of NAME.yaml
tests/golden/cases/NAME.catalog what PostgreSQL reports after loading NAME.sql (pgcatalog.py)
tests/golden/cases/NAME.extra.sql  optional: loaded after NAME.sql; must not change the plan

Regenerate after an intended change, then review the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, Result, dev_args, scratch_databases
from pgcatalog import snapshot

from bindu_schema import executor, server
from bindu_schema.settings import DatabaseURL

GOLDEN = ROOT / "tests" / "golden"
CASES = sorted((GOLDEN / "cases").glob("*.yaml"))
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))
BINDU = ROOT / "schema" / "bindu.yaml"

Cli = Callable[..., Result]


def check_golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(), (
        f"{path.relative_to(ROOT)} differs; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 and review the diff"
    )


def render(cli: Cli, yaml_path: Path) -> str:
    r = cli("render", "--schema", str(yaml_path))
    assert r.code == 0, r.text
    assert r.err == ""
    return r.out


def load_in_one_transaction(db: DatabaseURL, script: str) -> None:
    conn = server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(script)
        conn.commit()
    finally:
        conn.close()


def test_cases_exist() -> None:
    assert len(CASES) >= 8
    for case in CASES:
        assert case.with_suffix(".sql").exists() or UPDATE, case


def test_bindu_render_matches_golden(cli: Cli) -> None:
    first = render(cli, BINDU)
    check_golden(GOLDEN / "bindu.sql", first)
    assert render(cli, BINDU) == first


def test_bindu_golden_round_trip(
    cli: Cli, make_db: Callable[[], DatabaseURL], dev_server: DatabaseURL
) -> None:
    db = make_db()
    load_in_one_transaction(db, (GOLDEN / "bindu.sql").read_text())
    r = cli("plan", "--schema", str(BINDU), "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 0, r.text


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_render_matches_golden(cli: Cli, case: Path) -> None:
    first = render(cli, case)
    check_golden(case.with_suffix(".sql"), first)
    assert render(cli, case) == first, "two renders of the same YAML differ"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_loads_and_plans_clean(
    cli: Cli, case: Path, make_db: Callable[[], DatabaseURL], dev_server: DatabaseURL
) -> None:
    """The golden DDL loads into an empty database in one transaction, PostgreSQL reports
    the objects in NAME.catalog, and `plan` against that database has nothing to do."""
    db = make_db()
    load_in_one_transaction(db, case.with_suffix(".sql").read_text())
    check_golden(case.with_suffix(".catalog"), snapshot(db))
    extra = case.with_name(case.stem + ".extra.sql")
    if extra.exists():
        load_in_one_transaction(db, extra.read_text())
    r = cli("plan", "--schema", str(case), "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 0, r.text
    assert "No changes" in r.out
    assert scratch_databases(dev_server) == []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.stem) for c in CASES])
def test_plan_from_empty_applies_and_converges(
    cli: Cli, case: Path, make_db: Callable[[], DatabaseURL], dev_server: DatabaseURL
) -> None:
    """The plan against an empty database, applied, leaves what the golden DDL leaves."""
    import json

    db = make_db()
    r = cli(
        "plan",
        "--schema",
        str(case),
        "--database-url",
        db.sqlalchemy,
        "--format",
        "json",
        *dev_args(dev_server),
    )
    assert r.code == 2, r.text
    executor.run(db, [s["sql"] for s in json.loads(r.out)["statements"]])
    again = cli(
        "plan", "--schema", str(case), "--database-url", db.sqlalchemy, *dev_args(dev_server)
    )
    assert again.code == 0, again.text
    assert snapshot(db) == case.with_suffix(".catalog").read_text()
