"""fidelity.compare and complete_creates: pure, from data (tests/cases/fidelity_rules/)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bindu_schema import fidelity, statements
from bindu_schema.statements import StatementError

CASES = yaml.safe_load(
    (Path(__file__).parent / "cases" / "fidelity_rules" / "compare.yaml").read_text()
)


def _facts(objects: dict, order: dict | None = None) -> fidelity.Facts:
    flat = {
        (kind, name): dict(values or {})
        for kind, named in objects.items()
        for name, values in named.items()
    }
    return fidelity.Facts("public", flat, {t: tuple(c) for t, c in (order or {}).items()})


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_compare(case):
    order = case.get("order", {})
    have = _facts(case["have"], order.get("have"))
    want = _facts(case["want"], order.get("want"))
    if "error" in case:
        with pytest.raises(StatementError, match=case["error"]):
            fidelity.compare(have, want, case.get("target_schema"))
        return
    got = fidelity.compare(have, want, case.get("target_schema"))
    if "fixes" in case:
        assert [r.sql for r in got.fixes] == case["fixes"]
        assert all(r.kind in ("AlterSeqStmt", "AlterTableStmt") for r in got.fixes)
    if "drift" in case:
        assert len(got.drift) == len(case["drift"]), got.drift
        for want_line in case["drift"]:
            assert any(want_line in d for d in got.drift), (want_line, got.drift)
        assert all("cannot declare" in d for d in got.drift)
    if "notes" in case:
        assert [n for n in got.notes if any(w in n for w in case["notes"])] == list(got.notes)
        assert len(got.notes) == len(case["notes"])
    if "unexplained" in case:
        assert len(got.unexplained) == case["unexplained"], got.unexplained


def test_new_serial_sequence_created_as_integer():
    """migra's bare `create sequence` becomes one with the desired type; others pass."""
    want = _facts({"sequence": {"s": {
        "type": "integer", "start": "1", "increment": "1", "min": "1", "max": "2147483647",
        "cache": "1", "cycle": "false",
    }}})  # fmt: skip
    recs = [statements.parse('create sequence "s"'), statements.parse('create sequence "u"')]
    out = fidelity.complete_creates(recs, want, None)
    assert [r.sql for r in out] == [
        "CREATE SEQUENCE s AS integer MAXVALUE 2147483647;",
        'create sequence "u"',
    ]
    assert out[0].kind == "CreateSeqStmt" and out[0].name == "s"
