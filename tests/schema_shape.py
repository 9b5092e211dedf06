"""What PostgreSQL says one schema holds, with the schema's own name left out, so public
and a tenant schema built by the same revisions compare equal line for line."""

from __future__ import annotations

import psycopg2.extensions

from bindu_schema import server
from bindu_schema.settings import DatabaseURL

_QUERIES = (
    """SELECT format('column %I.%I %s%s%s', c.relname, a.attname,
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
              coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''))
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
         AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r'""",
    """SELECT format('constraint %I.%I %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
       WHERE c.relnamespace = %(ns)s::regnamespace AND k.contype IN ('p', 'u', 'f', 'c')""",
    """SELECT 'index ' || pg_get_indexdef(i.indexrelid)
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE c.relnamespace = %(ns)s::regnamespace""",
    """SELECT 'trigger ' || pg_get_triggerdef(t.oid)
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
       WHERE c.relnamespace = %(ns)s::regnamespace AND NOT t.tgisinternal""",
    """SELECT format('function %I(%s) %s', p.proname, pg_get_function_arguments(p.oid), p.prosrc)
       FROM pg_proc p WHERE p.pronamespace = %(ns)s::regnamespace""",
)


def shape(url: DatabaseURL, schema: str) -> list[str]:
    """Sorted lines; names inside the schema print unqualified (search_path is the schema)."""
    conn = server.connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('search_path', %s, false)", (_quote(conn, schema),))
            lines: list[str] = []
            for q in _QUERIES:
                cur.execute(q.replace("%", "%%").replace("%%(ns)s", "%(ns)s"), {"ns": schema})
                # pg_get_indexdef qualifies the table whatever the search_path
                lines += [str(r[0]).replace(f" ON {schema}.", " ON ") for r in cur.fetchall()]
            return sorted(lines)
    finally:
        conn.close()


def _quote(conn: psycopg2.extensions.connection, name: str) -> str:
    return psycopg2.extensions.quote_ident(name, conn)
