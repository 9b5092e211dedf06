"""A schema-only copy of a database on the dev server, to rehearse a plan on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import pgtools, server
from .settings import DatabaseURL


@contextmanager
def schema_copy(
    source: DatabaseURL, dev: DatabaseURL, dump: str | None = None
) -> Iterator[DatabaseURL]:
    """A scratch database with the same schema as `source` (no rows), dropped afterwards.
    `dump`: the caller's pgtools.dump_schema(source), when it has one already."""
    if dump is None:
        dump = pgtools.dump_schema(source)
    with server.scratch(dev) as url:
        pgtools.restore_sql(url, dump)
        yield url
