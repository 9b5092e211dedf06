"""Python's cyclic garbage collector, paused for a command-line run.

A 1,000-table `plan` makes millions of small objects (YAML nodes, the model, SQLAlchemy's
MetaData, pglast trees, two schemainspect inspections) and keeps most of them to the end;
the collector walked them again and again for little: the first plan after an edit took
7.0 s with it and 4.8 s without (one process, same machine, docs/performance.md). So the
CLI (cli.main, never an application importing bindu_schema) turns it off, and the one
large cyclic garbage, SQLAlchemy's MetaData once the DDL is rendered, is collected where
it is made (cycles_collected): peak RSS is then lower than with the collector on.
At exit everything left is frozen: the interpreter's final collection runs even with the
collector off and walked all of it for nothing (0.25-0.3 s of a 1.2 s plan of Bindu's
schema). BINDU_SCHEMA_GC_PAUSE=0 leaves Python's collector as it is.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

from . import switches

GC_PAUSE_ENV = "BINDU_SCHEMA_GC_PAUSE"

_paused = False


def enabled() -> bool:
    return switches.on(GC_PAUSE_ENV)


def pause_for_command() -> None:
    """Turn the cyclic collector off for the rest of this process (the CLI's main), and
    freeze what is left at exit (after the exit handlers registered later, which run
    first) so the interpreter's final collection has nothing to walk."""
    global _paused
    if enabled():
        gc.disable()
        _paused = True
        atexit.register(gc.freeze)


@contextmanager
def cycles_collected() -> Iterator[None]:
    """When the collector is paused: collect the cyclic garbage made inside the block,
    scanning only objects made there (what existed before is frozen meanwhile)."""
    if not _paused:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.unfreeze()
