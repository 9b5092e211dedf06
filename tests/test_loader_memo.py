"""loader._MemoLoader: libyaml's loader with each scalar's tag resolved once per distinct
(value, implicit) pair composes the same tree, tag for tag, as libyaml's own loader, and
resolves each distinct scalar once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bindu_schema import loader, model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import schemagen  # noqa: E402

pytestmark = pytest.mark.skipif(
    getattr(yaml, "CSafeLoader", None) is None, reason="PyYAML built without libyaml"
)

ODD = """
plain: [yes, no, on, off, true, "true", 'false', ~, null, "", 0x1F, 0o17, 017, 1e3, .inf,
        -.Inf, .nan, 1_000, 2001-12-14, "2001-12-14", 12:30:00, +12, -0, 0.5, text]
again: [yes, "yes", ~, "~", 1e3, '1e3', text, text]
nested: {a: {b: [1, "1", 1.0]}, "quoted key": !!str 5, tagged: !!int "7"}
block: |
  a literal
folded: >
  a folded
"""


def _tree(node: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        return (node.tag, [(_tree(k), _tree(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, [_tree(v) for v in node.value])
    return (node.tag, node.value, node.style, node.start_mark.line, node.start_mark.column)


@pytest.mark.parametrize(
    "text",
    [ODD, (ROOT / "schema" / "bindu.yaml").read_text(), schemagen.schema_text(50)],
    ids=["odd scalars", "bindu.yaml", "50 tables"],
)
def test_the_memo_loader_composes_what_libyaml_composes(text: str) -> None:
    ours = yaml.compose(text, Loader=loader._MemoLoader)
    theirs = yaml.compose(text, Loader=yaml.CSafeLoader)
    assert _tree(ours) == _tree(theirs)
    assert yaml.safe_load(text) == yaml.load(text, Loader=yaml.CSafeLoader)


def test_each_distinct_scalar_is_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, Any]] = []
    real = yaml.CSafeLoader.resolve

    def counting(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            seen.append((value, implicit))
        return real(self, kind, value, implicit)

    monkeypatch.setattr(yaml.CSafeLoader, "resolve", counting)
    yaml.compose("a: [text, text, 'text', 1, 1, yes]\nb: text\n", Loader=loader._MemoLoader)
    assert len(seen) == len(set(seen)) == 6  # a, b, text, 'text', 1, yes


def test_a_table_is_found_by_name_among_many() -> None:
    schema = loader.loads(schemagen.schema_text(30))
    names = [t.name for t in schema.tables]
    assert all(schema.table(n) is t for n, t in zip(names, schema.tables, strict=True))
    assert schema.table("no_such_table") is None
    assert isinstance(schema, model.Schema)
