"""Facts about a live database read from the catalogs: what exists, by name.

Hazards and renames depend on what is already there; migra's inspector is heavier
than these few queries and lives behind differ.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import server
from .settings import DatabaseURL

_SQL = """
SELECT 't', c.relname, NULL, NULL FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
UNION ALL
SELECT 'c', c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
UNION ALL
SELECT 'f', p.proname, NULL, NULL FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(schema)s
UNION ALL
SELECT 'i', i.relname, t.relname, NULL FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
 WHERE n.nspname = %(schema)s
UNION ALL
SELECT 'k', k.conname, t.relname, NULL FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s
UNION ALL
SELECT 'g', g.tgname, t.relname, NULL FROM pg_trigger g
  JOIN pg_class t ON t.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s AND NOT g.tgisinternal
"""


@dataclass(frozen=True)
class Facts:
    """What exists in one schema of a database (names without the schema)."""

    tables: frozenset[str] = frozenset()
    columns: dict[tuple[str, str], str] = field(default_factory=dict)  # -> format_type
    functions: frozenset[str] = frozenset()
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table
    constraints: frozenset[tuple[str, str]] = frozenset()  # (table, name)
    triggers: frozenset[tuple[str, str]] = frozenset()  # (table, name)


def read(url: DatabaseURL, schema: str = "public") -> Facts:
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(_SQL, {"schema": schema})
            rows = cur.fetchall()
    finally:
        conn.close()
    tables: set[str] = set()
    columns: dict[tuple[str, str], str] = {}
    functions: set[str] = set()
    indexes: dict[str, str] = {}
    constraints: set[tuple[str, str]] = set()
    triggers: set[tuple[str, str]] = set()
    for kind, name, rel, typ in rows:
        if kind == "t":
            tables.add(name)
        elif kind == "c":
            columns[(name, rel)] = typ
        elif kind == "f":
            functions.add(name)
        elif kind == "i":
            indexes[name] = rel
        elif kind == "k":
            constraints.add((rel, name))
        else:
            triggers.add((rel, name))
    return Facts(
        frozenset(tables),
        columns,
        frozenset(functions),
        indexes,
        frozenset(constraints),
        frozenset(triggers),
    )
