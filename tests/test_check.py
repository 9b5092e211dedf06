"""`bindu-schema check`: passes on the committed tree, fails with the reason for each of a
YAML edit without a revision, two heads, a downgrade that leaves something behind, a
hand-edited revision, and a live database with an extra index."""

from __future__ import annotations

import json
import re
from pathlib import Path

from alembic_project import alembic, make_project, ok, project_args, revision_in, versions
from conftest import ROOT, dev_args, sql

BINDU = (ROOT / "schema" / "bindu.yaml").read_text()
EXTRA_COLUMN = BINDU.replace(
    "      owner_did: {type: varchar(255)}\n    primary_key: {name: tasks_pkey",
    "      owner_did: {type: varchar(255)}\n      priority: {type: integer}\n"
    "    primary_key: {name: tasks_pkey",
)


def check(cli, proj: Path, dev, *extra: str):
    doc = ["--doc", str(proj / "none.md")]
    return cli("check", "--format", "json", *project_args(proj, None, dev), *doc, *extra)


def failed(result) -> dict[str, dict]:
    data = json.loads(result.out)
    return {c["name"]: c for c in data["checks"] if not c["ok"]}


def project(tmp_path, cli, dev):
    proj = make_project(tmp_path, BINDU)
    ok(revision_in(cli, proj, dev, "base"))
    return proj


def test_committed_tree_passes(cli, dev_server):
    r = cli("check", *dev_args(dev_server))
    assert r.code == 0, r.text
    assert "5 of 5 checks passed" in r.out


def test_clean_project_passes_and_yaml_edit_fails(tmp_path, cli, dev_server):
    assert EXTRA_COLUMN != BINDU
    proj = project(tmp_path, cli, dev_server)
    clean = check(cli, proj, dev_server)
    assert clean.code == 0, clean.text
    (proj / "schema" / "bindu.yaml").write_text(EXTRA_COLUMN)
    r = check(cli, proj, dev_server)
    assert r.code == 1
    bad = failed(r)
    assert set(bad) == {"revisions match YAML"}
    assert "make revision" in bad["revisions match YAML"]["message"]
    assert any('"priority"' in s for s in bad["revisions match YAML"]["diff"])


def test_two_heads(tmp_path, cli, dev_server):
    proj = project(tmp_path, cli, dev_server)
    (proj / "schema" / "bindu.yaml").write_text(EXTRA_COLUMN)
    ok(revision_in(cli, proj, dev_server, "priority"))
    second = versions(proj)[-1]
    twin = second.with_name(second.name.replace("_0002_", "_0003_"))
    twin.write_text(second.read_text().replace(second.name[:13], twin.name[:13]))
    r = check(cli, proj, dev_server)
    assert r.code == 1
    bad = failed(r)
    assert "one head" in bad
    assert "2 heads" in bad["one head"]["message"]
    assert "alembic merge heads" in bad["one head"]["message"]


def _edit_downgrade(path: Path, allow: bool) -> None:
    text = path.read_text()
    body = text.split("def downgrade() -> None:\n", 1)
    new_down = "def downgrade() -> None:\n    pass\n"
    if allow:
        body[0] = (
            body[0]
            .replace('"""', '"""\nhand edits: allowed\n', 1)
            .replace('"""\nhand edits: allowed\n', '"""', 1)
        )
        body[0] = re.sub(r'("""[^\n]*\n)', r"\1\nhand edits: allowed\n", body[0], count=1)
    path.write_text(body[0] + new_down)


def test_downgrade_that_leaves_something_behind(tmp_path, cli, dev_server):
    proj = project(tmp_path, cli, dev_server)
    (proj / "schema" / "bindu.yaml").write_text(EXTRA_COLUMN)
    ok(revision_in(cli, proj, dev_server, "priority"))
    _edit_downgrade(versions(proj)[-1], allow=True)
    assert "hand edits: allowed" in versions(proj)[-1].read_text()
    r = check(cli, proj, dev_server)
    assert r.code == 1
    bad = failed(r)
    assert set(bad) == {"downgrades"}
    assert versions(proj)[-1].name in bad["downgrades"]["message"]
    assert any("priority" in s for s in bad["downgrades"]["diff"])


def test_hand_edited_revision(tmp_path, cli, dev_server):
    proj = project(tmp_path, cli, dev_server)
    path = versions(proj)[0]
    text = path.read_text()
    assert "'task'::character varying" in text
    path.write_text(text.replace("'task'::character varying", "'job'::character varying", 1))
    r = check(cli, proj, dev_server)
    assert r.code == 1
    bad = failed(r)
    assert "no hand edits" in bad
    assert path.name in bad["no hand edits"]["message"]


def test_live_database_with_an_extra_index(tmp_path, cli, dev_server, make_db):
    proj = project(tmp_path, cli, dev_server)
    db = make_db()
    ok(alembic(proj, "upgrade", "head", url=db))
    assert check(cli, proj, dev_server, "--database-url", db.sqlalchemy).code == 0
    sql(db, "create index idx_extra on tasks (kind)")
    r = check(cli, proj, dev_server, "--database-url", db.sqlalchemy)
    assert r.code == 1
    bad = failed(r)
    assert set(bad) == {"live has no drift"}
    assert any("idx_extra" in s for s in bad["live has no drift"]["diff"])


def test_live_database_behind_head(tmp_path, cli, dev_server, make_db):
    proj = project(tmp_path, cli, dev_server)
    db = make_db()
    r = check(cli, proj, dev_server, "--database-url", db.sqlalchemy)
    assert r.code == 1
    assert "live at head" in failed(r)
    text = cli("check", *project_args(proj, db, dev_server), "--doc", str(proj / "none.md"))
    assert "FAIL live at head" in text.out and "bindu-schema apply" in text.out


def test_revision_dry_run_shows_statements_and_writes_nothing(tmp_path, cli, dev_server):
    proj = project(tmp_path, cli, dev_server)
    (proj / "schema" / "bindu.yaml").write_text(EXTRA_COLUMN)
    before = versions(proj)
    args = ["revision", "-m", "priority", "--dry-run", *project_args(proj, None, dev_server)]
    text = cli(*args)
    assert text.code == 2, text.text
    assert 'add column "priority" integer' in text.out
    assert "-- downgrade:" in text.out and 'drop column "priority"' in text.out
    data = json.loads(cli(*args, "--format", "json").out)
    assert any('"priority"' in s["sql"] for s in data["statements"])
    md = cli(*args, "--format", "markdown")
    assert md.code == 2 and "```sql" in md.out
    assert versions(proj) == before
