"""Progress on stderr for long steps, only when stderr is a terminal.

    with progress.step("starting the embedded server", err):
        ...

On a terminal this writes "starting the embedded server ..." and, when the step ends,
" done (2.1s)" (or " failed"). When the stream is not a terminal (CI logs, pipes, tests)
nothing is written at all, so machine-readable output is never mixed with progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def enabled(stream: IO[str] | None) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


@contextmanager
def step(message: str, stream: IO[str] | None) -> Iterator[None]:
    """Announce a step and its duration on a terminal; silent otherwise."""
    if stream is None or not enabled(stream):
        yield
        return
    stream.write(f"{message} ...")
    stream.flush()
    start = time.monotonic()
    try:
        yield
    except BaseException:
        stream.write(" failed\n")
        stream.flush()
        raise
    stream.write(f" done ({time.monotonic() - start:.1f}s)\n")
    stream.flush()
