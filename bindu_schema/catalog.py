"""Facts about a live database read from the catalogs: what exists, by name.

Hazards and renames depend on what is already there; migra's inspector is heavier
than these few queries and lives behind differ.py. Each kind (and table part) gives one
SELECT of (tag, name, relation, type) rows and turns its rows into Facts fields; the
queries run as one UNION ALL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import server
from .settings import DatabaseURL


@dataclass(frozen=True)
class Facts:
    """What exists in one schema of a database (names without the schema)."""

    tables: frozenset[str] = frozenset()
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # -> format_type
    functions: frozenset[str] = frozenset()
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table
    constraints: frozenset[tuple[str, str]] = frozenset()  # (table, name)
    triggers: frozenset[tuple[str, str]] = frozenset()  # (table, name)
    # Facts of kinds without a field above, by the name the kind gives them.
    others: dict[str, Any] = field(default_factory=dict)


def _sources() -> list[Any]:
    """Every kind and table part that reads the catalog."""
    from . import kinds

    found: list[Any] = [*kinds.KINDS, *kinds.part_kinds()]
    return [k for k in found if k.catalog_sql]


def read(url: DatabaseURL, schema: str = "public") -> Facts:
    sources = _sources()
    sql = "\nUNION ALL".join(k.catalog_sql for k in sources)
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, {"schema": schema})
            rows = cur.fetchall()
    finally:
        conn.close()
    own = set(Facts.__dataclass_fields__) - {"others"}
    fields: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for k in sources:
        found = k.facts([r for r in rows if r[0] in k.catalog_tags])
        for name, value in found.items():
            (fields if name in own else others)[name] = value
    return Facts(**fields, others=others)
