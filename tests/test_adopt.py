"""`bindu-schema adopt`: take over a database built by Bindu's hand-written migrations."""

from __future__ import annotations

import pytest
from alembic_project import alembic, user_tables, versions
from conftest import ROOT, dev_args, sql

from bindu_schema import apply as applier
from bindu_schema import compile as compiler
from bindu_schema import hazards, loader, pgtools, policy, resources, server

HEAD = versions(ROOT)[-1].name[:13]
FIXTURE = ROOT / "tests" / "fixtures" / "bindu_head.sql"
FOREIGN = "20260418_0001"


def bindu_database(make_db):
    """A database as Bindu's migrations leave it, alembic_version = 20260418_0001."""
    db = make_db()
    if FIXTURE.exists():
        sql(db, FIXTURE.read_text())
    else:  # the fixture is written by another issue; the rendered YAML is equivalent
        schema = loader.load(ROOT / "schema" / "bindu.yaml")
        server.load_ddl(db, compiler.compile_schema(schema))
    sql(
        db,
        "create table if not exists alembic_version "
        "(version_num varchar(32) not null primary key);"
        f"delete from alembic_version; insert into alembic_version values ('{FOREIGN}')",
    )
    return db


def versions_of(db) -> list[str]:
    return [str(r[0]) for r in sql(db, "select version_num from alembic_version")]


def test_adopt_then_apply_changes_nothing(cli, make_db, dev_server):
    db = bindu_database(make_db)
    sql(db, "insert into contexts (id) values ('00000000-0000-0000-0000-000000000001')")
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server)]
    r = cli("adopt", *args)
    assert r.code == 0, r.text
    assert f"{FOREIGN} -> {HEAD}" in r.out
    assert versions_of(db) == [HEAD]

    applied = cli("apply", *args)
    assert applied.code == 0, applied.text
    assert f"already at head {HEAD}" in applied.out
    assert "Running upgrade" not in applied.out
    assert cli("plan", *args).code == 0
    assert sql(db, "select count(*) from contexts")[0][0] == 1
    assert alembic(ROOT, "check", url=db).code == 0

    again = cli("adopt", *args)
    assert again.code == 0, again.text
    assert "already managed" in again.out
    assert versions_of(db) == [HEAD]


def test_adopt_refuses_a_different_schema(cli, make_db, dev_server):
    db = bindu_database(make_db)
    sql(db, "drop index idx_tasks_state; alter table tasks add column legacy text")
    r = cli("adopt", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 1, r.text
    assert "was not adopted" in r.err and "nothing changed" in r.err
    assert "idx_tasks_state" in r.err
    assert 'drop column "legacy"' in r.err
    assert versions_of(db) == [FOREIGN]
    assert "legacy" in str(
        sql(db, "select column_name from information_schema.columns where table_name = 'tasks'")
    )


def test_adopt_with_storage_env_and_asyncpg_url(cli, make_db, dev_server):
    db = bindu_database(make_db)
    url = db.url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    r = cli("adopt", *dev_args(dev_server), env={"STORAGE__POSTGRES_URL": url})
    assert r.code == 0, r.text
    assert versions_of(db) == [HEAD]


def test_adopt_of_an_empty_database_is_refused(cli, make_db, dev_server):
    db = make_db()
    r = cli("adopt", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 1
    assert 'create table "public"."tasks"' in r.err
    assert user_tables(db) == []


# --- from each of Bindu's own revisions (fixtures: pg_dumps of Bindu's migrations) --------

CONTEXT = "00000000-0000-0000-0000-0000000000c1"
TASK = "00000000-0000-0000-0000-0000000000a1"


def at_bindu_revision(make_db, rev: str):
    """A database as Bindu's migrations leave it at rev (stamped rev), with a row or two."""
    db = make_db()
    pgtools.restore_sql(db, resources.bindu_revision_sql(rev))
    sql(
        db,
        f"insert into contexts (id) values ('{CONTEXT}');"
        "insert into tasks (id, context_id, state, state_timestamp) "
        f"values ('{TASK}', '{CONTEXT}', 'submitted', now())",
    )
    return db


@pytest.mark.parametrize("rev", resources.BINDU_REVISIONS)
def test_adopt_from_each_bindu_revision(cli, make_db, dev_server, rev):
    db = at_bindu_revision(make_db, rev)
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server)]
    r = cli("adopt", *args)
    assert r.code == 0, r.text
    assert f"adopted; alembic_version {rev} -> {HEAD}" in r.out
    if rev == resources.BINDU_REVISIONS[-1]:
        assert "-- Plan for" not in r.out  # Bindu's head is ours: a stamp only
    else:
        assert f"-- Plan for {db.safe} (Bindu's revision {rev})" in r.out
        assert 'add column "owner_did"' in r.out and "statement(s) run" in r.out
    assert versions_of(db) == [HEAD]
    assert sql(db, "select count(*) from tasks")[0][0] == 1
    checked = cli("check", *args)
    assert checked.code == 0, checked.text
    applied = cli("apply", *args)
    assert applied.code == 0 and "already at head" in applied.out, applied.text


def test_adopt_consent_refuses_the_plan_and_changes_nothing(make_db, dev_server):
    db = at_bindu_revision(make_db, "20251207_0001")
    shown = []
    with pytest.raises(policy.RefusedError, match="INDEX_DROPPED|DROPS_INDEX|--allow-hazards"):
        applier.adopt(
            ROOT / "schema" / "bindu.yaml",
            db,
            dev_server,
            ini=ROOT / "alembic.ini",
            blocked_hazards=frozenset(hazards.ALL),
            show=shown.append,
        )
    assert len(shown) == 1 and shown[0].statements  # the plan was shown before the refusal
    assert versions_of(db) == ["20251207_0001"]
    assert not sql(db, "select 1 from pg_tables where tablename = 'webhook_configs'")


def test_adopt_names_the_closest_revision_when_none_matches(cli, make_db, dev_server):
    db = at_bindu_revision(make_db, "20250614_0001")
    sql(db, "drop index idx_tasks_state")
    r = cli("adopt", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 1, r.text
    assert "matches none of Bindu's revisions" in r.err
    assert "closest: Bindu's revision 20250614_0001 (1 statement(s) apart)" in r.err
    assert "Statements from the database to Bindu's revision 20250614_0001" in r.err
    assert "idx_tasks_state" in r.err
    assert versions_of(db) == ["20250614_0001"]


def test_apply_on_a_bindu_revision_says_to_adopt(cli, make_db, dev_server):
    db = at_bindu_revision(make_db, "20260119_0001")
    r = cli("apply", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 1
    assert "20260119_0001 is Bindu's own revision: run `bindu-schema adopt` once" in r.err
    assert versions_of(db) == ["20260119_0001"]
