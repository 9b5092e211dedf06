"""Row-level security does what it says: after `apply` (a revision of the YAML, run by the
real command) and after the planned statements run directly, a role that is not the owner
sees only its own rows (tenant isolation on owner_did), on real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2.errors
import pytest
from alembic_project import make_project, project_args, revision_in
from conftest import Result, dev_args

from bindu_schema import executor, server
from bindu_schema.compile import quote
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

SCHEMA = """\
version: 1
tables:
  tasks:
    columns: {id: {type: integer, nullable: false}, owner_did: {type: text, nullable: false}}
    primary_key: {columns: [id]}
    row_level_security: {enabled: true}
    policies:
      own_tasks:
        using: owner_did = current_user
        with_check: owner_did = current_user
"""


@pytest.mark.parametrize("how", ["apply", "planned statements"])
def test_a_tenant_role_sees_only_its_rows(
    how: str,
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    live = make_db()
    if how == "apply":
        proj = make_project(tmp_path, SCHEMA)
        made = revision_in(cli, proj, dev_server, "tenant isolation")
        assert made.code == 0, made.text
        applied = cli("apply", *project_args(proj, live, dev_server))
        assert applied.code == 0, applied.text
    else:
        path = tmp_path / "schema.yaml"
        path.write_text(SCHEMA)
        planned = cli(
            "plan", "--schema", str(path), "--format", "json", "--no-lint",
            "--database-url", live.sqlalchemy, *dev_args(dev_server),
        )  # fmt: skip
        assert planned.code == 2, planned.text
        executor.run(live, [s["sql"] for s in json.loads(planned.out)["statements"]])

    tenant, other = f"tenant_{uuid.uuid4().hex[:8]}", f"tenant_{uuid.uuid4().hex[:8]}"
    conn = server.connect(live, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {quote(tenant)} NOLOGIN")
            cur.execute("GRANT USAGE ON SCHEMA public TO " + quote(tenant))
            cur.execute("GRANT SELECT, INSERT ON public.tasks TO " + quote(tenant))
            cur.execute(
                "INSERT INTO public.tasks VALUES (1, %s), (2, %s), (3, %s)",
                (tenant, other, tenant),
            )
            cur.execute("SELECT count(*) FROM public.tasks")  # the owner: every row
            assert cur.fetchone() == (3,)
            cur.execute("SET ROLE " + quote(tenant))
            cur.execute("SELECT id, owner_did FROM public.tasks ORDER BY id")
            assert cur.fetchall() == [(1, tenant), (3, tenant)]
            with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
                cur.execute("INSERT INTO public.tasks VALUES (4, %s)", (other,))
            cur.execute("RESET ROLE")
    finally:
        with conn.cursor() as cur:
            cur.execute("RESET ROLE")
            cur.execute("DROP OWNED BY " + quote(tenant))
            cur.execute("DROP ROLE " + quote(tenant))
        conn.close()
