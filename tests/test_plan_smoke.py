"""Plan against an empty database, apply its DDL, plan again: nothing left to do."""

from __future__ import annotations

import json

from conftest import dev_args, scratch_databases, sql

from bindu_schema import executor


def test_empty_database_then_applied_plan_is_clean(cli, make_db, dev_server):
    db = make_db()
    first = cli("plan", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert first.code == 2, first.text
    assert 'create table "public"."tasks"' in first.out
    assert "COMMENT ON TABLE" in first.out
    as_json = cli(
        "plan", "--format", "json", "--database-url", db.sqlalchemy, *dev_args(dev_server)
    )
    statements = [s["sql"] for s in json.loads(as_json.out)["statements"]]
    executor.run(db, statements)
    second = cli("plan", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert second.code == 0, second.text
    assert "No changes" in second.out
    assert scratch_databases(dev_server) == []
    assert sql(db, "select count(*) from pg_trigger where not tgisinternal")[0][0] == 3
