"""The privileges query (kinds/grants.py) leaves the system schemas out as schemainspect's
own queries do (SKIP_INTERNAL): an inspection of a user schema holds the same privileges
as one that read every schema first, and none of pg_catalog's ~3,000 functions is read."""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa
from conftest import sql
from sqlalchemy.pool import NullPool

from bindu_schema import differ

GRANTS = """
CREATE ROLE bindu_test_reader_pq;
CREATE SCHEMA tenant_a;
CREATE TABLE tenant_a.tasks (id int PRIMARY KEY);
CREATE FUNCTION tenant_a.f(x int) RETURNS int LANGUAGE sql AS $$SELECT x$$;
GRANT SELECT ON tenant_a.tasks TO bindu_test_reader_pq;
REVOKE EXECUTE ON FUNCTION tenant_a.f(int) FROM PUBLIC;
GRANT USAGE ON SCHEMA tenant_a TO bindu_test_reader_pq;
CREATE TABLE public.notes (id int);
GRANT INSERT ON public.notes TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bindu_test_reader_pq;
"""


def _inspect(conn: Any, schema: str | None, include_internal: bool) -> Any:
    import schemainspect.pg.obj as pg_obj

    i = pg_obj.PostgreSQL(conn, include_internal=include_internal)
    if schema is not None:
        i.one_schema(schema)
    return i


def test_the_system_schemas_are_not_read_and_no_user_privilege_is_lost(dev_server, make_db):
    db = make_db()
    sql(db, "DROP ROLE IF EXISTS bindu_test_reader_pq")
    try:
        sql(db, GRANTS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            differ._import_schemainspect()
            differ._patch_queries()
        engine = sa.create_engine(db.sqlalchemy, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                everything = _inspect(conn, None, include_internal=True)
                user_only = _inspect(conn, None, include_internal=False)
                assert any(p.schema == "pg_catalog" for p in everything.privileges.values())
                assert {p.schema for p in user_only.privileges.values()} == {"public", "tenant_a"}
                assert len(user_only.privileges) < len(everything.privileges) / 10
                for schema in ("public", "tenant_a"):
                    full = _inspect(conn, schema, include_internal=True).privileges
                    kept = _inspect(conn, schema, include_internal=False).privileges
                    assert kept.keys() == full.keys()
                    assert len(kept) >= 3  # the schema's own ACL and owner, the grants
                tenant = _inspect(conn, "tenant_a", include_internal=False).privileges
                rows = {(p.name, p.target_user, p.privilege) for p in tenant.values()}
                assert ("tasks", "bindu_test_reader_pq", "select") in rows
                assert ("tenant_a", "bindu_test_reader_pq", "usage") in rows
                assert not any(n.startswith("f(") and u == "public" for n, u, _ in rows)
        finally:
            engine.dispose()
    finally:
        sql(db, "DROP OWNED BY bindu_test_reader_pq; DROP ROLE IF EXISTS bindu_test_reader_pq")
