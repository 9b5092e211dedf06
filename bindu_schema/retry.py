"""Retries of a migration run that failed on lock_timeout (SQLSTATE 55P03).

A revision that cannot get its table lock within lock_timeout fails and rolls back whole
(env.py runs it in one transaction), so running `upgrade head` again resumes exactly
where the database is; a CONCURRENTLY step starts by dropping the INVALID index its
failed build left (revision.py). Waits grow exponentially with jitter (half fixed, half
random) so that several deployers do not retry in step.

Tries (the first included): --lock-retries, else [tool.bindu-schema] lock_retries in
pyproject.toml, else DEFAULT_TRIES.
"""

from __future__ import annotations

import random
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import BinduSchemaError

DEFAULT_TRIES = 5
LOCK_NOT_AVAILABLE = "55P03"
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    tries: int = DEFAULT_TRIES
    base: float = 0.5  # seconds before the second try (on average 0.375)
    cap: float = 30.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1 = the second try)."""
        ceiling = min(self.cap, self.base * 2 ** (retry - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


def is_lock_timeout(exc: BaseException) -> bool:
    """A lock_timeout anywhere in the exception (SQLAlchemy wraps the driver's error)."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            if getattr(candidate, "pgcode", None) == LOCK_NOT_AVAILABLE:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def run(
    fn: Callable[[], T],
    backoff: Backoff,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """fn(), tried again after a lock_timeout until backoff.tries tries were made."""
    rng = rng or random.Random()
    for attempt in range(1, backoff.tries + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_lock_timeout(exc) or attempt == backoff.tries:
                if is_lock_timeout(exc) and backoff.tries > 1:
                    say(f"lock_timeout: gave up after {backoff.tries} tries")
                raise
            wait = backoff.delay(attempt, rng)
            first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            say(
                f"lock_timeout ({first}); rolled back; try {attempt + 1} of {backoff.tries} "
                f"in {wait:.1f}s"
            )
            sleep(wait)
    raise AssertionError("unreachable")


def configured_tries(explicit: int | None, project_root: Path | None = None) -> int:
    """--lock-retries, else [tool.bindu-schema] lock_retries, else DEFAULT_TRIES."""
    if explicit is not None:
        return explicit
    path = (project_root or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return DEFAULT_TRIES
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BinduSchemaError(f"{path}: cannot read [tool.bindu-schema]: {exc}") from None
    value = data.get("tool", {}).get("bindu-schema", {}).get("lock_retries", DEFAULT_TRIES)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise BinduSchemaError(
            f"{path}: [tool.bindu-schema] lock_retries must be a whole number from 1 to 100"
        )
    return value
