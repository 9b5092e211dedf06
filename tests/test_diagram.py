"""`bindu-schema diagram` and docs/schema.md (which `check` will call check_doc on)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, Result

from bindu_schema import diagram, loader

BINDU_YAML = ROOT / "schema" / "bindu.yaml"
DOC = ROOT / "docs" / "schema.md"
CASES = ROOT / "tests" / "golden" / "cases"

Cli = Callable[..., Result]


def test_committed_doc_is_current() -> None:
    reason = diagram.check_doc(DOC, loader.load(BINDU_YAML))
    assert reason is None, reason


def test_a_changed_yaml_makes_the_doc_out_of_date(tmp_path: Path) -> None:
    text = BINDU_YAML.read_text()
    anchor = "      owner_did: {type: varchar(255)}\n    primary_key: {name: tasks_pkey"
    assert anchor in text
    changed = tmp_path / "bindu.yaml"
    changed.write_text(text.replace(anchor, "      priority: {type: integer}\n" + anchor, 1))
    reason = diagram.check_doc(DOC, loader.load(changed))
    assert reason is not None
    assert "docs/schema.md is out of date with the YAML" in reason
    assert "run `bindu-schema diagram --write`" in reason
    assert "+        integer priority" in reason  # the diff names what is missing


def test_missing_doc_and_missing_markers(tmp_path: Path) -> None:
    schema = loader.load(BINDU_YAML)
    missing = diagram.check_doc(tmp_path / "nope.md", schema)
    assert missing is not None and "is missing" in missing
    plain = tmp_path / "plain.md"
    plain.write_text("# no diagram here\n")
    no_markers = diagram.check_doc(plain, schema)
    assert no_markers is not None and "has no diagram markers" in no_markers


def test_write_refreshes_between_the_markers_only(tmp_path: Path) -> None:
    doc = tmp_path / "schema.md"
    shutil.copy(DOC, doc)
    doc.write_text("Intro kept.\n\n" + doc.read_text() + "\nTrailer kept.\n")
    other = loader.load(CASES / "constraints.yaml")
    assert diagram.check_doc(doc, other) is not None
    assert diagram.write_doc(doc, other, "x.yaml") is True
    assert diagram.check_doc(doc, other) is None
    text = doc.read_text()
    assert text.startswith("Intro kept.\n") and text.endswith("\nTrailer kept.\n")
    assert "contexts" not in text and "transfers" in text
    assert diagram.write_doc(doc, other, "x.yaml") is False  # idempotent


def test_bindu_diagram_keys_and_relationships() -> None:
    text = diagram.render(loader.load(BINDU_YAML))
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    assert "        uuid id PK" in lines
    assert "        uuid context_id FK" in lines
    assert "        varchar(255) owner_did" in lines
    # webhook_configs.task_id is its primary key and a foreign key: one config per task,
    # identifying (solid line).
    assert "        uuid task_id PK, FK" in lines
    assert '    tasks ||--o| webhook_configs : "task_id"' in lines
    # task_feedback.task_id is NOT NULL, not unique: many feedback rows, dotted line.
    assert '    tasks ||..o{ task_feedback : "task_id"' in lines
    assert '    contexts ||..o{ tasks : "context_id"' in lines
    assert text == diagram.render(loader.load(BINDU_YAML))  # deterministic


def test_cardinality_from_nullability_and_uniqueness() -> None:
    text = diagram.render(loader.load(CASES / "constraints.yaml"))
    lines = text.splitlines()
    # nullable to_id: zero or one account; composite FK columns listed in the label
    assert '    accounts |o..o{ transfers : "tenant, to_id"' in lines
    assert '    accounts ||..o{ transfers : "tenant, from_id"' in lines
    assert '    transfers ||..o{ audit : "transfer_id"' in lines
    # types become Mermaid words
    assert "        numeric(12_2) balance" in lines
    assert "        integer tenant PK" in lines


def test_names_and_types_are_made_mermaid_safe() -> None:
    text = diagram.render(loader.load(CASES / "quoting.yaml"))
    assert '    "größe" {' in text
    assert "        Order_Status with_space" in text
    assert '    user |o..o{ "größe" : "user_order"' in text


def test_cli_prints_writes_and_limits(cli: Cli, tmp_path: Path) -> None:
    out = cli("diagram")
    assert out.code == 0, out.text
    assert out.out == diagram.render(loader.load(BINDU_YAML))
    two = cli("diagram", "--table", "tasks", "--table", "contexts")
    assert two.code == 0
    assert "task_feedback" not in two.out and "contexts ||..o{ tasks" in two.out
    bad = cli("diagram", "--table", "nope")
    assert bad.code == 1 and "no table nope" in bad.err
    doc = tmp_path / "docs" / "schema.md"
    wrote = cli("diagram", "--write", "--doc", str(doc))
    assert wrote.code == 0 and wrote.out.startswith("updated:")
    assert diagram.check_doc(doc, loader.load(BINDU_YAML)) is None
    again = cli("diagram", "--write", "--doc", str(doc))
    assert again.out.startswith("unchanged:")
