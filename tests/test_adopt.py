"""`bindu-schema adopt`: take over a database built by Bindu's hand-written migrations."""

from __future__ import annotations

from alembic_project import alembic, user_tables, versions
from conftest import ROOT, dev_args, sql

from bindu_schema import compile as compiler
from bindu_schema import loader, server

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
