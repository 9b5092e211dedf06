"""A new partition of an existing table is attached without locking the parent ACCESS
EXCLUSIVE (kinds/partitions.py, attach_steps), on real PostgreSQL 18 and 15:

- the CHECK the plan adds is PostgreSQL's own partition constraint: ATTACH PARTITION of a
  table that already holds rows says it is implied and does not scan it;
- while another session reads the parent in an open transaction, the attach steps run
  (lock_timeout short: an ACCESS EXCLUSIVE request would time out, as CREATE TABLE ...
  PARTITION OF does) and the parent's lock, seen in pg_locks from a third session, is
  SHARE UPDATE EXCLUSIVE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg2.errors
import pytest
from alembic_project import alembic, make_project, ok, project_args, revision_in, versions
from conftest import Result, dev_args, sql

from bindu_schema import executor, server, statements
from bindu_schema.kinds import partitions
from bindu_schema.kinds.partitions import Partition
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

IMPLIED = "is implied by existing constraints"

# (key elements as SQL, column types, bound, a row inside it)
BOUNDS: dict[str, tuple[tuple[str, ...], str, Partition, str]] = {
    "range, one column": (
        ("at",),
        "at timestamptz, v int",
        Partition("p", lower=("2026-02-01",), upper=("2026-03-01",)),
        "('2026-02-10', 1)",
    ),
    "range from MINVALUE": (
        ("at",),
        "at timestamptz, v int",
        Partition("p", lower=("MINVALUE",), upper=("2026-01-01",)),
        "('2020-01-01', 1)",
    ),
    "range, two columns": (
        ("site", "day"),
        "site int, day date",
        Partition("p", lower=(1, "2026-01-01"), upper=(3, "2026-06-01")),
        "(2, '2020-01-01')",
    ),
    "range, two columns, equal first": (
        ("site", "day"),
        "site int, day date",
        Partition("p", lower=(1, "2026-01-01"), upper=(1, "2027-01-01")),
        "(1, '2026-05-01')",
    ),
    "range, two columns, MINVALUE and MAXVALUE": (
        ("site", "day"),
        "site bigint, day date",
        Partition("p", lower=(2, "MINVALUE"), upper=(3, "MAXVALUE")),
        "(3, '2100-01-01')",
    ),
    "range, three columns": (
        ("a", "b", "c"),
        "a int, b text, c numeric",
        Partition("p", lower=(1, "k", 2.5), upper=(4, "b", 0)),
        "(1, 'z', 3)",
    ),
    "list of text with NULL and SQL-looking values": (
        ("s",),
        "s varchar(40)",
        Partition("p", values=("a", None, "x') OR true; --")),
        "('x'') OR true; --')",
    ),
    "list of dates": (
        ("d",),
        "d date",
        Partition("p", values=("2026-01-01", "2026-01-02")),
        "('2026-01-02')",
    ),
    "list of booleans": (("b",), "b boolean", Partition("p", values=(True,)), "(true)"),
    "list of NULL only": (("n",), "n bigint", Partition("p", values=(None,)), "(NULL)"),
    "list on an expression": (
        ("(lower(name))",),
        "name text",
        Partition("p", values=("alice", "bob")),
        "('Bob')",
    ),
    "range on an expression and a column": (
        ("(CAST(pg_catalog.timezone(CAST('UTC' AS text), at) AS date))", '"Site"'),
        'at timestamptz, "Site" int',
        Partition("p", lower=("2026-01-01", 1), upper=("2026-01-01", 9)),
        "('2026-01-01 12:00+00', 5)",
    ),
}


def _run(conn: object, *sqls: str) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        for sql in sqls:
            cur.execute(sql)


@pytest.mark.parametrize("case", list(BOUNDS))
def test_the_check_spares_the_attach_its_scan(
    case: str, make_db: Callable[[], DatabaseURL]
) -> None:
    columns, types, p, row = BOUNDS[case]
    method = "LIST" if p.values else "RANGE"
    check = partitions.bound_check(columns, p)
    assert check is not None
    db = make_db()
    conn = server.connect(db, autocommit=True)
    try:
        _run(
            conn,
            f"CREATE TABLE parent ({types}) PARTITION BY {method} ({', '.join(columns)})",
            "CREATE TABLE p (LIKE parent)",
            f"INSERT INTO p VALUES {row}",
            f"ALTER TABLE p ADD CONSTRAINT bound CHECK ({check})",
            "SET client_min_messages = debug1",
        )
        conn.notices.clear()
        _run(conn, f"ALTER TABLE parent ATTACH PARTITION p {partitions.bound_clause(p)}")
        said = "".join(conn.notices)
        assert f'partition constraint for table "p" {IMPLIED}' in said, (check, said)
    finally:
        conn.close()


def test_without_the_check_the_attach_scans(make_db: Callable[[], DatabaseURL]) -> None:
    """The counterpart: the notice above is not PostgreSQL's default."""
    db = make_db()
    conn = server.connect(db, autocommit=True)
    try:
        _run(
            conn,
            "CREATE TABLE parent (at timestamptz) PARTITION BY RANGE (at)",
            "CREATE TABLE p (LIKE parent)",
            "SET client_min_messages = debug1",
        )
        conn.notices.clear()
        _run(conn, "ALTER TABLE parent ATTACH PARTITION p FOR VALUES FROM (MINVALUE) TO (now())")
        assert IMPLIED not in "".join(conn.notices)
        assert 'verifying table "p"' in "".join(conn.notices)
    finally:
        conn.close()


_PARENT = (
    "CREATE TABLE public.events (id bigint NOT NULL, at timestamptz NOT NULL, kind text,"
    " PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
    "CREATE INDEX events_kind ON public.events (kind)",
    "CREATE TABLE public.events_1 PARTITION OF public.events"
    " FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')",
    "INSERT INTO public.events VALUES (1, '2026-01-05', 'a')",
)
_CREATE = (
    "create table public.events_2 partition of public.events"
    " FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');"
)
_LOCKS = """
SELECT l.mode FROM pg_locks l
 WHERE l.locktype = 'relation' AND l.relation = 'public.events'::regclass AND l.pid = %s
 ORDER BY l.mode"""


def test_the_attach_steps_run_beside_a_reader(make_db: Callable[[], DatabaseURL]) -> None:
    db = make_db()
    setup = server.connect(db, autocommit=True)
    _run(setup, *_PARENT)
    setup.close()
    reader = server.connect(db)  # an open transaction that read the parent
    writer = server.connect(db)
    watcher = server.connect(db, autocommit=True)
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.events")
            assert cur.fetchone() == (1,)
        steps = partitions.attach_steps(statements.parse(_CREATE), ("at",))
        assert [(s.kind, s.table) for s in steps] == [
            ("CreateStmt", "events_2"),
            ("AlterTableStmt", "events_2"),
            ("AlterTableStmt", "events"),
            ("AlterTableStmt", "events_2"),
        ]
        with writer.cursor() as cur:
            cur.execute("SET lock_timeout = '3s'")
            for s in steps:
                cur.execute(s.sql)
            cur.execute("SELECT pg_backend_pid()")
            row = cur.fetchone()
            assert row is not None
            pid = row[0]
        with watcher.cursor() as cur:
            cur.execute(_LOCKS, (pid,))
            modes = [m for (m,) in cur.fetchall()]
        # ACCESS SHARE from LIKE's read of the parent, SHARE UPDATE EXCLUSIVE from ATTACH
        assert modes == ["AccessShareLock", "ShareUpdateExclusiveLock"], modes
        writer.commit()
        with watcher.cursor() as cur:
            cur.execute(
                "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s",
                ("events_2",),
            )
            assert cur.fetchone() == (
                "FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00')",
            )
            cur.execute(
                "SELECT count(*) FROM pg_constraint WHERE conname = %s",
                (partitions.BOUND_CHECK,),
            )
            assert cur.fetchone() == (0,)
    finally:
        reader.rollback()
        for c in (reader, writer, watcher):
            c.close()


def test_create_partition_of_waits_for_the_reader(make_db: Callable[[], DatabaseURL]) -> None:
    """The counterpart: the direct form needs ACCESS EXCLUSIVE on the parent."""
    db = make_db()
    setup = server.connect(db, autocommit=True)
    _run(setup, *_PARENT)
    setup.close()
    reader = server.connect(db)
    writer = server.connect(db)
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.events")
        with writer.cursor() as cur:
            cur.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg2.errors.LockNotAvailable):
                cur.execute(_CREATE)
        writer.rollback()
    finally:
        reader.rollback()
        reader.close()
        writer.close()


def test_a_bound_that_is_not_only_bounds_is_refused() -> None:
    """The proof by parse tree in attach_steps: a check naming another column or calling
    a function is refused before anything runs."""
    with pytest.raises(statements.StatementError):
        partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 1 OR b > 2)", ("a",))
    with pytest.raises(statements.StatementError):
        partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (a > now())", ("a",))
    partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (a IN (1, 'x', NULL))", ("a",))
    lower = ("(lower(name))",)
    partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (lower(name) IN ('a'))", lower)
    with pytest.raises(statements.StatementError):
        partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (upper(name) > 'a')", lower)
    with pytest.raises(statements.StatementError):
        partitions._only_bounds("ALTER TABLE t ADD CONSTRAINT c CHECK (lower(name) ~ 'a')", lower)


_BEFORE = """\
version: 1
tables:
  events:
    columns: {id: {type: bigint, nullable: false}, at: {type: timestamptz, nullable: false}}
    primary_key: {columns: [id, at]}
    partition_by: {method: range, columns: [at]}
    monthly: {from: '2026-01', to: '2026-02'}
"""


def test_a_revision_attaches_and_its_downgrade_drops(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    """Through `revision`, `apply` and `alembic downgrade -1`: one transactional revision
    with the attach steps, whose downgrade removes the new partition again."""
    live = make_db()
    proj = make_project(tmp_path, _BEFORE)
    ok(revision_in(cli, proj, dev_server, "events"))
    ok(cli("apply", *project_args(proj, live, dev_server)))
    sql(live, "INSERT INTO events VALUES (1, '2026-01-05')")
    (proj / "schema" / "bindu.yaml").write_text(_BEFORE.replace("'2026-02'", "'2026-03'"))
    ok(revision_in(cli, proj, dev_server, "february"))
    text = versions(proj)[-1].read_text()
    assert "ALTER TABLE events ATTACH PARTITION events_2026_02 FOR VALUES" in text
    assert "PARTITION OF" not in text and "autocommit_block" not in text
    ok(cli("apply", *project_args(proj, live, dev_server)))
    parts = "SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r' ORDER BY 1"
    assert sql(live, parts) == [("events_2026_01",), ("events_2026_02",)]
    ok(alembic(proj, "downgrade", "-1", url=live))
    assert sql(live, parts) == [("events_2026_01",)]
    assert sql(live, "SELECT count(*) FROM events") == [(1,)]


def test_attach_into_a_tenant_schema(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    """--target-schema: the new partition is created and attached in the tenant's schema
    (the parent is found there), nothing in public."""
    tenant = "did_bindu_tenant"
    db = make_db()
    sql(db, f"CREATE SCHEMA {tenant}")
    schema = tmp_path / "s.yaml"
    args = ["--schema", str(schema), "--database-url", db.sqlalchemy, "--no-lint"]
    args += [*dev_args(dev_server), "--target-schema", tenant, "--format", "json"]

    def planned() -> list[str]:
        r = cli("plan", *args)
        assert r.code == 2, r.text
        return [s["sql"] for s in json.loads(r.out)["statements"]]

    schema.write_text(_BEFORE)
    executor.run(db, planned())
    schema.write_text(_BEFORE.replace("'2026-02'", "'2026-03'"))
    stmts = planned()
    assert f"ALTER TABLE {tenant}.events ATTACH PARTITION {tenant}.events_2026_02" in stmts[2]
    assert not any("public" in s or "PARTITION OF" in s for s in stmts), stmts
    executor.run(db, stmts)
    assert cli("plan", *args).code == 0
    assert sql(
        db, f"SELECT count(*) FROM pg_inherits WHERE inhparent = '{tenant}.events'::regclass"
    ) == [(2,)]
