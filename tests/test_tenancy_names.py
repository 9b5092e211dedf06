"""The tenant schema name derived from a DID, as Bindu derives it."""

from __future__ import annotations

import hashlib

import pytest

from bindu_schema.tenancy import schema_name


@pytest.mark.parametrize(
    ("did", "expected"),
    [
        ("did:bindu:example", "did_bindu_example"),
        ("DID:Bindu:Agent-1.0", "did_bindu_agent_1_0"),
        ("42:agent", "schema_42_agent"),
        ("did:bindu:café", "did_bindu_caf_"),
        ("did:bindu:日本", "did_bindu___"),
    ],
)
def test_short_names(did, expected):
    assert schema_name(did) == expected


def test_long_name_is_truncated_with_a_hash_of_the_full_name():
    did = "did:bindu:" + "a" * 80
    full = "did_bindu_" + "a" * 80
    name = schema_name(did)
    assert len(name) == 63
    assert name == full[:54] + "_" + hashlib.sha256(full.encode()).hexdigest()[:8]


def test_long_digit_leading_name_is_prefixed_before_truncation():
    did = "1" * 70
    full = "schema_" + "1" * 70
    assert schema_name(did) == full[:54] + "_" + hashlib.sha256(full.encode()).hexdigest()[:8]


def test_exactly_63_is_kept_and_distinct_long_dids_differ():
    did = "d" * 63
    assert schema_name(did) == did
    assert schema_name("x" * 64 + "1") != schema_name("x" * 64 + "2")


def test_empty_did_is_rejected():
    with pytest.raises(ValueError):
        schema_name("")
