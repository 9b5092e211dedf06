"""A % in a comment or default reaches PostgreSQL as one %, and plans converge."""

from __future__ import annotations

from conftest import dev_args, sql

from bindu_schema import compile as compiler
from bindu_schema import loader, server

YAML = """
version: 1
tables:
  t:
    comment: 100% sure
    columns:
      a: {type: text, default: "'5%'", comment: "a % b"}
"""


def test_percent_is_not_doubled(cli, make_db, dev_server, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(YAML)
    ddl = compiler.compile_schema(loader.load(path))
    assert "%%" not in compiler.render(ddl)
    db = make_db()
    server.load_ddl(db, ddl)
    assert sql(db, "select obj_description('t'::regclass)") == [("100% sure",)]
    r = cli("plan", "--schema", str(path), "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert r.code == 0, r.text
