"""INVALID indexes: what a CREATE INDEX CONCURRENTLY leaves when it fails (lost connection,
lock_timeout, duplicate rows). migra compares definitions only, so an INVALID index that
matches the YAML looks done, although PostgreSQL neither uses nor (for UNIQUE) enforces
it. Each is finished by dropping it and building it again, both CONCURRENTLY; the drop
carries a comment saying why, so the plan shows it."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg2.extensions import quote_ident

from . import server, statements
from .settings import DatabaseURL
from .statements import Record

_INVALID_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND NOT i.indisvalid
ORDER BY 1
"""


def finish(url: DatabaseURL, schema: str, up: Sequence[Record]) -> list[Record]:
    """`up` preceded by drop + concurrent rebuild of each INVALID index that `up` does not
    drop itself (one the YAML no longer has is dropped by the diff already)."""
    dropped = {n for r in up if r.kind == "DropStmt" and r.object_type == "index" for n in r.names}
    todo: list[Record] = []
    conn = server.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(_INVALID_SQL, (schema,))
            rows = [(str(name), str(definition)) for name, definition in cur.fetchall()]
        for name, definition in rows:
            if name in dropped:
                continue
            ident = f"{quote_ident(schema, conn)}.{quote_ident(name, conn)}"
            todo.append(
                statements.parse(
                    f"-- {name} is INVALID (a CREATE INDEX CONCURRENTLY that did not finish)\n"
                    f"DROP INDEX CONCURRENTLY IF EXISTS {ident}",
                    expect="DropStmt",
                )
            )
            todo.append(statements.with_concurrently(statements.parse(definition, "IndexStmt")))
    finally:
        conn.close()
    return [*todo, *up]
