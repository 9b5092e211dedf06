"""Tenants (issue 14, item 6): system schemas and public are never tenants whatever the
pattern, and a role without USAGE on a tenant schema gets a message naming the privilege,
not a traceback."""

from __future__ import annotations

import uuid

from conftest import dev_args, sql

from bindu_schema import ensure_tenant, tenants


def test_system_schemas_and_public_are_never_tenants(cli, make_db, dev_server):
    db = make_db()
    a = ensure_tenant(db.sqlalchemy, "did:sys")
    found = tenants.find(db, ["%"])
    assert found == [a]
    r = cli("tenants", "--pattern", "%", "--database-url", db.sqlalchemy, "--no-drift")
    assert r.code == 0, r.text
    for system in ("pg_catalog", "pg_toast", "information_schema", "public"):
        assert system not in r.out, r.out
    assert a in r.out
    r = cli("tenants", "--schema-list", "information_schema", "--database-url", db.sqlalchemy)
    assert r.code == 1 and "not a tenant schema" in r.err, r.text
    r = cli(
        "apply",
        "--all-tenants",
        "--pattern",
        "%",
        "--database-url",
        db.sqlalchemy,
        *dev_args(dev_server),
    )
    assert "information_schema" not in r.text and "pg_catalog" not in r.text, r.text
    converted = (
        "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version' "
        "AND schemaname IN ('information_schema', 'public')"
    )
    assert sql(db, converted) == [(0,)]


def test_tenant_without_usage_is_a_message(cli_proc, make_db, dev_server):
    db = make_db()
    a = ensure_tenant(db.sqlalchemy, "did:nousage")
    role = "bindu_test_nousage_" + uuid.uuid4().hex[:6]
    sql(db, f"CREATE ROLE {role} LOGIN")
    try:
        url = db.url.set(username=role).render_as_string(hide_password=False)
        for extra in (["--no-drift"], dev_args(dev_server)):
            r = cli_proc("tenants", "--database-url", url, *extra)
            assert "Traceback" not in r.text, r.text
            assert r.code == 1, r.text  # a row that could not be read is an error
            assert f"USAGE ON SCHEMA {a}" in r.text or "permission denied" in r.text, r.text
            assert a in r.out or a in r.err
    finally:
        sql(db, f"DROP OWNED BY {role}; DROP ROLE {role}")
