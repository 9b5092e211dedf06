"""The quick rehearsal (quick_rehearsal.py, issue 18): the plan's upgrade and downgrade run
on the kept restore of the live schema inside one transaction that is rolled back, checked
by catalog fingerprints; anything it cannot vouch for goes to the full rehearsal.

- a good plan passes without the full rehearsal, and the kept restore is left as it was;
- an upgrade or a downgrade that leaves a statement out does not pass, and the full
  rehearsal then reports it (the plan fails);
- CONCURRENTLY statements run in their plain form inside the transaction;
- alembic_version and `exclude:` objects are left out, as the full rehearsal leaves them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import sql
from test_template_cache import unique_yaml

from bindu_schema import cache, loader, pgtools, plan, quick_rehearsal, server


def kept_name(db: Any) -> str:
    return plan._kept_name(pgtools.dump_schema(db, "public"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What each rehearsal path did: the quick one's verdicts, the full one's copies. The
    result cache is off (these tests plan the same schemas: a remembered rehearsal would
    not run again), except where a test turns it back on."""
    monkeypatch.setenv(cache.CACHE_ENV, "0")
    seen: dict[str, list[Any]] = {"quick": [], "full": []}
    real_quick, real_copy = quick_rehearsal.passes, plan._rehearsal_copy

    def quick(*args: Any, **kwargs: Any) -> bool:
        verdict = real_quick(*args, **kwargs)
        seen["quick"].append(verdict)
        return verdict

    def copy(*args: Any, **kwargs: Any) -> Any:
        seen["full"].append(1)
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(quick_rehearsal, "passes", quick)
    monkeypatch.setattr(plan, "_rehearsal_copy", copy)
    return seen


def _yaml(tmp_path: Path, text: str) -> Any:
    path = tmp_path / f"s{abs(hash(text))}.yaml"
    path.write_text(text)
    return loader.load(path)


TABLE = """version: 1
tables:
  items:
    columns: {id: {type: bigint, nullable: false}, name: {type: text}%s}
    primary_key: {columns: [id]}
%s"""


def _two_columns_planned(db: Any, dev_server: Any, tmp_path: Path) -> tuple[Any, Any, Any]:
    """items (id, name) in db; the schema adding two columns, and its plan's upgrade and
    downgrade records (the plan also keeps db's restore on the dev server)."""
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    schema = _yaml(tmp_path, TABLE % (", note: {type: text}, zeta: {type: int}", ""))
    good = plan.build(schema, db, dev_server, run_lint=False)
    return schema, [s.record for s in good.statements], [s.record for s in good.downgrade]


def test_a_good_plan_passes_quickly_and_the_kept_restore_is_untouched(
    dev_server, make_db, tmp_path, calls
):
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    built = plan.build(_yaml(tmp_path, TABLE % (", note: {type: text}", "")), db, dev_server)
    assert [s.record.kind for s in built.statements] == ["AlterTableStmt"]
    assert calls == {"quick": [True], "full": []}
    # The kept restore still holds the live schema (its published catalog fingerprint is
    # checked on opening; a changed one would be dropped and give None).
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None
    conn.close()
    restored = pgtools.dump_schema(dev_server.with_database(kept_name(db)), "public")
    assert pgtools.dump_identity(restored) == pgtools.dump_identity(
        pgtools.dump_schema(db, "public")
    )


@pytest.mark.parametrize("detach", ["1", "0"])
def test_a_large_rehearsal_that_passed_is_not_waited_for(
    dev_server, make_db, tmp_path, calls, monkeypatch, detach
):
    """A passing rehearsal of at least _VACUUM_AFTER statements leaves its rollback to
    PostgreSQL (the connection is closed inside the transaction); the kept restore is
    untouched all the same, and the next plan's early open vacuums it."""
    monkeypatch.setenv(quick_rehearsal.DETACH_ENV, detach)
    monkeypatch.setattr(quick_rehearsal, "_VACUUM_AFTER", 1)
    undone: list[bool] = []
    real_undo = quick_rehearsal._undo

    def undo(conn: Any, *args: Any, **kwargs: Any) -> None:
        real_undo(conn, *args, **kwargs)
        undone.append(bool(conn.closed))

    monkeypatch.setattr(quick_rehearsal, "_undo", undo)
    vacuumed: list[str] = []
    real_vacuum = server.vacuum_catalogs

    def vacuum(conn: Any) -> None:
        vacuumed.append(conn.info.dbname)
        real_vacuum(conn)

    monkeypatch.setattr(server, "vacuum_catalogs", vacuum)
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    for n in range(2):  # the second plan opens the kept restore early
        columns = ", note: {type: text}" + (", more: {type: int}" if n else "")
        plan.build(_yaml(tmp_path, TABLE % (columns, "")), db, dev_server, run_lint=False)
    assert calls["quick"] == [True, True] and calls["full"] == []
    # the restore's own connection: closed in its transaction (detached) or rolled back
    # and still open; the downgrade's, in the desired database, is always rolled back
    assert sorted(undone) == ([False, False, True, True] if detach == "1" else [False] * 4)
    assert kept_name(db) in vacuumed  # by the second plan, when it opened the restore
    for _ in range(100):  # until PostgreSQL has ended the detached session
        if not sql(dev_server, f"SELECT 1 FROM pg_stat_activity WHERE datname = '{kept_name(db)}'"):
            break
        time.sleep(0.05)
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None  # published fingerprint unchanged: nothing of the plans stayed
    conn.close()


def test_concurrent_index_statements_run_plainly_inside_the_transaction(
    dev_server, make_db, tmp_path, calls
):
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    indexed = TABLE % ("", "    indexes: {items_name: {columns: [name]}}\n")
    built = plan.build(_yaml(tmp_path, indexed), db, dev_server)
    assert [s.sql for s in built.statements if not s.record.transactional], built.statements
    assert calls == {"quick": [True], "full": []}


@pytest.mark.parametrize("phase", ["upgrade", "downgrade"])
def test_a_statement_left_out_does_not_pass_and_the_full_rehearsal_reports_it(
    dev_server, make_db, tmp_path, monkeypatch, phase
):
    db = make_db()
    schema, up, down = _two_columns_planned(db, dev_server, tmp_path)
    assert len(up) == 2 and len(down) == 2
    broken_up, broken_down = (up[:-1], down) if phase == "upgrade" else (up, down[:-1])
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None
    try:
        with plan.desired_database(schema, dev_server) as desired:
            assert quick_rehearsal.passes(conn, desired, up, down, "public")
            assert not quick_rehearsal.passes(conn, desired, broken_up, broken_down, "public")
            # a statement that fails is no verdict either, and leaves nothing behind
            failing = [*up, up[0]]  # the column added twice
            assert not quick_rehearsal.passes(conn, desired, failing, down, "public")
            assert quick_rehearsal.passes(conn, desired, up, down, "public")
    finally:
        conn.close()

    # Through plan.build: the full rehearsal runs after the quick one says no, and fails.
    real = quick_rehearsal._runnable

    def leaving_one_out(records: Any) -> Any:
        out = real(records)
        return out[:-1] if out and len(out) == 2 else out

    monkeypatch.setattr(quick_rehearsal, "_runnable", leaving_one_out)
    monkeypatch.setattr(plan.executor, "run", _leaving_out(plan.executor.run, phase))
    with pytest.raises(plan.PlanValidationError) as err:
        plan.build(
            _yaml(tmp_path, TABLE % (", a: {type: text}, b: {type: int}", "")), db, dev_server
        )
    assert err.value.phase == phase


def _leaving_out(real: Any, phase: str) -> Any:
    """executor.run whose rehearsal batch of `phase` leaves its last statement out."""
    n = {"batch": 0}
    which = 1 if phase == "upgrade" else 2

    def run(url: Any, statements: Any, batch: Any = None) -> Any:
        if batch == plan.REHEARSAL_BATCH:
            n["batch"] += 1
            if n["batch"] == which and len(statements) > 1:
                statements = statements[:-1]
        return real(url, statements, batch=batch)

    return run


def test_unmanaged_objects_are_left_out_and_stay(dev_server, make_db, tmp_path, calls):
    db = make_db()
    sql(
        db,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text);"
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
        "CREATE TABLE legacy (id int);"
        "CREATE FUNCTION old_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';"
        "CREATE FUNCTION old_fn(x int) RETURNS int LANGUAGE sql AS 'SELECT x'",
    )
    text = (
        TABLE % (", note: {type: text}", "") + "exclude: {tables: [legacy], functions: [old_fn]}\n"
    )
    built = plan.build(_yaml(tmp_path, text), db, dev_server)
    assert len(built.statements) == 1
    assert calls == {"quick": [True], "full": []}
    kept = dev_server.with_database(kept_name(db))
    assert sql(kept, "SELECT count(*) FROM pg_proc WHERE proname = 'old_fn'") == [(2,)]
    assert sql(kept, "SELECT to_regclass('legacy') IS NOT NULL") == [(True,)]


def test_switched_off_the_full_rehearsal_runs(dev_server, make_db, tmp_path, calls, monkeypatch):
    monkeypatch.setenv(quick_rehearsal.ENV, "0")
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    plan.build(_yaml(tmp_path, TABLE % (", note: {type: text}", "")), db, dev_server)
    assert calls == {"quick": [], "full": [1]}


def test_a_passed_quick_rehearsal_is_remembered(dev_server, make_db, tmp_path, calls, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, "1")
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    schema = loader.load(unique_yaml(tmp_path, tables=2))
    first = plan.build(schema, db, dev_server)
    assert plan.build(schema, db, dev_server) == first
    assert calls == {"quick": [True], "full": []}


def test_the_unchanging_fingerprints_are_kept_and_still_catch_a_bad_plan(
    dev_server, make_db, tmp_path, monkeypatch
):
    """The desired database's fingerprint and the kept restore's (before the upgrade) are
    read once and kept (both databases are immutable); a later rehearsal reads only the two
    fingerprints after the upgrade and after the downgrade, and still refuses a downgrade
    that leaves a statement out."""
    db = make_db()
    schema, up, down = _two_columns_planned(db, dev_server, tmp_path)
    reads: list[str] = []
    real = quick_rehearsal.fingerprint.in_transaction
    real_of = quick_rehearsal.fingerprint.of_schemas

    def counting(cur: Any, name: str) -> Any:
        reads.append("in transaction")
        return real(cur, name)

    def counting_of(url: Any, names: Any, *args: Any) -> Any:
        reads.append("desired")
        return real_of(url, names, *args)

    monkeypatch.setattr(quick_rehearsal.fingerprint, "in_transaction", counting)
    monkeypatch.setattr(quick_rehearsal.fingerprint, "of_schemas", counting_of)
    name = kept_name(db)
    conn = server.open_cached(dev_server, name)
    assert conn is not None
    token = server.immutable_token(dev_server.with_database(name))
    assert token is not None
    try:
        with plan.desired_database(schema, dev_server) as desired:
            reads.clear()
            assert quick_rehearsal.passes(conn, desired, up, down, "public", restore_token=token)
            first = list(reads)
            reads.clear()
            assert quick_rehearsal.passes(conn, desired, up, down, "public", restore_token=token)
            assert reads == ["in transaction", "in transaction"], (first, reads)
            assert not quick_rehearsal.passes(
                conn, desired, up, down[:-1], "public", restore_token=token
            )
    finally:
        conn.close()


def test_a_large_rehearsal_leaves_the_kept_restore_vacuumed_and_valid(
    dev_server, make_db, tmp_path, calls
):
    """The rolled-back rows of a large plan are vacuumed away in the kept restore's
    catalogs; plain VACUUM writes no live row, so the restore still opens as published."""
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    columns = "".join(f", c{n}: {{type: text}}" for n in range(quick_rehearsal._VACUUM_AFTER))
    built = plan.build(_yaml(tmp_path, TABLE % (columns, "")), db, dev_server, run_lint=False)
    assert len(built.statements) >= quick_rehearsal._VACUUM_AFTER
    assert calls == {"quick": [True], "full": []}
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None  # its published catalog fingerprint still holds
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT relname FROM pg_stat_sys_tables WHERE schemaname = 'pg_catalog' "
                "AND relname IN ('pg_attribute', 'pg_depend') AND last_vacuum IS NOT NULL"
            )
            assert sorted(r[0] for r in cur.fetchall()) == ["pg_attribute", "pg_depend"]
    finally:
        conn.close()


def test_the_desired_fingerprint_read_early_is_the_one_compared(
    dev_server, make_db, tmp_path, monkeypatch
):
    """prefetch() reads the desired database's fingerprint in a thread; passes() uses it
    (no second read) and still refuses a downgrade that leaves a statement out. Nothing is
    started when the cache holds it already, or when switched off."""
    db = make_db()
    schema, up, down = _two_columns_planned(db, dev_server, tmp_path)
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None
    try:
        with plan.desired_database(schema, dev_server) as desired:
            assert quick_rehearsal.prefetch(desired, "public") is None  # the plan cached it
            monkeypatch.setattr(quick_rehearsal.readcache, "peek", lambda *a: None)
            early = quick_rehearsal.prefetch(desired, "public")
            assert early is not None
            want = early.result()
            assert want == fingerprint_of(desired)
            reads: list[str] = []
            real = quick_rehearsal.fingerprint.of_schemas
            monkeypatch.setattr(
                quick_rehearsal.fingerprint,
                "of_schemas",
                lambda *a, **k: reads.append("read") or real(*a, **k),
            )
            monkeypatch.setattr(quick_rehearsal.readcache, "token", lambda url: None)
            assert quick_rehearsal.passes(conn, desired, up, down, "public", prefetched=early)
            assert not quick_rehearsal.passes(
                conn, desired, up, down[:-1], "public", prefetched=early
            )
            assert reads == []
            monkeypatch.setenv(quick_rehearsal.early.PREFETCH_ENV, "0")
            assert quick_rehearsal.prefetch(desired, "public") is None
    finally:
        conn.close()


def fingerprint_of(url: Any) -> Any:
    return quick_rehearsal.fingerprint.of_schemas(url, ["public"]).get("public")


@pytest.mark.parametrize("split", ["1", "0"])
def test_the_downgrade_runs_beside_in_the_desired_database_and_leaves_it_as_published(
    dev_server, make_db, tmp_path, monkeypatch, split
):
    """Split (the default): the downgrade runs in the desired database, in a transaction of
    its own that is rolled back, while the upgrade runs in the kept restore; a downgrade
    that leaves a statement out, or fails, is still refused. The desired database opens as
    published afterwards (its catalog fingerprint holds). Switched off: one transaction."""
    monkeypatch.setenv(quick_rehearsal.SPLIT_ENV, split)
    db = make_db()
    schema, up, down = _two_columns_planned(db, dev_server, tmp_path)
    started: list[Any] = []
    real = quick_rehearsal._Downgrade

    def spy(desired: Any, todo: Any, ns: str) -> Any:
        started.append((desired.database, list(todo)))
        return real(desired, todo, ns)

    monkeypatch.setattr(quick_rehearsal, "_Downgrade", spy)
    conn = server.open_cached(dev_server, kept_name(db))
    assert conn is not None
    try:
        with plan.desired_database(schema, dev_server) as desired:
            assert server.immutable_token(desired) is not None  # a cached database
            assert quick_rehearsal.passes(conn, desired, up, down, "public")
            assert not quick_rehearsal.passes(conn, desired, up, down[:-1], "public")
            failing = [*down, down[0]]  # the column dropped twice
            assert not quick_rehearsal.passes(conn, desired, up, failing, "public")
            # an upgrade that fails: the downgrade beside it is stopped, no verdict
            assert not quick_rehearsal.passes(conn, desired, [*up, up[0]], down, "public")
            assert quick_rehearsal.passes(conn, desired, up, down, "public")
            name = desired.database
        if split == "1":
            assert [d for d, _ in started] == [name] * 5
            assert started[0][1] == [r.sql for r in down]
        else:
            assert started == []
        again = server.open_cached(dev_server, name or "")
        assert again is not None  # unchanged since it was published
        again.close()
    finally:
        conn.close()


@pytest.mark.parametrize("batch", ["1", "0"])
def test_statements_batched_run_as_written(make_db, monkeypatch, batch):
    """_execute_all sends BATCH statements a round trip (BINDU_SCHEMA_BATCH_STATEMENTS=0:
    one each): quotes, semicolons inside literals and trailing comments keep each statement
    whole; a failing statement raises (no verdict)."""
    import psycopg2

    monkeypatch.setenv(quick_rehearsal.BATCH_ENV, batch)
    db = make_db()
    sqls = [
        "CREATE TABLE a (x text DEFAULT ';')",
        "COMMENT ON TABLE a IS 'x -- y; DROP TABLE a' -- a trailing comment",
        "CREATE TABLE b (y int) /* a block comment; */",
        *[f"CREATE TABLE t{n} (id int)" for n in range(quick_rehearsal.BATCH + 5)],
    ]
    conn = server.connect(db)
    sent: list[str] = []

    class Counting:  # what _execute_all sends, one entry per round trip
        def __init__(self, cur: Any) -> None:
            self.cur = cur

        def execute(self, query: str) -> None:
            sent.append(query)
            self.cur.execute(query)

    try:
        with conn.cursor() as cur:
            quick_rehearsal._execute_all(Counting(cur), sqls)  # type: ignore[arg-type]
        conn.commit()
    finally:
        conn.close()
    rows = sql(
        db,
        "SELECT obj_description('a'::regclass), count(*) OVER () FROM pg_class WHERE relname = 'a'",
    )
    assert rows == [("x -- y; DROP TABLE a", 1)]
    assert sql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [
        (len(sqls) - 1,)
    ]
    batches = -(-len(sqls) // quick_rehearsal.BATCH)  # rounded up
    assert len(sent) == (batches if batch == "1" else len(sqls))
    conn = server.connect(db)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.Error):
            quick_rehearsal._execute_all(cur, ["CREATE TABLE c (id int)", "CREATE TABLE a ()"])
        conn.rollback()
    finally:
        conn.close()
    assert sql(db, "SELECT to_regclass('c') IS NULL") == [(True,)]


def test_the_kept_restore_opened_early_is_the_one_rehearsed_in_and_is_closed(
    dev_server, make_db, tmp_path, calls, monkeypatch
):
    """With live's dump cached, the kept restore is opened in a thread at the start of the
    plan (plan._kept_early) and the quick rehearsal runs on that connection (open_cached
    is not asked again); after the plan, and after a plan that needed no rehearsal, no
    connection to it is left. Without a cached dump, nothing is opened early."""
    monkeypatch.setenv(cache.CACHE_ENV, "1")
    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    plan.build(
        _yaml(tmp_path, TABLE % (", note: {type: text}", "")), db, dev_server, remember_live=True
    )
    kept = kept_name(db)
    opened: list[str] = []  # the threads that opened the kept restore
    real_open = server.open_cached

    def counting(srv: Any, name: str, *rest: Any) -> Any:
        import threading

        if name == kept:
            opened.append(threading.current_thread().name)
        return real_open(srv, name, *rest)

    monkeypatch.setattr(server, "open_cached", counting)
    edited = _yaml(tmp_path, TABLE % (", note: {type: text}, zeta: {type: int}", ""))
    plan.build(edited, db, dev_server, remember_live=True)
    assert calls["quick"][-1] is True and calls["full"] == []
    assert opened == ["kept"]
    in_sync = _yaml(tmp_path, TABLE % ("", ""))
    assert plan.build(in_sync, db, dev_server, remember_live=True).clean
    for _ in range(200):  # a backend leaves a moment after its client closed
        left = sql(dev_server, f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{kept}'")
        if left == [(0,)]:
            break
        time.sleep(0.05)
    assert left == [(0,)]
    opened.clear()
    monkeypatch.setattr(plan.readcache, "peek", lambda *a: None)
    other = _yaml(tmp_path, TABLE % (", note: {type: text}, extra: {type: int}", ""))
    plan.build(other, db, dev_server, remember_live=True)
    assert calls["quick"][-1] is True
    assert opened == ["MainThread"]
