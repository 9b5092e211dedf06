"""Issue 4 through real revisions: consent for DELETES_DATA (exit 3), renames that keep
rows, and an index added CONCURRENTLY to a populated table under write load."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic_project import alembic, make_project, ok, project_args, revision_in, versions
from conftest import ROOT, sql

from bindu_schema import server

BINDU = (ROOT / "schema" / "bindu.yaml").read_text()
CONTEXT = "00000000-0000-0000-0000-000000000001"


def apply(cli, proj: Path, db, dev, *extra: str):
    return cli("apply", *project_args(proj, db, dev), *extra)


def columns(db, table: str) -> list[str]:
    rows = sql(
        db,
        f"select column_name from information_schema.columns where table_name = "
        f"'{table}' order by ordinal_position",
    )
    return [str(r[0]) for r in rows]


def base_project(tmp_path, cli, dev_server, make_db):
    proj = make_project(tmp_path, BINDU)
    ok(revision_in(cli, proj, dev_server, "base"))
    db = make_db()
    ok(alembic(proj, "upgrade", "head", url=db))
    sql(
        db,
        f"insert into contexts (id) values ('{CONTEXT}');"
        f"insert into tasks (id, context_id, state, state_timestamp, owner_did) "
        f"select gen_random_uuid(), '{CONTEXT}', 'working', now(), 'did:x' "
        f"from generate_series(1, 10)",
    )
    return proj, db


def test_drop_column_needs_consent(tmp_path, cli, dev_server, make_db):
    proj, db = base_project(tmp_path, cli, dev_server, make_db)
    [base] = versions(proj)
    head, tasks = BINDU.split("\n  tasks:\n", 1)
    tasks = tasks.replace("      owner_did: {type: varchar(255)}\n", "", 1).replace(
        "      idx_tasks_owner_did: {columns: [owner_did]}\n", ""
    )
    after = head + "\n  tasks:\n" + tasks
    assert after.count("owner_did") == BINDU.count("owner_did") - 3
    (proj / "schema" / "bindu.yaml").write_text(after)

    refused = revision_in(cli, proj, dev_server, "drop owner did")
    assert refused.code == 3, refused.text
    assert "DELETES_DATA" in refused.err and 'drop column "owner_did"' in refused.err
    assert "--allow-hazards DELETES_DATA" in refused.err
    assert versions(proj) == [base]

    accepted = revision_in(
        cli, proj, dev_server, "drop owner did", "--allow-hazards", "DELETES_DATA"
    )
    assert accepted.code == 0, accepted.text
    [new] = [p for p in versions(proj) if p != base]
    assert "DELETES_DATA" in new.read_text()

    # apply refuses the pending revision the same way, and changes nothing.
    before_version = sql(db, "select version_num from alembic_version")
    no = apply(cli, proj, db, dev_server)
    assert no.code == 3, no.text
    assert "DELETES_DATA" in no.err and "owner_did" in no.err
    assert sql(db, "select version_num from alembic_version") == before_version
    assert "owner_did" in columns(db, "tasks")

    yes = apply(cli, proj, db, dev_server, "--allow-hazards", "DELETES_DATA")
    assert yes.code == 0, yes.text
    assert "owner_did" not in columns(db, "tasks")


def test_unknown_hazard_name_is_an_error(tmp_path, cli, dev_server):
    proj = make_project(tmp_path, BINDU)
    r = revision_in(cli, proj, dev_server, "x", "--allow-hazards", "DELETES_EVERYTHING")
    assert r.code == 1
    assert "unknown hazard type 'DELETES_EVERYTHING'" in r.err
    assert versions(proj) == []


def test_rename_column_keeps_rows_through_alembic(tmp_path, cli, dev_server, make_db):
    proj, db = base_project(tmp_path, cli, dev_server, make_db)
    after = BINDU.replace(
        "      state: {type: varchar(50), nullable: false}",
        "      status: {type: varchar(50), nullable: false, renamed_from: state}",
    ).replace("idx_tasks_state: {columns: [state]}", "idx_tasks_state: {columns: [status]}")
    assert after != BINDU
    (proj / "schema" / "bindu.yaml").write_text(after)
    r = revision_in(cli, proj, dev_server, "rename state")
    assert r.code == 0, r.text
    text = versions(proj)[-1].read_text()
    assert "RENAME COLUMN state TO status" in text
    assert "drop column" not in text.lower()

    ok(alembic(proj, "upgrade", "head", url=db))
    assert sql(db, "select count(*) from tasks where status = 'working'") == [(10,)]
    assert "state" not in columns(db, "tasks")
    ok(alembic(proj, "downgrade", "-1", url=db))
    assert sql(db, "select count(*) from tasks where state = 'working'") == [(10,)]
    assert "status" not in columns(db, "tasks")


def test_index_on_populated_table_is_built_concurrently(tmp_path, cli, dev_server, make_db):
    proj, db = base_project(tmp_path, cli, dev_server, make_db)
    sql(
        db,
        f"insert into tasks (id, context_id, state, state_timestamp) "
        f"select gen_random_uuid(), '{CONTEXT}', 'submitted', now() "
        f"from generate_series(1, 100000)",
    )
    after = BINDU.replace(
        "      idx_tasks_state: {columns: [state]}",
        "      idx_tasks_state: {columns: [state]}\n      idx_tasks_kind: {columns: [kind]}",
    )
    (proj / "schema" / "bindu.yaml").write_text(after)
    ok(revision_in(cli, proj, dev_server, "index kind"))
    text = versions(proj)[-1].read_text()
    assert "autocommit_block()" in text
    assert "CREATE INDEX CONCURRENTLY idx_tasks_kind" in text

    stop = threading.Event()
    inserted = [0]

    def writer() -> None:
        conn = server.connect(db, autocommit=True)
        with conn.cursor() as cur:
            for _ in range(200_000):  # bounded even if stop never comes
                if stop.is_set():
                    break
                cur.execute(
                    "insert into tasks (id, context_id, state, state_timestamp) "
                    "values (gen_random_uuid(), %s, 'live', now())",
                    (CONTEXT,),
                )
                inserted[0] += 1
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        while inserted[0] == 0:  # the writer is running before the migration starts
            stop.wait(0.01)
        at_start = inserted[0]
        result = alembic(proj, "upgrade", "head", url=db)
        at_end = inserted[0]
    finally:
        stop.set()
        t.join(timeout=60)
    assert result.code == 0, result.text
    assert at_end > at_start, "writes were blocked while the index was built"
    valid = sql(db, "select indisvalid from pg_index where indexrelid = 'idx_tasks_kind'::regclass")
    assert valid == [(True,)]
    assert sql(db, "select count(*) from tasks where state = 'live'") == [(inserted[0],)]


ENUMS = """version: 1
enums: {state: {values: [submitted, working, done]}}
tables:
  jobs:
    columns: {id: {type: integer, nullable: false}, state: {type: state}}
    primary_key: {columns: [id]}
"""


def test_enum_value_removed_needs_consent(tmp_path, cli, dev_server, make_db):
    """An enum that loses a value is rebuilt (ENUM_REBUILD): refused unless allowed; a row
    holding the removed value makes the upgrade fail (nothing changed), then it runs."""
    proj = make_project(tmp_path, ENUMS)
    ok(revision_in(cli, proj, dev_server, "base"))
    [base] = versions(proj)
    (proj / "schema" / "bindu.yaml").write_text(ENUMS.replace("working, done", "done"))

    refused = revision_in(cli, proj, dev_server, "drop working")
    assert refused.code == 3, refused.text
    # the recast through text also counts as a narrowing type change (DELETES_DATA)
    assert "--allow-hazards DELETES_DATA,ENUM_REBUILD" in refused.err, refused.err
    assert versions(proj) == [base]
    allow = ("--allow-hazards", "DELETES_DATA,ENUM_REBUILD")
    ok(revision_in(cli, proj, dev_server, "drop working", *allow))

    db = make_db()
    ok(alembic(proj, "upgrade", "+1", url=db))
    sql(db, "insert into jobs values (1, 'working')")
    failed = alembic(proj, "upgrade", "head", url=db)
    assert failed.code != 0
    assert "invalid input value for enum" in failed.text
    assert sql(db, "select state::text from jobs") == [("working",)]
    sql(db, "update jobs set state = 'done'")
    ok(alembic(proj, "upgrade", "head", url=db))
    assert sql(db, "select enum_range(null::state)::text") == [("{submitted,done}",)]
