"""The on-disk caches (cache.py): hits skip the work, any change in the inputs misses, and
the output is the same either way. Real PostgreSQL throughout."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import sql
from test_template_cache import unique_yaml

from bindu_schema import cache, differ, executor, lint, loader, plan, quick_rehearsal
from bindu_schema import compile as compiler
from bindu_schema.loader import SchemaValidationError


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, enabled cache (the session's shared one would make hits unpredictable)."""
    root = tmp_path / "cache"
    monkeypatch.setattr(cache, "root", lambda: root)
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    return root


def counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[:1])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_a_schema_file_is_validated_once_per_content(cache_dir, tmp_path, monkeypatch):
    loads = counting(monkeypatch, loader, "loads")
    path = unique_yaml(tmp_path)
    first = loader.load(path)
    second = loader.load(path)
    assert first == second
    assert len(loads) == 1
    path.write_text(path.read_text().replace("Generated table 1", "Generated table one"))
    changed = loader.load(path)
    assert len(loads) == 2
    assert changed != first
    assert len(list((cache_dir / "schema").glob("*.pickle"))) == 2


def test_invalid_files_are_never_cached(cache_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntables:\n  t:\n    columns:\n      a: {typo: text}\n")
    for _ in range(2):
        with pytest.raises(SchemaValidationError) as err:
            loader.load(bad)
        assert f"{bad}:5:" in str(err.value)
    assert not (cache_dir / "schema").exists()


def test_compiled_ddl_is_cached_by_model_and_target_schema(cache_dir, tmp_path, monkeypatch):
    compiles = counting(monkeypatch, compiler, "_compile")
    schema = loader.load(unique_yaml(tmp_path))
    a = compiler.compile_schema(schema)
    assert compiler.compile_schema(schema) == a
    assert len(compiles) == 1
    b = compiler.compile_schema(schema, "tenant_x")
    assert len(compiles) == 2
    assert b != a and b[0].sql.startswith("CREATE SCHEMA")


def test_a_corrupt_entry_is_a_miss_not_an_error(cache_dir, tmp_path, monkeypatch):
    path = unique_yaml(tmp_path)
    loader.load(path)
    (entry,) = (cache_dir / "schema").glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    loads = counting(monkeypatch, loader, "loads")
    assert loader.load(path).tables
    assert len(loads) == 1
    assert entry.read_bytes() != b"not a pickle"  # rewritten with a good value


def test_the_cache_can_be_turned_off(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, "0")
    loads = counting(monkeypatch, loader, "loads")
    path = unique_yaml(tmp_path)
    loader.load(path)
    loader.load(path)
    assert len(loads) == 2
    assert not cache_dir.exists()


def test_entries_are_bounded(cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    for i in range(6):
        cache.put("kind", cache.key(str(i)), i)
    assert len(list((cache_dir / "kind").glob("*.pickle"))) == 3
    assert cache.get("kind", cache.key("5")) == 5
    assert cache.get("kind", cache.key("0")) is None


def test_desired_inspection_and_rehearsal_are_reused_until_live_changes(
    cache_dir, dev_server, make_db, tmp_path, monkeypatch
):
    monkeypatch.setenv(quick_rehearsal.ENV, "0")  # the full rehearsal copies and inspects
    schema = loader.load(unique_yaml(tmp_path, tables=3))
    db = make_db()
    inspections = counting(monkeypatch, differ, "inspect")
    copies = counting(monkeypatch, plan, "_rehearsal_copy")
    squawk_runs: list[object] = []
    real_run = lint.subprocess.run

    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        squawk_runs.append(args[0])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(lint, "subprocess", SimpleNamespace(run=run))

    first = plan.build(schema, db, dev_server)
    assert first.statements and len(copies) == 1
    n_inspect = len(inspections)
    second = plan.build(schema, db, dev_server)
    assert second == first
    assert len(copies) == 1, "an identical rehearsal must not run again"
    assert len(inspections) == n_inspect + 1, "only the live database is inspected again"
    assert len(squawk_runs) == 1, "the same statements are not linted again"

    # The rehearsal copies only the planned schema: a change outside it changes nothing...
    other = f"other_{uuid.uuid4().hex[:6]}"
    sql(db, f"CREATE SCHEMA {other}; CREATE TABLE {other}.t (id int)")
    third = plan.build(schema, db, dev_server)
    assert third == first
    assert len(copies) == 1
    # ...and any change inside it, even one the plan does not touch, rehearses again.
    sql(db, "CREATE SEQUENCE public.unrelated_seq")
    plan.build(schema, db, dev_server)
    assert len(copies) == 2


def test_a_failed_rehearsal_is_not_remembered(
    cache_dir, dev_server, make_db, tmp_path, monkeypatch
):
    monkeypatch.setenv(quick_rehearsal.ENV, "0")  # the full rehearsal runs executor.run
    schema = loader.load(unique_yaml(tmp_path, tables=2))
    db = make_db()
    real = executor.run
    broken = {"on": True}

    def failing_upgrade(url, statements, batch=None):  # type: ignore[no-untyped-def]
        # The rehearsal's upgrade silently leaves the last statement out.
        if broken["on"] and batch == plan.REHEARSAL_BATCH and len(statements) > 1:
            statements = statements[:-1]
        return real(url, statements, batch=batch)

    monkeypatch.setattr(executor, "run", failing_upgrade)
    for _ in range(2):
        with pytest.raises(plan.PlanValidationError):
            plan.build(schema, db, dev_server)
    assert not (cache_dir / "rehearsal").exists()
    broken["on"] = False
    assert plan.build(schema, db, dev_server).statements
    assert len(list((cache_dir / "rehearsal").glob("*.pickle"))) == 1


def test_plan_output_is_the_same_with_and_without_the_caches(cli, make_db, tmp_path, dev_server):
    from conftest import dev_args

    path = unique_yaml(tmp_path, tables=3)
    db = make_db()
    args = ["plan", "--schema", str(path), "--database-url", db.sqlalchemy, *dev_args(dev_server)]
    off = cli(*args, env={cache.CACHE_ENV: "0"})
    cold = cli(*args)
    warm = cli(*args)
    assert off.code == cold.code == warm.code == 2, off.text
    assert off.out == cold.out == warm.out
