"""Views and materialized views in tenant schemas: one revision (schema-agnostic), applied
into two tenant schemas with `apply --target-schema`, builds in each a view, a materialized
view over it (with its index, comment and WITH NO DATA) and a view over that, all reading
the tenant's own tables (their queries bind through env.py's search_path), with their
options; `check` finds each tenant at head without drift.
docs/tenants.md, kinds/views.py, kinds/matviews.py."""

from __future__ import annotations

from alembic_project import make_project, project_args, revision_in, versions
from conftest import sql

SCHEMA = """\
version: 1
tables:
  tasks:
    columns: {id: {type: integer, nullable: false}, state: {type: text}, score: {type: integer}}
    primary_key: {columns: [id]}
views:
  open_tasks:
    query: SELECT id, state, score FROM tasks WHERE state <> 'completed'
    options: {security_barrier: true}
  busy_states:
    query: SELECT state FROM state_scores WHERE total > 10
materialized_views:
  state_scores:
    query: SELECT state, sum(score) AS total FROM open_tasks GROUP BY state
    comment: score per open state
    with_data: false
    indexes:
      state_scores_state: {columns: [state], unique: true}
"""
TENANTS = ("did_bindu_alice", "did_bindu_bob")


def test_views_and_materialized_views_resolve_in_each_tenant_schema(
    tmp_path, cli, make_db, dev_server
):
    proj = make_project(tmp_path, SCHEMA)
    r = revision_in(cli, proj, dev_server, "views")
    assert r.code == 0, r.text
    [revision] = versions(proj)
    assert '"public"' not in revision.read_text().split('"""', 2)[2]  # schema-agnostic

    db = make_db()
    for tenant in TENANTS:
        r = cli("apply", "--target-schema", tenant, *project_args(proj, db, dev_server))
        assert r.code == 0, r.text
    alice, bob = TENANTS
    sql(
        db,
        f"insert into {alice}.tasks values (1, 'working', 20), (2, 'completed', 50);"
        f"insert into {bob}.tasks values (1, 'queued', 5);"
        f"refresh materialized view {alice}.state_scores;"
        f"refresh materialized view {bob}.state_scores;",
    )
    # Each tenant's views read its own rows.
    assert sql(db, f"select state from {alice}.busy_states") == [("working",)]
    assert sql(db, f"select * from {bob}.state_scores") == [("queued", 5)]
    assert sql(db, f"select state from {bob}.busy_states") == []

    for tenant in TENANTS:
        # Every relation a view or materialized view reads is in the tenant's schema.
        read = sql(
            db,
            "select distinct v.relname, n.nspname from pg_rewrite w "
            "join pg_class v on v.oid = w.ev_class "
            "join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid "
            "join pg_class t on t.oid = d.refobjid and t.oid <> v.oid "
            "join pg_namespace n on n.oid = t.relnamespace "
            f"where v.relnamespace = '{tenant}'::regnamespace order by 1",
        )
        assert read == [
            ("busy_states", tenant),
            ("open_tasks", tenant),
            ("state_scores", tenant),
        ]
        assert sql(
            db,
            f"select reloptions from pg_class where oid = '{tenant}.open_tasks'::regclass",
        ) == [(["security_barrier=true"],)]
        assert sql(
            db,
            f"select obj_description('{tenant}.state_scores'::regclass, 'pg_class'), "
            f"(select count(*) from pg_index where indrelid = '{tenant}.state_scores'::regclass)",
        ) == [("score per open state", 1)]
        # at head, and no drift: the plan of the YAML into the tenant is empty
        clean = cli("check", "--target-schema", tenant, *project_args(proj, db, dev_server))
        assert clean.code == 0, clean.text
    # ... and the check sees a view's options (migra alone does not): drift once reset
    sql(db, f"alter view {alice}.open_tasks reset (security_barrier)")
    drift = cli("check", "--target-schema", alice, *project_args(proj, db, dev_server))
    assert drift.code == 1, drift.text
    assert "security_barrier" in drift.text
    public = sql(
        db,
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public'",
    )
    assert public == [(0,)]
