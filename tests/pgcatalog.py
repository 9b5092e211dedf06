"""A text snapshot of what PostgreSQL itself says a database's schema is.

Used by the golden tests (to show what each golden DDL really creates: a dropped operator
class or a lost DEFERRABLE shows up here, not in a round trip through our own compiler)
and by the bad-input tests (the target database must be unchanged after an error).

Only what is stable across PostgreSQL 15..18 is listed (no NOT NULL rows of pg_constraint,
which PostgreSQL 18 adds; nullability is on the column line instead).
"""

from __future__ import annotations

from conftest import sql

from bindu_schema.settings import DatabaseURL

_QUERIES = {
    "table": """
        SELECT format('%I', c.relname), coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
    "column": """
        SELECT format('%I.%I %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod))
            || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
            || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
            || CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS'
                                  WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END,
            coalesce(' -- ' || col_description(c.oid, a.attnum), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
    "constraint": """
        SELECT format('%I.%I %s', c.relname, k.conname, pg_get_constraintdef(k.oid)), ''
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND k.contype IN ('p', 'u', 'f', 'c', 'x')""",
    "index": """
        SELECT pg_get_indexdef(c.oid), coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'i'""",
    "sequence": """
        SELECT format('%I', s.relname)
            || CASE WHEN t.relname IS NOT NULL
                    THEN ' OWNED BY ' || format('%I.%I', t.relname, a.attname) ELSE '' END
            -- options only where they are not CREATE's (the golden files predate them)
            || CASE WHEN (q.seqstart, q.seqincrement, q.seqmin, q.seqcache, q.seqcycle, q.seqmax)
                         IS DISTINCT FROM (1, 1, 1, 1, false,
                                           CASE q.seqtypid WHEN 'int2'::regtype THEN 32767
                                                           WHEN 'int4'::regtype THEN 2147483647
                                                           ELSE 9223372036854775807 END)
                    THEN format(' (%s START %s INCREMENT %s MIN %s MAX %s CACHE %s%s)',
                                format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
                                q.seqmin, q.seqmax, q.seqcache,
                                CASE WHEN q.seqcycle THEN ' CYCLE' ELSE '' END)
                    ELSE '' END,
            coalesce(' -- ' || obj_description(s.oid, 'pg_class'), '')
        FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
        JOIN pg_sequence q ON q.seqrelid = s.oid
        LEFT JOIN pg_depend dep ON dep.objid = s.oid AND dep.classid = 'pg_class'::regclass
             AND dep.deptype IN ('a', 'i')
        LEFT JOIN pg_class t ON t.oid = dep.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
        WHERE n.nspname = 'public' AND s.relkind = 'S'""",
    "view": """
        SELECT format('%s %I', CASE c.relkind WHEN 'm' THEN 'MATERIALIZED' ELSE 'VIEW' END,
                      c.relname)
            || coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '')
            || CASE WHEN NOT c.relispopulated THEN ' WITH NO DATA' ELSE '' END
            || ' AS ' || pg_get_viewdef(c.oid, true),
            coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')""",
    "trigger": """
        SELECT pg_get_triggerdef(t.oid), ''
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal""",
    "function": """
        SELECT format('%I(%s) RETURNS %s LANGUAGE %s %s%s', p.proname,
                      pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                      l.lanname,
                      CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE'
                                         ELSE 'VOLATILE' END,
                      CASE WHEN p.prosecdef THEN ' SECURITY DEFINER' ELSE '' END),
               ' -- body: ' || btrim(regexp_replace(p.prosrc, '\\s+', ' ', 'g'))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_language l ON l.oid = p.prolang
        LEFT JOIN pg_depend dep ON dep.objid = p.oid AND dep.deptype = 'e'
        WHERE n.nspname = 'public' AND dep.objid IS NULL""",
    "enum": """
        SELECT format('%I', t.typname),
               ' (' || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
               || ')'
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE n.nspname = 'public' GROUP BY t.typname""",
    "extension": """
        SELECT format('%I', e.extname), ' SCHEMA ' || format('%I', n.nspname)
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname <> 'plpgsql'""",
}


def snapshot(db: DatabaseURL) -> str:
    """Sorted lines `kind: definition -- comment`, one per object (newlines escaped)."""
    lines = []
    for kind, query in _QUERIES.items():
        for definition, extra in sql(db, query):
            line = f"{kind}: {definition}{extra}"
            lines.append(line.replace("\\", "\\\\").replace("\n", "\\n"))
    return "\n".join(sorted(lines)) + "\n"
