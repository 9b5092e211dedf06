"""Each object kind's cases, as data: tests/cases/kinds/<kind>/<case>.yaml.

A case is a `before` schema (the live database is created from its DDL; none: an empty
database), an `after` schema, and what the plan from one to the other must be:

    steps:            # the upgrade, in order: parse-node kind and object name, and
      - [DropStmt v, [ACQUIRES_ACCESS_EXCLUSIVE_LOCK]]     # the statement's hazards
      - [AlterTableStmt t, [...]]

Every case then runs the whole cycle against real PostgreSQL: `plan` (which rehearses the
upgrade and the downgrade on a copy) gives exactly those steps; running them leaves a
database that plans clean and equals, at catalog level (pg_dump --schema-only), one
created from the `after` DDL; and `inspect` of that database reads back a YAML that
creates an equal database again (the round trip). A new kind adds a folder here.

`cluster_sql` runs on the server first (roles, which every database of it shares; a case
creates them if missing and leaves them), `live_sql` on the live database once built.

`column_order: {table: [column, ...]}`: the live table's columns after the plan, in
PostgreSQL's order (the catalog snapshot sorts its lines, so it does not show order).

A case with `invalid` instead is a schema the loader refuses, with `errors`: the
`line:column: message` lines it must give (no server needed).

A case with `requires: {sql: ..., error: [...]}` needs what not every server has (a
version, a build option): where the `sql` (one boolean, on the test server) is false, the
plan must fail (exit 1) with an error holding each line of `error`, and nothing else runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest
import yaml
from conftest import ROOT, Result, dev_args, sql
from pgcatalog import snapshot
from pglast import ast, parse_sql

from bindu_schema import compile as compiler
from bindu_schema import executor, loader, server
from bindu_schema.settings import DatabaseURL

# Every kind's cases run on both servers (PostgreSQL 18 and 15).
pytestmark = pytest.mark.acceptance

ALL = sorted((ROOT / "tests" / "cases" / "kinds").glob("*/*.yaml"))
CASES = [c for c in ALL if "invalid" not in yaml.safe_load(c.read_text())]
INVALID = [c for c in ALL if c not in CASES]


def _name(stmt: ast.Node) -> str:
    """The object a statement is about, read from its parse tree."""
    if isinstance(stmt, ast.ViewStmt):
        return stmt.view.relname
    if isinstance(stmt, (ast.AlterTableStmt, ast.CreateStmt)):
        return stmt.relation.relname
    if isinstance(stmt, ast.RenameStmt):
        if stmt.relation:
            return stmt.relation.relname
        names = getattr(stmt.object, "names", stmt.object) or ()
        return str(names[-1].sval) if names else str(stmt.subname)
    if isinstance(stmt, ast.CreateEnumStmt | ast.AlterEnumStmt):
        return str(stmt.typeName[-1].sval)
    if isinstance(stmt, ast.DropStmt):
        obj = stmt.objects[0]
        if isinstance(obj, ast.ObjectWithArgs):  # DROP FUNCTION name(types)
            return str(obj.objname[-1].sval)
        items = obj if isinstance(obj, tuple) else getattr(obj, "names", ())
        return str(getattr(items[-1], "sval", items[-1]))
    if isinstance(stmt, ast.CommentStmt):
        obj = stmt.object
        items = obj if isinstance(obj, tuple) else getattr(obj, "names", ())
        return ".".join(str(getattr(i, "sval", i)) for i in items[1:] or items)
    if isinstance(stmt, ast.IndexStmt):
        return str(stmt.idxname)
    if isinstance(stmt, ast.CreateTableAsStmt) and stmt.into is not None:
        return str(stmt.into.rel.relname)
    if isinstance(stmt, ast.CreatePolicyStmt):
        return str(stmt.policy_name)
    if isinstance(stmt, ast.CreateTrigStmt):
        return str(stmt.trigname)
    if isinstance(stmt, ast.CompositeTypeStmt):
        return str(stmt.typevar.relname)
    if isinstance(stmt, ast.CreateFunctionStmt):
        return str(stmt.funcname[-1].sval)
    if isinstance(stmt, ast.VariableSetStmt):
        return str(stmt.name)
    if isinstance(stmt, ast.CreateSeqStmt | ast.AlterSeqStmt):
        return str(stmt.sequence.relname)
    if isinstance(stmt, ast.CreateDomainStmt):
        return str(stmt.domainname[-1].sval)
    if isinstance(stmt, ast.AlterDomainStmt):
        return str(stmt.typeName[-1].sval)
    return ""


def step(sql: str) -> str:
    stmts = parse_sql(sql)
    assert len(stmts) == 1, sql
    node = stmts[0].stmt
    return f"{type(node).__name__} {_name(node)}".strip()


def _db_from(make_db: Callable[[], DatabaseURL], text: str | None) -> DatabaseURL:
    db = make_db()
    if text:
        server.load_ddl(db, compiler.compile_schema(loader.loads(text)))
    return db


def _columns(db: DatabaseURL, table: str) -> list[str]:
    """The table's columns in PostgreSQL's order (the snapshot's lines are sorted)."""
    rows = sql(
        db,
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass("
        + psycopg2.extensions.QuotedString(table).getquoted().decode()
        + ") AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_kind_case(
    case: Path,
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    spec: dict[str, Any] = yaml.safe_load(case.read_text())
    after = tmp_path / "after.yaml"
    after.write_text(spec["after"])
    for text in spec.get("cluster_sql") or ():  # roles: on the server, before any database
        executor.run(dev_server, [text])
    live = _db_from(make_db, spec.get("before"))
    for text in spec.get("live_sql") or ():
        executor.run(live, [text])

    def plan() -> Result:
        return cli(
            "plan",
            "--schema",
            str(after),
            "--format",
            "json",
            "--no-lint",
            "--database-url",
            live.sqlalchemy,
            *dev_args(dev_server),
        )

    first = plan()
    requires = spec.get("requires")
    if requires and sql(dev_server, requires["sql"])[0][0] is not True:
        assert first.code == 1, first.text
        for line in requires["error"]:
            assert line in first.text, first.text
        return
    assert first.code == 2, first.text
    statements = json.loads(first.out)["statements"]
    got = [[step(s["sql"]), s["hazards"]] for s in statements]
    assert got == spec["steps"], "\n".join(s["sql"] for s in statements)

    executor.run(live, [s["sql"] for s in statements])
    second = plan()
    assert second.code == 0, second.text

    wanted = _db_from(make_db, spec["after"])
    assert snapshot(live) == snapshot(wanted)
    for table, columns in (spec.get("column_order") or {}).items():
        assert _columns(live, table) == columns

    # The round trip: what inspect reads back creates an equal database.
    inspected = cli("inspect", "--database-url", live.sqlalchemy)
    assert inspected.code == 0, inspected.text
    again = _db_from(make_db, inspected.out)
    assert snapshot(again) == snapshot(live)
    for key, value in (spec.get("inspected") or {}).items():
        assert yaml.safe_load(inspected.out).get(key) == value, inspected.out


@pytest.mark.parametrize("case", INVALID, ids=[f"{c.parent.name}/{c.stem}" for c in INVALID])
def test_kind_refuses(case: Path) -> None:
    spec: dict[str, Any] = yaml.safe_load(case.read_text())
    with pytest.raises(loader.SchemaValidationError) as exc:
        loader.loads(spec["invalid"], "s.yaml")
    assert str(exc.value).splitlines() == [f"s.yaml:{e}" for e in spec["errors"]]
