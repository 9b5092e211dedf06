"""Grants against real PostgreSQL, beyond the kinds cases (tests/cases/kinds/grants/):
adopting a database never revokes what the YAML does not mention, a missing role stops
the plan naming it, the catalog comparison sees privileges and owners, the downgrade
takes back what the upgrade granted, and the same grants reach every tenant schema."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from alembic_project import alembic, make_project, project_args, revision_in, versions
from conftest import dev_args, plan_json, sql
from pgcatalog import snapshot

from bindu_schema import ensure_tenant, loader, plan
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

YAML = """\
version: 1
tables:
  tasks:
    columns: {{id: {{type: integer}}}}
  notes:
    columns: {{id: {{type: integer}}}}
grants:
  tables:
    tasks:
      roles: {{{rw}: [select, insert]}}
"""


@pytest.fixture
def roles(dev_server: DatabaseURL) -> tuple[str, str]:
    """Two roles for these tests. Roles are cluster-wide and outlive a test: the cached
    desired databases (server.py's templates) hold grants to them, so they are created
    when missing and left, like the kinds cases' roles."""
    names = ("bindu_test_grants_rw", "bindu_test_grants_other")
    for name in names:
        sql(
            dev_server,
            f"DO $$ BEGIN CREATE ROLE {name} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
    return names


def privileges(db: DatabaseURL, schema: str = "public") -> set[tuple[str, str, str]]:
    """(table, role, privilege) of every grant in the schema, the owners' own left out."""
    rows = sql(
        db,
        "SELECT c.relname, pg_get_userbyid(a.grantee), a.privilege_type FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL aclexplode(c.relacl) a "
        f"WHERE n.nspname = '{schema}' AND a.grantee <> c.relowner",
    )
    return {(str(t), str(r), str(p)) for t, r, p in rows}


def test_adopting_revokes_nothing_unmentioned(cli, roles, make_db, dev_server, tmp_path):
    """A live database with privileges the YAML does not list (another role on tasks, a
    role on a table without grants:): the plan only adds the declared grant."""
    rw, other = roles
    db = make_db()
    sql(
        db,
        "CREATE TABLE tasks (id integer); CREATE TABLE notes (id integer); "
        f"GRANT SELECT, UPDATE ON tasks TO {other}; GRANT ALL ON notes TO {other}; "
        f"GRANT SELECT ON tasks TO {rw}",
    )
    before = privileges(db)
    schema = tmp_path / "s.yaml"
    schema.write_text(YAML.format(rw=rw))
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == 2, r.text
    doc = json.loads(r.out)
    up = [s["sql"] for s in doc["statements"]]
    assert up == [f"GRANT INSERT ON TABLE public.tasks TO {rw};"]
    assert doc["statements"][0]["hazards"] == ["PRIVILEGE_CHANGE"]
    assert doc["summary"]["grant"]["create"] == 1, doc["summary"]
    # the downgrade takes back exactly what the upgrade granted
    p = plan.build(loader.loads(schema.read_text()), db, dev_server, run_lint=False)
    assert [s.sql for s in p.downgrade] == [f"REVOKE INSERT ON TABLE public.tasks FROM {rw};"]
    md = cli("plan", "--schema", str(schema), "--database-url", db.sqlalchemy, "--no-lint",
             *dev_args(dev_server))  # fmt: skip
    assert md.code == 2 and "PRIVILEGE_CHANGE" in md.out, md.text
    sql(db, up[0])  # what apply would run
    assert privileges(db) == before | {("tasks", rw, "INSERT")}
    assert plan_json(cli, schema, db, dev_server, "--no-lint").code == 0


def test_manage_grants_revokes_the_unlisted(cli, roles, make_db, dev_server, tmp_path):
    rw, other = roles
    db = make_db()
    sql(
        db,
        "CREATE TABLE tasks (id integer); CREATE TABLE notes (id integer); "
        f"GRANT SELECT, UPDATE ON tasks TO {other}; GRANT SELECT ON notes TO {other}; "
        f"GRANT SELECT, INSERT ON tasks TO {rw}",
    )
    schema = tmp_path / "s.yaml"
    schema.write_text(
        YAML.format(rw=rw).replace("    tasks:\n", "    tasks:\n      manage_grants: true\n")
    )
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == 2, r.text
    up = [s["sql"] for s in json.loads(r.out)["statements"]]
    assert up == [f"REVOKE SELECT, UPDATE ON TABLE public.tasks FROM {other};"]
    sql(db, up[0])
    # notes is not managed: its grant stays
    assert privileges(db) == {
        ("tasks", rw, "SELECT"),
        ("tasks", rw, "INSERT"),
        ("notes", other, "SELECT"),
    }


def test_missing_role_is_named(cli, make_db, dev_server, tmp_path):
    db = make_db()
    sql(db, "CREATE TABLE tasks (id integer); CREATE TABLE notes (id integer)")
    before = snapshot(db)
    missing = "bindu_test_nobody_" + uuid.uuid4().hex[:8]
    schema = tmp_path / "s.yaml"
    schema.write_text(YAML.format(rw=missing))
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == 1, r.text
    assert "Traceback" not in r.text and r.out == ""
    assert (
        f"grants/tables/tasks/roles/{missing}: role '{missing}' does not exist in the database"
        in r.err
    ), r.err
    assert "roles are not managed by bindu-schema" in r.err
    assert snapshot(db) == before


def test_catalog_snapshot_sees_privileges_and_owners(roles, make_db):
    """The kinds cases' equality (pgcatalog.snapshot) tells databases apart by grants."""
    rw, other = roles
    a, b = make_db(), make_db()
    for db in (a, b):
        sql(
            db,
            "CREATE TABLE tasks (id integer); "
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
        )
    assert snapshot(a) == snapshot(b)
    sql(a, f"GRANT SELECT ON tasks TO {rw}")
    assert snapshot(a) != snapshot(b)
    sql(b, f"GRANT SELECT ON tasks TO {other}")
    assert snapshot(a) != snapshot(b)
    sql(b, f"REVOKE SELECT ON tasks FROM {other}; GRANT SELECT ON tasks TO {rw}")
    assert snapshot(a) == snapshot(b)
    sql(a, "REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC")
    assert snapshot(a) != snapshot(b)
    sql(b, "REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC")
    assert snapshot(a) == snapshot(b)
    sql(a, f"ALTER TABLE tasks OWNER TO {other}")
    assert snapshot(a) != snapshot(b)
    sql(a, "ALTER TABLE tasks OWNER TO CURRENT_USER")
    assert snapshot(a) == snapshot(b)


def test_every_tenant_gets_the_grants(cli, roles, make_db, dev_server, tmp_path: Path):
    """A revision with grants is schema-agnostic: each tenant schema gets them, and a
    later grant reaches every tenant through apply --all-tenants."""
    rw, other = roles
    proj = make_project(tmp_path, YAML.format(rw=rw))
    r = revision_in(cli, proj, dev_server, "base")
    assert r.code == 0, r.text
    text = versions(proj)[-1].read_text()
    assert f"GRANT INSERT, SELECT ON TABLE tasks TO {rw}" in text, text
    ini = proj / "alembic.ini"
    db = make_db()
    names = [ensure_tenant(db.sqlalchemy, f"did:bindu:grants-{n}", ini=ini) for n in range(2)]
    for name in names:
        assert privileges(db, name) == {("tasks", rw, "SELECT"), ("tasks", rw, "INSERT")}

    changed = YAML.format(rw=rw) + f"    notes:\n      roles: {{{other}: [select]}}\n"
    (proj / "schema" / "bindu.yaml").write_text(changed)
    r = revision_in(cli, proj, dev_server, "notes readable")
    assert r.code == 0, r.text
    r = cli("apply", "--all-tenants", *project_args(proj, db, dev_server))
    assert r.code == 0, r.text
    for name in names:
        assert privileges(db, name) == {
            ("tasks", rw, "SELECT"),
            ("tasks", rw, "INSERT"),
            ("notes", other, "SELECT"),
        }, name
    listing = cli("tenants", "--format", "json", *project_args(proj, db, dev_server))
    assert listing.code == 0, listing.text
    for t in json.loads(listing.out)["tenants"]:
        assert (t["at_head"], t["drift"], t["error"]) == (True, False, None), t
    # a tenant whose grant was revoked by hand shows drift (the plan compares grants)
    sql(db, f"REVOKE SELECT ON {names[0]}.notes FROM {other}")
    r = cli("plan", "--target-schema", names[0], "--no-lint", "--format", "json",
            "--schema", str(proj / "schema" / "bindu.yaml"), "--database-url", db.sqlalchemy,
            *dev_args(dev_server))  # fmt: skip
    assert r.code == 2, r.text
    assert [s["sql"] for s in json.loads(r.out)["statements"]] == [
        f"GRANT SELECT ON TABLE {names[0]}.notes TO {other};"
    ]
    listing = cli("tenants", "--format", "json", *project_args(proj, db, dev_server))
    drift = {t["schema"]: t["drift"] for t in json.loads(listing.out)["tenants"]}
    assert drift == {names[0]: True, names[1]: False}
    # and `check` says so for that tenant only
    good = cli("check", "--target-schema", names[1], *project_args(proj, db, dev_server))
    assert good.code == 0, good.text
    bad = cli("check", "--target-schema", names[0], *project_args(proj, db, dev_server))
    assert bad.code == 1 and f"GRANT SELECT ON TABLE {names[0]}.notes" in bad.out, bad.text


# ------------------------------------------------------------------ schema privileges

SCHEMA_YAML = """\
version: 1
tables:
  tasks:
    columns: {{id: {{type: integer}}}}
grants:
  schema:
    roles: {{{roles}}}
"""


def schema_privileges(db: DatabaseURL, schema: str = "public") -> set[tuple[str, str]]:
    """(role, privilege) of the schema's ACL, the owner's own left out."""
    rows = sql(
        db,
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, "
        "a.privilege_type FROM pg_namespace n "
        "CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a "
        f"WHERE n.nspname = '{schema}' AND a.grantee <> n.nspowner",
    )
    return {(str(r), str(p)) for r, p in rows}


def test_schema_privileges_plan(cli, roles, make_db, dev_server, tmp_path):
    """The plan names its target schema (GRANT ... ON SCHEMA public), in its own summary
    row with PRIVILEGE_CHANGE; the downgrade takes it back; public's USAGE for PUBLIC,
    which the file does not list, stays."""
    rw, other = roles
    db = make_db()
    sql(db, "CREATE TABLE tasks (id integer)")
    before = schema_privileges(db)
    assert ("PUBLIC", "USAGE") in before
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA_YAML.format(roles=f"{rw}: [usage, create], {other}: [usage]"))
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == 2, r.text
    doc = json.loads(r.out)
    up = [s["sql"] for s in doc["statements"]]
    assert up == [
        f"GRANT USAGE ON SCHEMA public TO {other};",
        f"GRANT CREATE, USAGE ON SCHEMA public TO {rw};",
    ]
    assert all(s["hazards"] == ["PRIVILEGE_CHANGE"] for s in doc["statements"])
    assert doc["summary"]["schema privilege"]["create"] == 2, doc["summary"]
    md = cli("plan", "--format", "markdown", "--schema", str(schema), "--database-url",
             db.sqlalchemy, "--no-lint", *dev_args(dev_server))  # fmt: skip
    assert md.code == 2 and "schema privilege" in md.out and "PRIVILEGE_CHANGE" in md.out, md.out
    p = plan.build(loader.loads(schema.read_text()), db, dev_server, run_lint=False)
    assert [s.sql for s in p.downgrade] == [
        f"REVOKE USAGE ON SCHEMA public FROM {other};",
        f"REVOKE CREATE, USAGE ON SCHEMA public FROM {rw};",
    ]
    sql(db, "; ".join(up))
    assert schema_privileges(db) == before | {(rw, "USAGE"), (rw, "CREATE"), (other, "USAGE")}
    assert plan_json(cli, schema, db, dev_server, "--no-lint").code == 0
    # a hand-made change to a listed role is drift the plan repairs
    sql(db, f"REVOKE CREATE ON SCHEMA public FROM {rw}")
    again = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert [s["sql"] for s in json.loads(again.out)["statements"]] == [
        f"GRANT CREATE ON SCHEMA public TO {rw};"
    ], again.text


def test_missing_schema_role_is_named(cli, make_db, dev_server, tmp_path):
    db = make_db()
    sql(db, "CREATE TABLE tasks (id integer)")
    before = snapshot(db)
    missing = "bindu_test_nobody_" + uuid.uuid4().hex[:8]
    schema = tmp_path / "s.yaml"
    schema.write_text(SCHEMA_YAML.format(roles=f"{missing}: [usage]"))
    r = plan_json(cli, schema, db, dev_server, "--no-lint")
    assert r.code == 1 and "Traceback" not in r.text and r.out == "", r.text
    assert f"grants/schema/roles/{missing}: role '{missing}' does not exist" in r.err, r.err
    assert snapshot(db) == before


HOSTILE_ROLES = ('x" ; DELETE FROM tasks; --', "b'$grant$ END$grant$; DROP TABLE tasks; --")


def test_schema_privilege_block_is_one_statement(make_db, dev_server):
    """The DO block of a hostile role name is one DoStmt (pglast), reads back as exactly
    that grant, and run in a tenant's search_path grants on that schema to that role
    alone: nothing of the name runs."""
    from pglast import ast, parse_sql

    from bindu_schema.kinds import grants

    for name in HOSTILE_ROLES:
        quoted = name.replace('"', '""')
        sql(
            dev_server,
            f'DO $$ BEGIN CREATE ROLE "{quoted}" NOLOGIN; '
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
    db = make_db()
    sql(db, "CREATE SCHEMA t1; CREATE TABLE t1.tasks (id integer); INSERT INTO t1.tasks VALUES (1)")
    for name in HOSTILE_ROLES:
        block = grants.schema_block("GRANT", ["usage"], name)
        stmts = parse_sql(block)
        assert len(stmts) == 1 and isinstance(stmts[0].stmt, ast.DoStmt), block
        assert grants.read_schema_block(block) == grants.SchemaGrant(True, ("usage",), name, None)
        sql(db, f"SET search_path = t1; {block}")
    assert schema_privileges(db, "t1") == {(n, "USAGE") for n in HOSTILE_ROLES}
    assert sql(db, "SELECT count(*) FROM t1.tasks") == [(1,)]
    # another DO block is not a schema privilege
    drop = "DO $$BEGIN EXECUTE format('DROP TABLE %I', current_schema()); END$$"
    assert grants.read_schema_block(drop) is None
    assert grants.read_schema_block("DO $$BEGIN PERFORM 1; END$$") is None


def test_snapshot_sees_schema_privileges(roles, make_db):
    rw, _ = roles
    a, b = make_db(), make_db()
    assert snapshot(a) == snapshot(b)
    sql(a, f"GRANT USAGE ON SCHEMA public TO {rw}")
    assert snapshot(a) != snapshot(b)
    sql(b, f"GRANT USAGE ON SCHEMA public TO {rw}")
    assert snapshot(a) == snapshot(b)
    sql(a, "REVOKE USAGE ON SCHEMA public FROM PUBLIC")
    assert snapshot(a) != snapshot(b)


def test_every_tenant_gets_the_schema_privileges(cli, roles, make_db, dev_server, tmp_path):
    """A revision's schema privilege is a DO block on the current schema: each tenant
    schema gets it on itself (not on public), a later change reaches every tenant through
    apply --all-tenants, `alembic downgrade` takes it back, and a tenant revoked by hand
    is drift for `tenants` and `check`."""
    rw, other = roles
    proj = make_project(tmp_path, SCHEMA_YAML.format(roles=f"{rw}: [usage]"))
    assert revision_in(cli, proj, dev_server, "base").code == 0
    text = versions(proj)[-1].read_text()
    assert "current_schema()" in text and "ON SCHEMA public" not in text, text
    ini = proj / "alembic.ini"
    db = make_db()
    public_before = schema_privileges(db)
    names = [ensure_tenant(db.sqlalchemy, f"did:bindu:sg-{n}", ini=ini) for n in range(2)]
    for name in names:
        assert schema_privileges(db, name) == {(rw, "USAGE")}, name
    assert schema_privileges(db) == public_before

    changed = SCHEMA_YAML.format(roles=f"{rw}: [usage, create], {other}: [usage]")
    (proj / "schema" / "bindu.yaml").write_text(changed)
    r = revision_in(cli, proj, dev_server, "schema writable")
    assert r.code == 0, r.text
    text = versions(proj)[-1].read_text()
    upgrade, downgrade = text.split("def downgrade", 1)
    assert upgrade.count("GRANT") == 2 and downgrade.count("REVOKE") == 2, text
    r = cli("apply", "--all-tenants", *project_args(proj, db, dev_server))
    assert r.code == 0, r.text
    want = {(rw, "USAGE"), (rw, "CREATE"), (other, "USAGE")}
    for name in names:
        assert schema_privileges(db, name) == want, name
    listing = cli("tenants", "--format", "json", *project_args(proj, db, dev_server))
    assert listing.code == 0, listing.text
    for t in json.loads(listing.out)["tenants"]:
        assert (t["at_head"], t["drift"], t["error"]) == (True, False, None), t
    good = cli("check", "--target-schema", names[1], *project_args(proj, db, dev_server))
    assert good.code == 0, good.text

    sql(db, f'REVOKE CREATE ON SCHEMA "{names[0]}" FROM {rw}')
    listing = cli("tenants", "--format", "json", *project_args(proj, db, dev_server))
    drift = {t["schema"]: t["drift"] for t in json.loads(listing.out)["tenants"]}
    assert drift == {names[0]: True, names[1]: False}
    bad = cli("check", "--target-schema", names[0], *project_args(proj, db, dev_server))
    assert bad.code == 1 and f"GRANT CREATE ON SCHEMA {names[0]} TO {rw}" in bad.out, bad.text
    # the plan for that tenant names it, and its rehearsal (on a restored copy of the
    # tenant schema, which has none of its privileges) passes
    r = cli("plan", "--target-schema", names[0], "--no-lint", "--format", "json",
            "--schema", str(proj / "schema" / "bindu.yaml"), "--database-url", db.sqlalchemy,
            *dev_args(dev_server))  # fmt: skip
    assert r.code == 2, r.text
    assert [s["sql"] for s in json.loads(r.out)["statements"]] == [
        f"GRANT CREATE ON SCHEMA {names[0]} TO {rw};"
    ]

    down = alembic(proj, "-x", f"tenant_schema={names[1]}", "downgrade", "-1", url=db)
    assert down.code == 0, down.text
    assert schema_privileges(db, names[1]) == {(rw, "USAGE")}


def test_overloads_with_different_grants_are_named_by_inspect(cli, roles, make_db):
    """Grants name a function (every overload); where a database grants its overloads
    differently, inspect writes the first overload's and says so."""
    db = make_db()
    sql(
        db,
        "CREATE FUNCTION twice(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1 * 2'; "
        "CREATE FUNCTION twice(text) RETURNS text LANGUAGE sql AS 'SELECT $1 || $1'; "
        f"GRANT EXECUTE ON FUNCTION twice(text) TO {roles[0]}",
    )
    r = cli("inspect", "--database-url", db.sqlalchemy)
    assert r.code == 0, r.text
    assert (
        "function twice: its overloads differ in owner or privileges, and grants name a "
        "function (every overload); written as those of twice(integer)"
    ) in r.err, r.err
    assert "grants" not in yaml_of(r.out)  # twice(integer)'s: PUBLIC's default only


def yaml_of(text: str) -> dict[str, object]:
    import yaml

    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data
