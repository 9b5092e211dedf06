"""Each table's DDL, kept between commands: after an edit only the changed tables are
rendered (issue 18's edit loop).

Rendering a table (SQLAlchemy's Table, CreateTable, its indexes, constraints, triggers,
comments; literals.tidy on each) is a function of the table's model, of everything in
the schema that is not a table (enums, domains, functions, ...: a column's type and a
trigger's function are looked up there), of the tables its foreign keys reference (their
columns are linked) and of the target schema. That is the key of its statements; the
statements of the schema's tables are kept in one result-cache entry (cache.py: keyed
also by our own source and SQLAlchemy's version). On 1,000 tables: 0.74 s -> ~0.1 s after
a one-table edit. tests/test_table_cache.py compiles random edit sequences both ways and
requires the same DDL. BINDU_SCHEMA_TABLE_CACHE=0 renders every table every time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from typing import TYPE_CHECKING

from . import cache, switches

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .compile import DDL
    from .model import Schema, Table

TABLE_CACHE_ENV = "BINDU_SCHEMA_TABLE_CACHE"
_KIND = "table-ddl"
_STORE = "store"

Phased = list[tuple[int, "DDL"]]


def enabled() -> bool:
    on = switches.on(TABLE_CACHE_ENV)
    return on and cache.enabled()


def _keys(schema: Schema, target_schema: str | None) -> dict[str, str]:
    from .kinds.tables import references

    context = hashlib.sha256(
        pickle.dumps(
            (dataclasses.replace(schema, tables=(), source_sha256=""), target_schema or ""),
            protocol=4,
        )
    ).digest()
    own = {t.name: pickle.dumps(t, protocol=4) for t in schema.tables}
    out = {}
    for t in schema.tables:
        h = hashlib.sha256(context)
        h.update(own[t.name])
        for ref in sorted(references(t)):
            h.update(b"\0" + ref.encode() + b"\0" + own.get(ref, b"(not declared)"))
        out[t.name] = h.hexdigest()
    return out


def render(schema: Schema, target_schema: str | None) -> tuple[sa.MetaData, Phased]:
    """The tables kind's (phase, statement) list, as kinds.tables.KIND.ddl gives it, and a
    MetaData holding the tables rendered now (the other kinds do not read it)."""
    import sqlalchemy as sa

    from .kinds.tables import KIND

    keys = _keys(schema, target_schema)
    stored = cache.get(_KIND, cache.key(_KIND, _STORE))
    store: dict[str, Phased] = stored if isinstance(stored, dict) else {}
    missing: list[Table] = [t for t in schema.tables if keys[t.name] not in store]
    md = sa.MetaData(schema=target_schema)
    if missing:
        KIND.metadata(md, schema, target_schema, only=frozenset(t.name for t in missing))
    fresh = {keys[t.name]: KIND.table_ddl(t, md, target_schema) for t in missing}
    kept = {k: fresh[k] if k in fresh else store[k] for k in (keys[t.name] for t in schema.tables)}
    out = [d for t in schema.tables for d in kept[keys[t.name]]]
    if fresh:
        # The schema's tables, then earlier ones (an undo finds them), at most twice as many.
        for k, v in store.items():
            if len(kept) >= 2 * max(len(schema.tables), 1):
                break
            kept.setdefault(k, v)
        cache.put(_KIND, cache.key(_KIND, _STORE), kept)
    return md, out
