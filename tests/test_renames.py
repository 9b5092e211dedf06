"""renamed_from hints: RENAME instead of drop + add; harmless once applied; an error when
the old name exists nowhere."""

from __future__ import annotations

import json

from conftest import plan_json, sql

BEFORE = """
create table t (id integer primary key, state varchar(50));
create index idx_t_state on t (state);
insert into t values (1, 'open'), (2, 'done');
"""

AFTER = """
version: 1
tables:
  tickets:
    renamed_from: t
    columns:
      id: {type: integer, nullable: false}
      status: {type: varchar(50), renamed_from: state}
    primary_key: {name: t_pkey, columns: [id]}
    indexes:
      idx_tickets_status: {columns: [status], renamed_from: idx_t_state}
"""


def test_rename_table_column_index_keeps_rows(cli, make_db, dev_server, tmp_path):
    db = make_db()
    sql(db, BEFORE)
    schema = tmp_path / "s.yaml"
    schema.write_text(AFTER)
    r = plan_json(cli, schema, db, dev_server)
    assert r.code == 2, r.text
    stmts = [s["sql"] for s in json.loads(r.out)["statements"]]
    assert stmts == [
        "ALTER TABLE public.t RENAME TO tickets;",
        "ALTER TABLE public.tickets RENAME COLUMN state TO status;",
        "ALTER INDEX public.idx_t_state RENAME TO idx_tickets_status;",
    ]
    assert not any("drop" in s.lower() for s in stmts)
    for s in stmts:
        sql(db, s)
    assert sql(db, "select id, status from tickets order by id") == [(1, "open"), (2, "done")]
    # Applied: the hints are now harmless.
    again = plan_json(cli, schema, db, dev_server)
    assert again.code == 0, again.text


def test_rename_hint_matching_nothing_is_an_error(cli, make_db, dev_server, tmp_path):
    db = make_db()
    sql(db, BEFORE)
    schema = tmp_path / "s.yaml"
    schema.write_text(AFTER.replace("renamed_from: state", "renamed_from: stat"))
    r = plan_json(cli, schema, db, dev_server)
    assert r.code == 1
    assert "column 'tickets.status': renamed_from 'stat' matches nothing" in r.err
    assert "Traceback" not in r.text
