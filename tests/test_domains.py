"""Domains: a change PostgreSQL cannot make in place is refused, naming the domain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, dev_args

from bindu_schema import compile as compiler
from bindu_schema import loader, server
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

BEFORE = """
version: 1
domains:
  score: {type: integer, checks: {positive: VALUE >= 0}}
tables:
  tasks:
    columns: {id: {type: integer, nullable: false}, s: {type: score}}
"""


def test_base_type_change_is_refused(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    live = make_db()
    server.load_ddl(live, compiler.compile_schema(loader.loads(BEFORE)))
    after = tmp_path / "after.yaml"
    after.write_text(BEFORE.replace("type: integer, checks", "type: bigint, checks"))
    r = cli(
        "plan", "--schema", str(after), "--database-url", live.sqlalchemy, *dev_args(dev_server)
    )
    assert r.code == 1, r.text
    assert "domain score: its base type changes from integer to bigint" in r.err
    assert "declare a new domain, move the columns to it" in r.err
    assert "Traceback" not in r.text
