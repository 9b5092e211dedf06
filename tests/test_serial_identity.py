"""serial <-> identity keeps the counter (kinds/serial_identity.py), on real PostgreSQL.

The plan is made against a database with some rows; more rows arrive before it runs
(a revision applied later): the next id after the conversion is above every existing one,
in both directions, and the catalog names the new sequence as a fresh database would.
A table and a column with quotes and a semicolon in their names cannot turn the literals
of the counter copy into statements of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic_project import make_project, project_args, revision_in, versions
from conftest import Result, plan_json, sql

from bindu_schema import compile as compiler
from bindu_schema import ensure_tenant, executor, loader, server
from bindu_schema.compile import quote
from bindu_schema.literals import quote_literal
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

TABLE = "ta\"sks'; DROP TABLE victim; --"
COLUMN = "i\"d'"

SCHEMAS = {
    "serial": "{type: bigint, serial: true}",
    "always": "{type: bigint, identity: always}",
    "by default": "{type: bigint, identity: by default}",
}


def _yaml(column: str) -> str:
    return (
        "version: 1\ntables:\n"
        f"  victim:\n    columns:\n      id: {{type: integer}}\n"
        f"  {json.dumps(TABLE)}:\n    columns:\n"
        f"      {json.dumps(COLUMN)}: {SCHEMAS[column]}\n"
        "      title: {type: text}\n"
        f"    primary_key: {{columns: [{json.dumps(COLUMN)}]}}\n"
    )


def _insert(db: DatabaseURL, n: int) -> None:
    sql(db, f"INSERT INTO {quote(TABLE)} (title) SELECT 'r' FROM generate_series(1, {n})")


@pytest.mark.parametrize(
    ("before", "after"),
    [("serial", "always"), ("serial", "by default"), ("always", "serial")],
)
def test_next_id_continues_after_the_rows(
    before: str,
    after: str,
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    live = make_db()
    server.load_ddl(live, compiler.compile_schema(loader.loads(_yaml(before))))
    _insert(live, 5)
    schema = tmp_path / "after.yaml"
    schema.write_text(_yaml(after))
    planned = plan_json(cli, schema, live, dev_server, "--no-lint")
    assert planned.code == 2, planned.text
    statements = [s["sql"] for s in json.loads(planned.out)["statements"]]
    assert any("setval" in s for s in statements), statements

    _insert(live, 7)  # rows that arrive after the plan was made: 12 in all
    executor.run(live, statements)
    t, c = quote(TABLE), quote(COLUMN)
    got = sql(live, f"INSERT INTO {t} (title) VALUES ('next') RETURNING {c}")
    assert got == [(13,)]
    assert sql(live, f"SELECT count(DISTINCT {c}) FROM {t}") == [(13,)]
    assert sql(live, "SELECT count(*) FROM victim") == [(0,)]  # still there
    # the sequence has the name PostgreSQL gives it, and the old one is gone
    seqs = sql(live, "SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY 1")
    assert seqs == [(f"{TABLE}_{COLUMN}_seq",)]
    identity = sql(
        live,
        "SELECT a.attidentity FROM pg_attribute a JOIN pg_class k ON k.oid = a.attrelid "
        f"WHERE k.relname = {quote_literal(TABLE)} AND a.attname = {quote_literal(COLUMN)}",
    )
    assert identity == [({"serial": "", "always": "a", "by default": "d"}[after],)]


def test_a_revision_continues_each_tenants_counter(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    """A revision is schema-agnostic: the conversion's setval names the table in a literal
    resolved through each tenant's search_path, so every tenant continues its own counter."""
    before = (
        "version: 1\ntables:\n  tasks:\n    columns:\n      id: {type: integer, serial: true}\n"
    )
    proj = make_project(tmp_path, before)
    assert revision_in(cli, proj, dev_server, "base").code == 0
    db = make_db()
    ini = proj / "alembic.ini"
    names = [ensure_tenant(db.sqlalchemy, f"did:bindu:serial-{n}", ini=ini) for n in range(2)]
    for n, name in enumerate(names):  # 3 rows in one tenant, 6 in the other
        sql(db, f"INSERT INTO {name}.tasks SELECT FROM generate_series(1, {3 * (n + 1)})")
    after = before.replace("serial: true", "identity: always")
    (proj / "schema" / "bindu.yaml").write_text(after)
    r = revision_in(cli, proj, dev_server, "identity")
    assert r.code == 0, r.text
    assert "setval" in versions(proj)[-1].read_text()
    r = cli("apply", "--all-tenants", *project_args(proj, db, dev_server))
    assert r.code == 0, r.text
    for n, name in enumerate(names):
        got = sql(db, f"INSERT INTO {name}.tasks DEFAULT VALUES RETURNING id")
        assert got == [(3 * (n + 1) + 1,)], name


def test_the_conversions_drop_deletes_nothing_a_plain_drop_does() -> None:
    """Pure: the old sequence's DROP carries no DELETES_DATA (its counter was copied, the
    record's note says so); any other DROP SEQUENCE still does."""
    from bindu_schema import hazards, statements
    from bindu_schema.catalog import Facts
    from bindu_schema.kinds.serial_identity import COUNTER_COPIED, _parsed

    ours = _parsed([("DROP SEQUENCE public.t_id_seq_old_1;", "DropStmt")])[0]
    plain = statements.parse("DROP SEQUENCE public.t_id_seq;")
    assert ours.note == COUNTER_COPIED
    assert hazards.DELETES_DATA not in hazards.classify(ours, Facts())
    assert hazards.DELETES_DATA in hazards.classify(plain, Facts())
