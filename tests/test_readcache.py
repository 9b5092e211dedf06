"""What `plan` reads from the live database is reused only while its schema is unchanged
(readcache.py, issue 18's edit loop)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from conftest import plan_json, sql

from bindu_schema import compile as compiler
from bindu_schema import differ, loader, readcache

YAML = """\
version: 1
tables:
  notes:
    columns:
      id: {type: bigint, nullable: false}
      body: {type: text}
    primary_key: {columns: [id]}
"""


@pytest.fixture
def role(dev_server):  # type: ignore[no-untyped-def]
    name = f"bindu_rc_{uuid.uuid4().hex[:8]}"
    sql(dev_server, f'CREATE ROLE "{name}"')
    names = [name]
    yield names
    for n in names:
        sql(dev_server, f'DROP ROLE IF EXISTS "{n}"')


def test_the_token_follows_the_schema_not_the_data(make_db, role):
    db = make_db()
    sql(db, "CREATE TABLE t (id int PRIMARY KEY, note text)")
    assert readcache.token(db) is None  # not the target of a plan: never cached
    readcache.remember(db)
    first = readcache.token(db)
    assert first is not None and first == readcache.token(db)
    sql(db, "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 500) AS g")
    sql(db, "VACUUM ANALYZE t")
    sql(db, "UPDATE t SET note = 'y'")
    assert readcache.token(db) == first  # rows and statistics are not the schema
    seen = {first}
    for change in (
        "ALTER TABLE t ADD COLUMN c int",
        "ALTER TABLE t DROP COLUMN c",  # back to the same columns: still another token
        "COMMENT ON TABLE t IS 'x'",
        "CREATE INDEX CONCURRENTLY t_note ON t (note)",
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'z'",
        f'GRANT SELECT ON t TO "{role[0]}"',
        f'ALTER ROLE "{role[0]}" RENAME TO "{role[0]}_x"',
    ):
        if "RENAME" in change:
            role.append(f"{role[0]}_x")
        sql(db, change)
        now = readcache.token(db)
        assert now is not None and now not in seen, change
        seen.add(now)
    sql(db, f'REVOKE ALL ON t FROM "{role[-1]}"')  # so the role can be dropped


def test_the_switch_turns_it_off(make_db, monkeypatch):
    db = make_db()
    readcache.remember(db)
    assert readcache.token(db) is not None
    monkeypatch.setenv(readcache.LIVE_READ_CACHE_ENV, "0")
    assert readcache.token(db) is None


def _load(db, text: str, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / f"s-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    sql(db, compiler.render(compiler.compile_schema(loader.load(path))))
    return path


def _plan(cli, path, live, dev):  # type: ignore[no-untyped-def]
    res = plan_json(cli, path, live, dev)
    assert res.code in (0, 2), res.text
    return json.loads(res.out)


def test_plan_reuses_the_live_inspection_and_still_sees_a_hand_change(
    cli, make_db, dev_server, tmp_path, monkeypatch
):
    live = make_db()
    path = _load(live, YAML, tmp_path)
    inspected: list[str] = []
    real = differ.inspect

    def counting(url, schema="public"):  # type: ignore[no-untyped-def]
        inspected.append(url.database or "")
        return real(url, schema)

    monkeypatch.setattr(differ, "inspect", counting)
    assert _plan(cli, path, live, dev_server)["statements"] == []
    # An edit of the YAML: the live database is the same, so only the new desired
    # database is inspected.
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        YAML.replace("body: {type: text}", "body: {type: text}\n      n: {type: int}")
    )
    inspected.clear()
    got = _plan(cli, edited, live, dev_server)
    assert [s["sql"] for s in got["statements"]] == [
        'alter table "public"."notes" add column "n" integer;'
    ]
    assert live.database not in inspected and len(inspected) == 1, inspected
    # Changed by hand: read again, and the plan says so.
    sql(live, "ALTER TABLE notes ADD COLUMN extra text")
    inspected.clear()
    got = _plan(cli, edited, live, dev_server)
    assert live.database in inspected
    assert any('drop column "extra"' in s["sql"] for s in got["statements"]), got
    # The same plan as without the cache.
    monkeypatch.setenv(readcache.LIVE_READ_CACHE_ENV, "0")
    assert _plan(cli, edited, live, dev_server)["statements"] == got["statements"]


def test_a_plan_reads_the_live_token_once_when_everything_hits(
    cli, make_db, dev_server, tmp_path, monkeypatch
):
    """plan.build pins live's token (readcache.pinned): after an edit every read of live
    hits the cache, and the token is read once, not once per read."""
    live = make_db()
    path = _load(live, YAML, tmp_path)
    assert _plan(cli, path, live, dev_server)["statements"] == []
    reads: list[str] = []
    real = readcache.live_token
    monkeypatch.setattr(
        readcache, "live_token", lambda url: reads.append(url.database or "") or real(url)
    )
    for n, added in enumerate(["m: {type: int}", "m: {type: int}\n      k: {type: int}"]):
        edited = tmp_path / f"edited{n}.yaml"
        body = f"body: {{type: text}}\n      {added}"
        edited.write_text(YAML.replace("body: {type: text}", body))
        reads.clear()
        got = _plan(cli, edited, live, dev_server)
        assert len(got["statements"]) == n + 1
    # The second edit: every read of live (inspection, snapshot, facts, the rehearsal's
    # dump, cached by the first) hits, under one token read; switched off, one per read.
    assert reads == [live.database], reads
    monkeypatch.setenv(readcache.PIN_ENV, "0")
    body = "body: {type: text}\n      j: {type: int}"
    edited.write_text(YAML.replace("body: {type: text}", body))
    reads.clear()
    assert len(_plan(cli, edited, live, dev_server)["statements"]) == 1
    assert len(reads) > 1, reads


def test_a_pinned_token_moves_on_when_a_read_saw_a_change(make_db):
    db = make_db()
    sql(db, "CREATE TABLE t (id int)")
    readcache.remember(db)
    kind = f"test-{uuid.uuid4().hex[:6]}"
    with readcache.pinned(db):
        first = readcache.token(db)
        assert first is not None and readcache.token(db) == first

        def read_while_changing() -> str:
            sql(db, "ALTER TABLE t ADD COLUMN n int")
            return "value"

        assert readcache.cached(kind, db, (), read_while_changing, lambda h: True) == "value"
        moved = readcache.token(db)
        assert moved is not None and moved != first
        # not kept: the value was read while the catalog changed
        assert readcache.peek(kind, db, (), lambda h: True) is None
    assert readcache.token(db) == moved  # read afresh outside, the same catalog
