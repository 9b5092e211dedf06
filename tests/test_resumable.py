"""A change whose transactional statements come before a CONCURRENTLY block is written as
several revisions (resumable.py), so a failed index build is resumed by re-running
`alembic upgrade head`, with no manual recovery. Real PostgreSQL for the end-to-end case."""

from __future__ import annotations

import pytest
from alembic_project import alembic, make_project, ok, revision_in, versions
from conftest import ROOT, sql

from bindu_schema import differ, model, resumable
from bindu_schema.plan import Statement


def st(sql_text: str) -> Statement:
    return Statement.of(sql_text)


ADD = st('alter table "tasks" add column "note" text default \'x\'::text')
INDEX = st("CREATE UNIQUE INDEX CONCURRENTLY idx_tasks_note ON tasks USING btree (note)")
USE = st('alter table "tasks" add constraint "tasks_note_key" unique using index "idx_tasks_note"')
DROP_KEY = st('alter table "tasks" drop constraint "tasks_note_key"')
DROP_INDEX = st('drop index concurrently if exists "idx_tasks_note"')
DROP_COLUMN = st('alter table "tasks" drop column "note"')


def test_split_before_a_block_that_follows_a_transactional_statement():
    parts = resumable.split([ADD, INDEX, USE], [DROP_KEY, DROP_INDEX, DROP_COLUMN])
    assert parts == [
        ((ADD,), (DROP_COLUMN,)),
        ((INDEX, USE), (DROP_KEY, DROP_INDEX)),
    ]


@pytest.mark.parametrize(
    "up",
    [[ADD], [INDEX], [INDEX, USE], [INDEX, ADD, USE]],
    ids=["transactional", "block", "block first", "block, then transaction"],
)
def test_no_split_when_no_transaction_precedes_a_block(up):
    assert resumable.split(up, [DROP_COLUMN]) == [(tuple(up), (DROP_COLUMN,))]


def test_downgrades_go_to_the_part_that_first_touched_the_object():
    validate = st('alter table "tasks" validate constraint "tasks_note_check"')
    check = st(
        'alter table "tasks" add constraint "tasks_note_check" check (note <> \'\') not valid'
    )
    drop_check = st('alter table "tasks" drop constraint "tasks_note_check"')
    unknown = st('drop function if exists "f"()')
    parts = resumable.split([ADD, check, validate], [drop_check, DROP_COLUMN, unknown])
    assert [p[0] for p in parts] == [(ADD, check), (validate,)]
    # The constraint was added by part 1: its drop undoes part 1, not the VALIDATE.
    assert [p[1] for p in parts] == [(drop_check, DROP_COLUMN, unknown), ()]


def with_note(text: str) -> str:
    """tasks.note with one default for every row, and a unique index on it."""
    owner = "      owner_did: {type: varchar(255)}\n"
    at = text.index(owner, text.index("\n  tasks:\n")) + len(owner)
    text = text[:at] + "      note: {type: text, default: \"'x'::text\"}\n" + text[at:]
    index = "      idx_tasks_owner_did: {columns: [owner_did]}\n"
    return text.replace(index, index + "      idx_tasks_note: {columns: [note], unique: true}\n")


def test_a_failed_index_build_is_resumed_by_upgrade_head(tmp_path, cli, make_db, dev_server):
    base = (ROOT / "schema" / "bindu.yaml").read_text()
    proj = make_project(tmp_path, base, with_versions=True)
    initial = versions(proj)[-1].name[:13]
    (proj / "schema" / "bindu.yaml").write_text(with_note(base))
    r = revision_in(cli, proj, dev_server, "task note")
    assert r.code == 0, r.text
    assert "split into 2 revisions" in r.out
    first, second = versions(proj)[-2:]
    assert "autocommit_block" not in first.read_text()
    assert "add column" in first.read_text()
    body = second.read_text().split("def upgrade", 1)[1].split("def downgrade")[0]
    assert "autocommit_block" in body and "CONCURRENTLY" in body and "add column" not in body

    db = make_db()
    ok(alembic(proj, "upgrade", initial, url=db))
    ctx = "00000000-0000-0000-0000-000000000001"
    sql(
        db,
        f"insert into contexts (id) values ('{ctx}');"
        "insert into tasks (id, context_id, kind, state, state_timestamp) values "
        f"(gen_random_uuid(), '{ctx}', 'task', 'working', now()),"
        f"(gen_random_uuid(), '{ctx}', 'task', 'completed', now());",
    )
    # Every existing row gets note 'x': the unique index build fails in part 2.
    failed = alembic(proj, "upgrade", "head", url=db)
    assert failed.code != 0
    assert "could not create unique index" in failed.text
    assert sql(db, "select version_num from alembic_version") == [(first.name[:13],)]
    assert sql(db, "select count(*) from tasks where note = 'x'") == [(2,)]

    # The fix is in the data; re-running the same command resumes at part 2.
    sql(db, "update tasks set note = id::text")
    ok(alembic(proj, "upgrade", "head", url=db))
    assert sql(db, "select version_num from alembic_version") == [(second.name[:13],)]
    assert sql(
        db, "select indisvalid from pg_index where indexrelid = 'idx_tasks_note'::regclass"
    ) == [(True,)]

    # And back, one part at a time, rows kept.
    ok(alembic(proj, "downgrade", "-1", url=db))
    assert sql(db, "select count(*) from pg_class where relname = 'idx_tasks_note'") == [(0,)]
    ok(alembic(proj, "downgrade", "-1", url=db))
    assert sql(db, "select version_num from alembic_version") == [(initial,)]
    assert sql(db, "select count(*) from tasks") == [(2,)]
    before = make_db()
    ok(alembic(proj, "upgrade", initial, url=before))
    assert differ.diff(db, before, model.Exclude()) == []


def test_a_split_that_fails_validation_writes_nothing(tmp_path, cli, dev_server, monkeypatch):
    """No silent fallback to one revision mixing a transaction with CONCURRENTLY steps:
    exit 1, the reason and what to do, no file written."""
    base = (ROOT / "schema" / "bindu.yaml").read_text()
    proj = make_project(tmp_path, base, with_versions=True)
    (proj / "schema" / "bindu.yaml").write_text(with_note(base))
    real = resumable.split

    def wrong_downgrades(up, down):  # type: ignore[no-untyped-def]
        parts = real(up, down)
        # Every downgrade in the first part: undoing part 2 would leave its index behind.
        return [(u, tuple(down) if k == 0 else ()) for k, (u, _) in enumerate(parts)]

    monkeypatch.setattr(resumable, "split", wrong_downgrades)
    before = versions(proj)
    r = revision_in(cli, proj, dev_server, "task note")
    assert r.code == 1, r.text
    assert "did not validate, so nothing was written" in r.err and "two edits" in r.err
    assert "Traceback" not in r.err
    assert versions(proj) == before
