"""--target-schema: the whole YAML planned into one tenant schema, nothing in public."""

from __future__ import annotations

import json

from conftest import dev_args, sql

from bindu_schema import executor

TENANT = "did_bindu_example"


def test_plan_into_tenant_schema_then_clean(cli, make_db, dev_server):
    db = make_db()
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server), "--target-schema", TENANT]
    first = cli("plan", "--format", "json", *args)
    assert first.code == 2, first.text
    stmts = [s["sql"] for s in json.loads(first.out)["statements"]]
    assert any(f'create table "{TENANT}"."tasks"' in s for s in stmts)
    assert not any('"public".' in s for s in stmts)
    executor.run(db, [f"CREATE SCHEMA {TENANT}"])
    executor.run(db, stmts)
    again = cli("plan", *args)
    assert again.code == 0, again.text
    public = sql(
        db,
        "select count(*) from pg_class c join pg_namespace n on n.oid = "
        "c.relnamespace where n.nspname = 'public'",
    )
    assert public == [(0,)]
    # The trigger works inside the tenant schema (function resolved there).
    sql(
        db,
        f"""
        insert into {TENANT}.contexts (id) values ('00000000-0000-0000-0000-000000000001');
        update {TENANT}.contexts set owner_did = 'x';
    """,
    )
    # Planning public against the same database sees nothing of the tenant.
    public_plan = cli(
        "plan", "--format", "json", "--database-url", db.sqlalchemy, *dev_args(dev_server)
    )
    assert public_plan.code == 2
    assert not any(TENANT in s["sql"] for s in json.loads(public_plan.out)["statements"])
