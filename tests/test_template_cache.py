"""The template cache behind plan.desired_database (server.scratch_with_ddl), on real PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, dev_args, scratch_databases, sql

from bindu_schema import compile as compiler
from bindu_schema import executor, loader, plan, server
from bindu_schema.errors import BinduSchemaError, DatabaseError

sys.path.insert(0, str(ROOT / "bench"))
import schemagen  # noqa: E402


def unique_yaml(tmp_path: Path, tables: int = 2, extra_column: bool = False) -> Path:
    """A small generated schema whose DDL no other test produces (a unique table comment)."""
    tag = uuid.uuid4().hex[:8]
    text = schemagen.generate(tables, extra_column).replace(
        "comment: Generated table 1 of", f"comment: Generated table 1 ({tag}) of"
    )
    path = tmp_path / f"schema-{tag}.yaml"
    path.write_text(text)
    return path


def template_for(path: Path) -> str:
    return server.template_name(compiler.compile_schema(loader.load(path)))


def templates(dev) -> list[str]:
    return [
        str(r[0])
        for r in sql(dev, "SELECT datname FROM pg_database ORDER BY 1")
        if str(r[0]).startswith(server.TEMPLATE_PREFIX)
    ]


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = server.load_ddl

    def counting(url, ddl):  # type: ignore[no-untyped-def]
        calls.append(len(ddl))
        real(url, ddl)

    monkeypatch.setattr(server, "load_ddl", counting)
    return calls


def test_unchanged_yaml_reuses_the_template_and_a_changed_one_gets_a_new(
    cli, make_db, dev_server, tmp_path, count_loads
):
    path = unique_yaml(tmp_path)
    db = make_db()
    args = [
        "plan",
        "--schema",
        str(path),
        "--database-url",
        db.sqlalchemy,
        "--no-validate",
        *dev_args(dev_server),
    ]
    first = cli(*args)
    assert first.code == 2, first.text
    name = template_for(path)
    assert name in templates(dev_server)
    # one full load, or none when another test's cached database was close enough to
    # derive this one from (incremental.py)
    loads = len(count_loads)
    assert loads <= 1

    again = cli(*args)
    assert again.out == first.out
    assert len(count_loads) == loads, "the unchanged YAML must be cloned, not loaded again"

    changed = unique_yaml(tmp_path, extra_column=True)
    other = cli(
        "plan",
        "--schema",
        str(changed),
        "--database-url",
        db.sqlalchemy,
        "--no-validate",
        *dev_args(dev_server),
    )
    assert other.code == 2, other.text
    # Derived from the previous database plus the difference (incremental.py), not loaded.
    assert len(count_loads) == loads
    assert template_for(changed) != name
    assert template_for(changed) in templates(dev_server)
    assert scratch_databases(dev_server) == []


def test_plan_output_is_identical_with_and_without_the_cache(cli, make_db, dev_server, tmp_path):
    path = unique_yaml(tmp_path)
    db = make_db()
    args = ["plan", "--schema", str(path), "--database-url", db.sqlalchemy, *dev_args(dev_server)]
    off = cli(*args, env={server.TEMPLATE_CACHE_ENV: "0"})
    assert off.code == 2, off.text
    assert template_for(path) not in templates(dev_server)
    cold = cli(*args)  # builds the template
    warm = cli(*args)  # clones it
    assert off.out == cold.out == warm.out
    assert template_for(path) in templates(dev_server)
    executor.run(
        db,
        [
            s.sql
            for s in plan.build(
                loader.load(path), db, dev_server, with_downgrade=False, validate=False
            ).statements
        ],
    )
    in_sync = cli(*args)
    assert in_sync.code == 0, in_sync.text
    assert scratch_databases(dev_server) == []


def test_templates_are_prefixed_and_bounded(dev_server, tmp_path, monkeypatch):
    monkeypatch.setattr(server, "EVICTION_GRACE", 0.0)
    for _ in range(server.MAX_TEMPLATES + 2):
        schema = loader.load(unique_yaml(tmp_path, tables=1))
        with plan.desired_database(schema, dev_server) as url:
            assert url.database == server.template_name(compiler.compile_schema(schema))
    server.wait_for_eviction()  # eviction runs beside the command's work
    names = templates(dev_server)
    assert 0 < len(names) <= server.MAX_TEMPLATES
    assert all(len(n) <= 63 for n in names)
    assert scratch_databases(dev_server) == []
    # Used in place by concurrent commands, so every session in it is read-only.
    url = dev_server.with_database(names[-1])
    assert sql(url, "SHOW default_transaction_read_only") == [("on",)]


def test_eviction_spares_databases_in_use_or_just_used(dev_server, tmp_path, monkeypatch):
    schema = loader.load(unique_yaml(tmp_path, tables=1))
    name = server.template_name(compiler.compile_schema(schema))
    with plan.desired_database(schema, dev_server):
        monkeypatch.setattr(server, "EVICTION_GRACE", 0.0)
        server._evict_templates(dev_server, keep=0)  # in use: pinned by our connection
        assert name in templates(dev_server)
    monkeypatch.setattr(server, "EVICTION_GRACE", 3600.0)
    server._evict_templates(dev_server, keep=0)  # just used: another command may connect
    assert name in templates(dev_server)
    monkeypatch.setattr(server, "EVICTION_GRACE", 0.0)
    server._evict_templates(dev_server, keep=0)
    assert name not in templates(dev_server)


def test_a_cached_desired_database_cannot_be_written_to(dev_server, tmp_path):
    schema = loader.load(unique_yaml(tmp_path))
    with plan.desired_database(schema, dev_server) as url:
        with pytest.raises(DatabaseError, match="read-only transaction"):
            executor.run(url, ["CREATE TABLE scribble (id int)"])
    assert server.template_name(compiler.compile_schema(schema)) in templates(dev_server)


def test_a_cached_desired_database_changed_behind_our_back_is_rebuilt(dev_server, tmp_path):
    schema = loader.load(unique_yaml(tmp_path))
    name = server.template_name(compiler.compile_schema(schema))
    with plan.desired_database(schema, dev_server) as url:
        pass
    # Someone overrides the read-only default and writes anyway.
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            cur.execute("BEGIN READ WRITE")
            cur.execute("CREATE TABLE scribble (id int)")
        conn.commit()
    finally:
        conn.close()
    with plan.desired_database(schema, dev_server) as again:
        assert again.database == name
        assert sql(again, "SELECT count(*) FROM pg_class WHERE relname = 'scribble'") == [(0,)]
    assert scratch_databases(dev_server) == []


def test_a_failing_user_leaves_no_scratch_and_keeps_the_cache(dev_server, tmp_path, monkeypatch):
    schema = loader.load(unique_yaml(tmp_path))
    name = server.template_name(compiler.compile_schema(schema))
    for _ in range(2):  # a miss (loaded, published) and a hit (used in place)
        with pytest.raises(RuntimeError), plan.desired_database(schema, dev_server):
            raise RuntimeError("boom")
        assert scratch_databases(dev_server) == []
        assert name in templates(dev_server)
    monkeypatch.setenv(server.TEMPLATE_CACHE_ENV, "0")
    other = loader.load(unique_yaml(tmp_path))
    with pytest.raises(RuntimeError), plan.desired_database(other, dev_server) as url:
        assert url.database.startswith(server.SCRATCH_PREFIX)
        raise RuntimeError("boom")
    assert scratch_databases(dev_server) == []
    assert server.template_name(compiler.compile_schema(other)) not in templates(dev_server)


def test_guards_never_drop_foreign_databases(dev_server):
    with pytest.raises(BinduSchemaError, match="not a bindu-schema template"):
        server.drop_template(dev_server, "bindu")
    with pytest.raises(BinduSchemaError, match="not a scratch database"):
        server.drop_scratch(dev_server, server.TEMPLATE_PREFIX + "0" * 40)


def test_batched_load_still_names_the_failing_object(dev_server):
    ddl = [
        compiler.DDL("CREATE TABLE ok_one (id int)", "table ok_one"),
        compiler.DDL("CREATE TABLE broken (id no_such_type)", "table broken"),
    ]
    with server.scratch(dev_server) as url:
        with pytest.raises(DatabaseError, match="table broken"):
            server.load_ddl(url, ddl)
        assert sql(url, "SELECT count(*) FROM pg_class WHERE relname = 'ok_one'") == [(0,)]


def test_the_open_right_after_publishing_reads_no_fingerprint_unless_the_comment_changed(
    dev_server, tmp_path, monkeypatch
):
    """scratch_with_ddl opens what it just published with the fingerprint it published
    it with (no second read, same verification token as a full open); a database whose
    comment changed since (published again, written to) is read in full and rebuilt."""
    reads: list[str] = []
    real = server._fingerprint_and_version

    def counting(conn, with_rows=True):  # type: ignore[no-untyped-def]
        reads.append(conn.info.dbname)
        return real(conn, with_rows)

    monkeypatch.setattr(server, "_fingerprint_and_version", counting)
    schema = loader.load(unique_yaml(tmp_path))
    name = server.template_name(compiler.compile_schema(schema))
    with plan.desired_database(schema, dev_server) as url:
        assert url.database == name
        first = server.immutable_token(url)
    assert name not in reads  # the scratch database's fingerprint was read, under its name
    reads.clear()
    with plan.desired_database(schema, dev_server) as url:
        assert server.immutable_token(url) == first  # a full open verifies the same
    assert reads == [name]

    # A stale fingerprint given (the database was written to since): read in full, rebuilt.
    scratch = server.create_scratch(dev_server)
    sql(scratch, "CREATE TABLE kept (id int)")
    published = server.publish(dev_server, scratch, name + "_x")
    assert published is not None
    conn = server.connect(dev_server.with_database(name + "_x"))
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            cur.execute("BEGIN READ WRITE")
            cur.execute("CREATE TABLE scribble (id int)")
            cur.execute(
                f'COMMENT ON DATABASE "{name}_x" IS %s', (server._comment(published + "w"),)
            )
        conn.commit()
    finally:
        conn.close()
    reads.clear()
    assert server.open_cached(dev_server, name + "_x", published) is None  # dropped
    assert reads == [name + "_x"]
    assert name + "_x" not in templates(dev_server)
