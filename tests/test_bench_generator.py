"""The benchmark's schema generator makes schemas that load, compile and plan."""

from __future__ import annotations

import sys

from conftest import ROOT, dev_args, scratch_databases, sql

from bindu_schema import loader

sys.path.insert(0, str(ROOT / "bench"))
import schemagen  # noqa: E402


def test_generated_schema_has_the_promised_shape():
    schema = loader.loads(schemagen.generate(3))
    assert [t.name for t in schema.tables] == ["t0000", "t0001", "t0002"]
    for t in schema.tables:
        assert len(t.foreign_keys) == 1 and t.comment and len(t.triggers) == 1
        assert sorted(i.method for i in t.indexes) == ["btree", "btree", "gin"]
        assert sum(1 for i in t.indexes if i.where) == 1
    wider = loader.loads(schemagen.generate(3, extra_column=True))
    assert wider.tables[0].column(schemagen.EXTRA_COLUMN) is not None
    bindu = loader.loads(schemagen.schema_text(4, extra_column=True))
    assert bindu.table("tasks").column(schemagen.EXTRA_COLUMN) is not None  # type: ignore[union-attr]


def test_generated_schema_loads_and_plans(cli, make_db, dev_server, tmp_path):
    path = tmp_path / "gen.yaml"
    path.write_text(schemagen.generate(5))
    db = make_db()
    first = cli(
        "plan", "--schema", str(path), "--database-url", db.sqlalchemy, *dev_args(dev_server)
    )
    assert first.code == 2, first.text
    assert '"public"."t0004"' in first.out
    rendered = cli("render", "--schema", str(path))
    sql(db, rendered.out)
    again = cli(
        "plan", "--schema", str(path), "--database-url", db.sqlalchemy, *dev_args(dev_server)
    )
    assert again.code == 0, again.text
    assert scratch_databases(dev_server) == []


def test_edits_accumulate_one_step_at_a_time():
    """The edit loop's YAMLs: step k has k added columns (or indexes) and the k-th comment."""
    for size, table in ((4, "tasks"), (3, schemagen.table_name(0))):
        base = loader.loads(schemagen.edited(size, "column", 0)).table(table)
        assert base is not None
        for k in (1, 3):
            cols = loader.loads(schemagen.edited(size, "column", k, "x")).table(table)
            assert cols is not None
            assert [c.name for c in cols.columns] == [c.name for c in base.columns] + [
                f"x_note{j}" for j in range(1, k + 1)
            ]
            ixs = loader.loads(schemagen.edited(size, "index", k, "x")).table(table)
            assert ixs is not None and len(ixs.indexes) == len(base.indexes) + k
            com = loader.loads(schemagen.edited(size, "comment", k, "x")).table(table)
            assert com is not None and com.comment == f"(x edit {k}) {base.comment}"
