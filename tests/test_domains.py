"""Domains: a change PostgreSQL cannot make in place is refused, naming the domain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, dev_args

from bindu_schema import compile as compiler
from bindu_schema import loader, server
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

BEFORE = """
version: 1
domains:
  score: {type: integer, checks: {positive: VALUE >= 0}}
tables:
  tasks:
    columns: {id: {type: integer, nullable: false}, s: {type: score}}
"""


def test_base_type_change_is_refused(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    live = make_db()
    server.load_ddl(live, compiler.compile_schema(loader.loads(BEFORE)))
    after = tmp_path / "after.yaml"
    after.write_text(BEFORE.replace("type: integer, checks", "type: bigint, checks"))
    r = cli(
        "plan", "--schema", str(after), "--database-url", live.sqlalchemy, *dev_args(dev_server)
    )
    assert r.code == 1, r.text
    assert "domain score: its base type changes from integer to bigint" in r.err
    assert "declare a new domain, move the columns to it" in r.err
    assert "Traceback" not in r.text


def test_tenant_schemas_use_their_own_domain(make_db: Callable[[], DatabaseURL]) -> None:
    """In each tenant schema a column's domain is that schema's (the type is qualified)."""
    db = make_db()
    schema = loader.loads(BEFORE)
    for tenant in ("tenant_a", "tenant_b"):
        server.load_ddl(db, compiler.compile_schema(schema, tenant))
    conn = server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT n.nspname, tn.nspname FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_type t ON t.oid = a.atttypid"
                " JOIN pg_namespace tn ON tn.oid = t.typnamespace"
                " WHERE c.relname = 'tasks' AND a.attname = 's' ORDER BY 1"
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    assert rows == [("tenant_a", "tenant_a"), ("tenant_b", "tenant_b")]


def test_tenant_schema_default_draws_from_the_tenants_sequence(
    make_db: Callable[[], DatabaseURL],
) -> None:
    """A default's nextval('seq') resolves in the tenant schema the DDL builds, as it does
    when env.py runs the revisions there (compile.py sets the search path)."""
    text = """
version: 1
sequences:
  ticket_numbers: {start: 1000}
tables:
  tickets:
    columns: {id: {type: integer}, n: {type: bigint, default: "nextval('ticket_numbers')"}}
"""
    db = make_db()
    server.load_ddl(db, compiler.compile_schema(loader.loads(text), "tenant_a"))
    conn = server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO tenant_a.tickets (id) VALUES (1) RETURNING n")
            assert cur.fetchone() == (1000,)
            cur.execute(
                "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
                " WHERE d.adrelid = 'tenant_a.tickets'::regclass"
            )
            assert cur.fetchone() == ("nextval('tenant_a.ticket_numbers'::regclass)",)
    finally:
        conn.rollback()
        conn.close()
