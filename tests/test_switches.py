"""switches.on: how every optimization's off switch reads the environment."""

from __future__ import annotations

import pytest

from bindu_schema import switches

NAME = "BINDU_SCHEMA_TEST_SWITCH"


@pytest.mark.parametrize("value", ["0", "false", "No", " OFF ", "FALSE\n"])
def test_off_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(NAME, value)
    assert switches.on(NAME) is False


@pytest.mark.parametrize("value", [None, "1", "yes", "on", "true", ""])
def test_on_values(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, value)
    assert switches.on(NAME) is True
