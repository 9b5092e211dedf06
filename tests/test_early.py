"""early.py: reads of the desired database started in daemon threads."""

from __future__ import annotations

import threading

import pytest

from bindu_schema import early, server
from bindu_schema.settings import DatabaseURL


def test_the_value_and_the_error_reach_the_caller() -> None:
    gate = threading.Event()
    started = early.Early(lambda: gate.wait(5) and 42, "t")
    gate.set()
    assert started.result() == 42
    assert early.value(None, lambda: 7) == 7

    def boom() -> int:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        early.value(early.Early(boom, "t"), lambda: 0)


def test_started_only_for_a_cached_database_and_when_on(
    dev_server: DatabaseURL, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server.scratch(dev_server) as scratch:  # dropped at the end: never read early
        assert early.start(scratch, lambda: 1, "t") is None
    monkeypatch.setattr(early.server, "immutable_token", lambda url: "cached")
    got = early.start(dev_server, lambda: 1, "t")
    assert got is not None and got.result() == 1
    monkeypatch.setenv(early.PREFETCH_ENV, "0")
    assert early.start(dev_server, lambda: 1, "t") is None
