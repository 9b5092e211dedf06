"""Legal but odd identifiers end to end, and the trigger-name injection of issue 12.

A trigger named `x" on t; DELETE FROM v; --` once became, through schemainspect's unescaped
`drop trigger if exists "{}" on ...`, a statement that emptied table v on
`alembic downgrade -1`. Now every statement is parsed (statements.py) and schemainspect's
drop is re-emitted quoted, so the same YAML (plus names with quotes, semicolons, spaces,
unicode, reserved words and 62 bytes) plans, writes, upgrades and downgrades with v's rows
intact. Real PostgreSQL; the cases are data in tests/cases/odd_names/."""

from __future__ import annotations

import json

import pytest
from alembic_project import alembic, make_project, ok, project_args, revision_in, versions
from conftest import ROOT, plan_json, sql

from bindu_schema import differ, executor, loader

CASE = ROOT / "tests" / "cases" / "odd_names"
TRIGGER = 'x" on t; DELETE FROM v; --'
ODD_TABLE = 'odd "name"; DROP TABLE v; --'


def v_rows(db) -> int:
    return int(sql(db, "select count(*) from v")[0][0])


def triggers(db) -> set[str]:
    return {str(r[0]) for r in sql(db, "select tgname from pg_trigger where not tgisinternal")}


@pytest.mark.acceptance
def test_odd_names_through_revisions_upgrade_and_downgrade(tmp_path, cli, make_db, dev_server):
    proj = make_project(tmp_path, (CASE / "before.yaml").read_text())
    ok(revision_in(cli, proj, dev_server, "odd names"))
    db = make_db()
    ok(alembic(proj, "upgrade", "head", url=db))
    assert triggers(db) == {TRIGGER, 'trg "odd"'}
    sql(db, "insert into v values (1), (2), (3)")
    sql(db, f'insert into "{ODD_TABLE.replace(chr(34), chr(34) * 2)}" ("select") values (7)')

    (proj / "schema" / "bindu.yaml").write_text((CASE / "after.yaml").read_text())
    ok(revision_in(cli, proj, dev_server, "drop the odd trigger and index"))
    text = "".join(v.read_text() for v in versions(proj)[1:])
    assert 'drop trigger if exists "x"" on t; DELETE FROM v; --" on "t"' in text

    ok(alembic(proj, "upgrade", "head", url=db))
    assert v_rows(db) == 3 and triggers(db) == set()
    steps = str(len(versions(proj)) - 1)  # the change may be split in parts (resumable.py)
    ok(alembic(proj, "downgrade", f"-{steps}", url=db))
    assert v_rows(db) == 3 and triggers(db) == {TRIGGER, 'trg "odd"'}
    ok(alembic(proj, "upgrade", "head", url=db))
    assert v_rows(db) == 3
    schema = loader.load(proj / "schema" / "bindu.yaml")
    at_head = make_db()
    ok(alembic(proj, "upgrade", "head", url=at_head))
    assert differ.diff(db, at_head, schema.exclude) == []


def test_odd_names_plan_drops_the_trigger_as_one_statement(cli, make_db, dev_server):
    """plan against a database built from before.yaml: one quoted DROP TRIGGER, and
    applying the plan's statements leaves v's rows."""
    db = make_db()
    r = plan_json(cli, CASE / "before.yaml", db, dev_server, "--no-lint")
    assert r.code == 2, r.text
    executor.run(db, [s["sql"] for s in json.loads(r.out)["statements"]])
    sql(db, "insert into v values (1), (2)")
    r = plan_json(cli, CASE / "after.yaml", db, dev_server, "--no-lint")
    assert r.code == 2, r.text
    drops = [s for s in json.loads(r.out)["statements"] if "drop trigger" in s["sql"].lower()]
    assert sorted(d["sql"] for d in drops) == [
        'drop trigger if exists "trg ""odd""" on "public"."odd ""name""; DROP TABLE v; --";',
        'drop trigger if exists "x"" on t; DELETE FROM v; --" on "public"."t";',
    ]
    executor.run(db, [s["sql"] for s in json.loads(r.out)["statements"]])
    assert v_rows(db) == 2 and triggers(db) == set()


def _unescaped_trigger_drops(monkeypatch) -> None:
    """Put schemainspect's old, unescaped trigger drop back (after differ installed the
    quoted one)."""
    from schemainspect.pg import obj

    from bindu_schema import differ as d

    d._import_migra()
    monkeypatch.setattr(
        obj.InspectedTrigger,
        "drop_statement",
        property(
            lambda self: (
                f'drop trigger if exists "{self.name}" on "{self.schema}"."{self.table_name}";'
            )
        ),
    )


def test_an_unparseable_migra_statement_stops_the_plan(cli, make_db, dev_server, monkeypatch):
    """Defence in depth: were schemainspect's drop still unescaped, the plan would stop with
    exit 1 and run nothing, instead of carrying the injected DELETE."""
    db = make_db()
    r = plan_json(cli, CASE / "before.yaml", db, dev_server, "--no-lint")
    executor.run(db, [s["sql"] for s in json.loads(r.out)["statements"]])
    _unescaped_trigger_drops(monkeypatch)
    sql(db, "insert into v values (1), (2)")
    r = cli(
        "plan",
        "--schema",
        str(CASE / "after.yaml"),
        "--database-url",
        db.sqlalchemy,
        "--dev-url",
        dev_server.sqlalchemy,
        "--no-lint",
    )
    assert r.code == 1, r.text
    assert "not exactly one statement" in r.err and "Traceback" not in r.err
    assert v_rows(db) == 2


def test_an_unparseable_migra_statement_stops_revision_and_check(
    tmp_path, cli, make_db, dev_server, monkeypatch
):
    """The same defence for `revision` (no file written) and `check` (exit 1, the reason
    named, no traceback)."""
    proj = make_project(tmp_path, (CASE / "before.yaml").read_text())
    ok(revision_in(cli, proj, dev_server, "odd names"))
    before = versions(proj)
    (proj / "schema" / "bindu.yaml").write_text((CASE / "after.yaml").read_text())
    _unescaped_trigger_drops(monkeypatch)
    r = revision_in(cli, proj, dev_server, "drop the odd trigger")
    assert r.code == 1, r.text
    assert "not exactly one statement" in r.err and "Traceback" not in r.err
    assert versions(proj) == before
    r = cli("check", *project_args(proj, None, dev_server))
    assert r.code == 1, r.text
    assert "not exactly one statement" in r.text and "Traceback" not in r.text
