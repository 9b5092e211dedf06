"""Staged tenant rollouts against real PostgreSQL (issue 19 item 2): a failing canary stops
the rollout, --max-failures stops launching new tenants, --order list keeps the given
order, --order size runs the smallest first, --dry-run changes nothing, and running again
resumes. The report is read as data (--format json, docs/tenant-rollout.schema.json)."""

from __future__ import annotations

import json

import jsonschema
from conftest import ROOT, dev_args, sql

SCHEMA = json.loads((ROOT / "docs" / "tenant-rollout.schema.json").read_text())
BROKEN = "did_b_broken"  # unversioned, with a tasks table whose conversion would delete data
GOOD = ("did_a", "did_c", "did_d")


def tenants_db(make_db):
    db = make_db()
    for name in GOOD:
        sql(db, f"create schema {name}")  # empty: migrated from nothing
    sql(db, f"create schema {BROKEN}; create table {BROKEN}.tasks (legacy integer)")
    sql(db, f"insert into {BROKEN}.tasks values (1)")
    return db


def versioned(db, name: str) -> bool:
    q = f"select 1 from pg_tables where schemaname = '{name}' and tablename = 'alembic_version'"
    return bool(sql(db, q))


def rollout(cli, db, dev, order: tuple[str, ...], *extra: str):
    r = cli("apply", "--schema-list", ",".join(order), "--order", "list", "--format", "json",
            "--database-url", db.sqlalchemy, *dev_args(dev), *extra)  # fmt: skip
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    return r.code, [(t["schema"], t["status"]) for t in doc["tenants"]]


def test_a_failing_canary_stops_the_rollout_and_a_rerun_resumes(cli, make_db, dev_server):
    db = tenants_db(make_db)
    order = (BROKEN, *GOOD)
    code, seen = rollout(cli, db, dev_server, order, "--canary", "1")
    assert code == 1
    assert seen == [(BROKEN, "FAILED")] + [(n, "SKIPPED") for n in GOOD]
    assert not any(versioned(db, n) for n in order)  # nothing after the canary ran
    assert sql(db, f"select legacy from {BROKEN}.tasks") == [(1,)]

    sql(db, f"drop table {BROKEN}.tasks")  # the operator fixes the canary, runs again
    code, seen = rollout(cli, db, dev_server, order, "--canary", "1")
    assert code == 0, seen
    assert seen == [(n, "MIGRATED") for n in order]
    assert all(versioned(db, n) for n in order)


def test_max_failures_stops_launching_new_tenants(cli, make_db, dev_server):
    db = tenants_db(make_db)
    order = ("did_a", BROKEN, "did_c", "did_d")
    code, seen = rollout(cli, db, dev_server, order, "--jobs", "1", "--max-failures", "1")
    assert code == 1
    assert seen == [("did_a", "MIGRATED"), (BROKEN, "FAILED"), ("did_c", "SKIPPED"),
                    ("did_d", "SKIPPED")]  # fmt: skip
    assert versioned(db, "did_a") and not versioned(db, "did_c")


def test_dry_run_lists_the_order_and_changes_nothing(cli, make_db, dev_server):
    db = tenants_db(make_db)
    r = cli("apply", "--schema-list", f"did_d,{BROKEN},did_a", "--order", "list", "--dry-run",
            "--canary", "1", "--database-url", db.sqlalchemy, *dev_args(dev_server))  # fmt: skip
    assert r.code == 0, r.text
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["1.", "did_d", "[canary]:"]
    assert lines[1].startswith(f"   2. {BROKEN}: convert (unversioned, 1 tables)")
    assert lines[2].startswith("   3. did_a: migrate (empty)")
    assert "nothing changed" in lines[-1]
    assert not any(versioned(db, n) for n in (*GOOD, BROKEN))


def test_order_size_runs_the_smallest_tenants_first(cli, make_db, dev_server):
    db = make_db()
    rows = {"did_big": 20000, "did_empty": 0, "did_small": 10, "did_mid": 2000}
    for name, n in rows.items():
        sql(db, f"create schema {name}; create table {name}.filler (x text)")
        sql(db, f"insert into {name}.filler select repeat('x', 100) from generate_series(1, {n})")
    r = cli("apply", "--schema-list", ",".join(rows), "--order", "size", "--dry-run",
            "--canary", "1", "--database-url", db.sqlalchemy, *dev_args(dev_server))  # fmt: skip
    assert r.code == 0, r.text
    seen = [line.split()[1].rstrip(":") for line in r.out.splitlines()[:-1]]
    assert seen == ["did_empty", "did_small", "did_mid", "did_big"]
    assert "[canary]" in r.out.splitlines()[0]  # the canary is the cheapest tenant


def test_states_reads_a_fleet_in_a_few_queries_and_agrees_with_state(make_db):
    from bindu_schema import ensure_tenant, tenants

    db = tenants_db(make_db)
    at_head = ensure_tenant(db.sqlalchemy, "did:at-head")
    names = [*GOOD, BROKEN, at_head, "did_missing"]
    many = tenants.states(db, names, chunk=1)  # one union per versioned schema: still exact
    assert many == {n: tenants.state(db, n) for n in names}
    assert many[at_head].versioned and many[at_head].heads
    assert many[BROKEN].tables == 1 and not many["did_missing"].exists


def test_a_canary_that_drifts_after_its_upgrade_stops_the_rollout(cli, make_db, dev_server):
    db = make_db()
    # an extra sequence: not a table, so did_a is migrated from nothing, and then drifts
    sql(db, "create schema did_a; create sequence did_a.extra_seq; create schema did_c")
    code, seen = rollout(cli, db, dev_server, ("did_a", "did_c"), "--canary", "1")
    assert code == 1
    assert seen == [("did_a", "FAILED"), ("did_c", "SKIPPED")]
    assert versioned(db, "did_a") and not versioned(db, "did_c")


def test_the_failure_budget_can_end_inside_the_canary(cli, make_db, dev_server):
    db = tenants_db(make_db)
    order = (BROKEN, "did_a", "did_c")
    code, seen = rollout(cli, db, dev_server, order, "--canary", "2", "--jobs", "1",
                         "--max-failures", "1")  # fmt: skip
    assert code == 1
    assert seen == [(BROKEN, "FAILED"), ("did_a", "SKIPPED"), ("did_c", "SKIPPED")]
    assert not any(versioned(db, n) for n in order)
