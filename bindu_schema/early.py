"""Reads of the desired database started early, in daemon threads.

The desired database exists before the diff; what plan reads from it besides the
inspection (fidelity's snapshot, the catalog facts, the quick rehearsal's fingerprint) is
deparsed in the server, so read in threads it runs on the other core while this process
inspects and diffs. Only for a cached desired database: it is immutable (a read now is
the read later) and not dropped at the end (nobody may stay connected to a scratch
database). Daemon threads: a plan that never asks for a value does not wait for it at exit.
BINDU_SCHEMA_PREFETCH=0 reads each where it is needed, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from . import server, switches
from .settings import DatabaseURL

PREFETCH_ENV = "BINDU_SCHEMA_PREFETCH"
LINT_BESIDE_ENV = "BINDU_SCHEMA_LINT_BESIDE"
HAZARDS_BESIDE_ENV = "BINDU_SCHEMA_HAZARDS_BESIDE"

T = TypeVar("T")


class Early(Generic[T]):
    """read() running in a daemon thread; result() waits for it (and raises what it raised)."""

    def __init__(self, read: Callable[[], T], name: str) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(read,), daemon=True, name=name).start()

    def _run(self, read: Callable[[], T]) -> None:
        try:
            self._value = read()
        except BaseException as exc:  # handed to the thread that asks for the value
            self._error = exc
        finally:
            self._done.set()

    @classmethod
    def of(cls, value: T) -> Early[T]:
        """An Early already holding `value` (work that was done in this thread)."""
        done: Early[T] = cls.__new__(cls)
        done._done, done._value, done._error = threading.Event(), value, None
        done._done.set()
        return done

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def enabled() -> bool:
    return switches.on(PREFETCH_ENV)


def start(desired: DatabaseURL, read: Callable[[], T], name: str) -> Early[T] | None:
    """read() started now when prefetching is on and `desired` is a cached database."""
    if not enabled() or server.immutable_token(desired) is None:
        return None
    return Early(read, name)


def beside(work: Callable[[], T], name: str, switch: str = LINT_BESIDE_ENV) -> Early[T] | None:
    """work() started now in a daemon thread, beside the rehearsal, which keeps this thread
    waiting on the server: squawk's lint (a process of its own; BINDU_SCHEMA_LINT_BESIDE=0
    lints after it), the hazards of the upgrade and the downgrade (pure Python;
    BINDU_SCHEMA_HAZARDS_BESIDE=0 classifies them before and after it). None when `switch`
    is off."""
    return Early(work, name) if switches.on(switch) else None


def value(started: Early[T] | None, read: Callable[[], T]) -> T:
    """The early read's result, or read() now when none was started."""
    return started.result() if started is not None else read()
