"""plan for a role that owns nothing (issue 14, item 6): its rehearsal dumps only the
schema being planned, so a schema the role may not read (another tenant's) does not stop
it; what it lacks on the planned schema is named by PostgreSQL's message, no traceback."""

from __future__ import annotations

import uuid

import pytest
from conftest import ROOT, dev_args, sql

YAML = """\
version: 1
tables:
  notes:
    columns:
      id: {type: integer, nullable: false}
      body: {type: text}
    primary_key: {name: notes_pkey, columns: [id]}
  extra:
    columns:
      id: {type: integer, nullable: false}
"""


@pytest.fixture
def reader(make_db):
    """A database with `notes` (owned by the superuser) and a schema the role cannot use,
    and a login role with only USAGE on public and SELECT on its tables."""
    db = make_db()
    role = "bindu_test_reader_" + uuid.uuid4().hex[:6]
    sql(
        db,
        "create table notes (id integer not null, body text, constraint notes_pkey "
        "primary key (id)); create schema did_other; create table did_other.private (x int); "
        f"create role {role} login; grant usage on schema public to {role}; "
        f"grant select on all tables in schema public to {role}; "
        f"revoke all on schema did_other from {role}",
    )
    yield db, db.url.set(username=role).render_as_string(hide_password=False)
    sql(db, f"drop owned by {role}; drop role {role}")


@pytest.mark.acceptance
def test_plan_as_a_reader_rehearses_only_its_schema(cli_proc, reader, dev_server, tmp_path):
    db, url = reader
    path = tmp_path / "schema.yaml"
    path.write_text(YAML)
    r = cli_proc(
        "plan", "--schema", str(path), "--database-url", url, *dev_args(dev_server), cwd=ROOT
    )
    assert r.code == 2, r.text  # the rehearsal ran (pg_dump of public only) and passed
    assert "create table" in r.out.lower() and "extra" in r.out
    assert "did_other" not in r.out
    assert "Traceback" not in r.text


def test_missing_select_is_named(cli_proc, reader, dev_server, tmp_path):
    db, url = reader
    role = url.split("://", 1)[1].split("@", 1)[0]
    sql(db, f"revoke select on notes from {role}")
    path = tmp_path / "schema.yaml"
    path.write_text(YAML)
    r = cli_proc(
        "plan", "--schema", str(path), "--database-url", url, *dev_args(dev_server), cwd=ROOT
    )
    assert r.code == 1, r.text
    assert "permission denied" in r.err and "notes" in r.err, r.err
    assert "Traceback" not in r.text


FUNCTION_YAML = """\
version: 1
functions:
  touch_updated_at:
    returns: trigger
    language: plpgsql
    body: |
      BEGIN
          NEW.updated_at = NOW();
          RETURN NEW;
      END;
tables:
  notes:
    columns:
      id: {type: integer, nullable: false}
      body: {type: text}
      updated_at: {type: timestamptz}
    primary_key: {name: notes_pkey, columns: [id]}
"""


@pytest.mark.acceptance
def test_functions_owned_by_another_role_are_not_phantom_changes(
    cli_proc, make_db, dev_server, tmp_path
):
    from bindu_schema import compile as compiler
    from bindu_schema import loader

    db = make_db()
    path = tmp_path / "schema.yaml"
    path.write_text(FUNCTION_YAML)
    ddl = compiler.compile_schema(loader.load(path))
    sql(db, "\n;\n".join(d.sql for d in ddl))  # owned by the superuser
    role = "bindu_test_nonowner_" + uuid.uuid4().hex[:6]
    sql(
        db,
        f"create role {role} login; grant usage on schema public to {role}; "
        f"grant select on all tables in schema public to {role}",
    )
    try:
        url = db.url.set(username=role).render_as_string(hide_password=False)
        r = cli_proc(
            "plan", "--schema", str(path), "--database-url", url, *dev_args(dev_server), cwd=ROOT
        )
        assert r.code == 0, r.text  # no phantom CREATE OR REPLACE FUNCTION
        assert "No changes" in r.out
    finally:
        sql(db, f"drop owned by {role}; drop role {role}")
