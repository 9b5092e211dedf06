"""The fleet's drift check by catalog fingerprint (issue 19 item 1), against real PostgreSQL.

The fingerprint of a tenant equals head's exactly when its catalog does: each mutation of
tests/cases/fingerprint/mutations.yaml is made to a tenant at head, and the fingerprint's
verdict must agree with pg_dump --schema-only's (the schema's name aside). In a rollout, a
tenant whose fingerprint equals head's gets no full comparison (its report says
drift_check "fingerprint"); a hand-made drift is found by the full comparison."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import ROOT, dev_args, sql

from bindu_schema import ensure_tenant, fingerprint, fleet, pgtools

CASES = yaml.safe_load((ROOT / "tests" / "cases" / "fingerprint" / "mutations.yaml").read_text())
ROLLOUT_SCHEMA = json.loads((ROOT / "docs" / "tenant-rollout.schema.json").read_text())


def dump(db, schema: str) -> str:
    """What pg_dump says the schema is, its name replaced (test code: a text compare)."""
    return pgtools.dump_identity(pgtools.dump_schema(db, schema)).replace(schema, "S")


@pytest.fixture(scope="module")
def mutated(dev_server):
    """One database: a reference tenant at head and one tenant per case, mutated."""
    from conftest import TEST_DB_PREFIX

    from bindu_schema import server

    name = TEST_DB_PREFIX + "fingerprint"
    admin = server.connect(dev_server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    db = dev_server.with_database(name)
    reference = ensure_tenant(db.sqlalchemy, "did:fp:reference")
    schemas = {}
    for n, case in enumerate(CASES):
        schema = ensure_tenant(db.sqlalchemy, f"did:fp:{n:02d}")
        sql(db, case["sql"].replace("S.", f"{schema}."))
        schemas[case["name"]] = schema
    yield db, reference, schemas
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_the_fingerprint_ignores_the_schema_name(mutated, dev_server):
    db, reference, _ = mutated
    ref = fleet.head_reference(ROOT / "schema" / "bindu.yaml", dev_server, ROOT / "alembic.ini")
    assert ref.drift == ()  # head equals the YAML
    # head built in a scratch schema of another name, a tenant made by ensure_tenant: equal
    assert fingerprint.of_schemas(db, [reference]) == {reference: ref.fingerprint}
    assert fingerprint.of_schemas(db, ["did_fp_missing"]) == {}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fingerprint_equal_exactly_when_the_catalog_is(mutated, case):
    db, reference, schemas = mutated
    schema = schemas[case["name"]]
    fps = fingerprint.of_schemas(db, [reference, schema])  # both in one query
    catalog_equal = dump(db, schema) == dump(db, reference)
    assert catalog_equal == case.get("same", False), "the case's own premise"
    assert (fps[schema] == fps[reference]) == catalog_equal, fingerprint.lines(db, schema)


@pytest.mark.acceptance
def test_rollout_checks_drift_by_fingerprint_and_finds_hand_made_drift(cli, make_db, dev_server):
    db = make_db()
    clean = [ensure_tenant(db.sqlalchemy, f"did:clean:{n}") for n in range(3)]
    extra_column = ensure_tenant(db.sqlalchemy, "did:drift:column")
    dropped_index = ensure_tenant(db.sqlalchemy, "did:drift:index")
    sql(db, f"alter table {extra_column}.tasks add column priority integer")
    sql(db, f"drop index {dropped_index}.idx_tasks_state")
    r = cli("apply", "--all-tenants", "--format", "json", "--database-url", db.sqlalchemy,
            *dev_args(dev_server))  # fmt: skip
    assert r.code == 1, r.text
    doc = json.loads(r.out)
    jsonschema.validate(doc, ROLLOUT_SCHEMA)
    by = {t["schema"]: t for t in doc["tenants"]}
    for name in clean:
        assert (by[name]["status"], by[name]["drift_check"]) == ("CURRENT", "fingerprint")
        assert by[name]["drift"] == []
    assert doc["drift_checks"] == {"fingerprint": 3, "full": 2}
    column = by[extra_column]
    assert (column["status"], column["drift_check"]) == ("FAILED", "full")
    assert any("priority" in s for s in column["drift"]), column
    index = by[dropped_index]
    assert (index["status"], index["drift_check"]) == ("FAILED", "full")
    assert any("idx_tasks_state" in s for s in index["drift"]), index

    # `tenants` reads drift the same way: the drifted two, and only they
    listing = cli("tenants", "--format", "json", "--database-url", db.sqlalchemy,
                  *dev_args(dev_server))  # fmt: skip
    assert listing.code == 0, listing.text
    drifted = {t["schema"] for t in json.loads(listing.out)["tenants"] if t["drift"]}
    assert drifted == {extra_column, dropped_index}
