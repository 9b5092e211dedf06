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

_ACL = """coalesce((SELECT string_agg(
            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
            || ':' || a.privilege_type, ',' ORDER BY a.grantee, a.privilege_type)
          FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) a
         WHERE a.grantee <> {owner}), '')"""

_RELKIND = """CAST(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END AS "char")"""

_QUERIES = {
    "table": """
        SELECT format('%I', c.relname)
            || CASE WHEN c.relpersistence = 'u' THEN ' UNLOGGED' ELSE '' END
            || coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '')
            || CASE c.relreplident WHEN 'f' THEN ' REPLICA IDENTITY FULL'
                                   WHEN 'n' THEN ' REPLICA IDENTITY NOTHING'
                                   WHEN 'i' THEN ' REPLICA IDENTITY USING INDEX' ELSE '' END
            || coalesce(' ' || (SELECT format('%I', i.relname) FROM pg_index x
                                JOIN pg_class i ON i.oid = x.indexrelid
                                WHERE x.indrelid = c.oid AND x.indisreplident), ''),
            coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
    # owners and privileges (grants:) where they are not the defaults (so the golden
    # catalogs list none); an ACL written out equals the NULL that means the same. The
    # public schema's privileges where they are not those it is created with.
    "privileges": f"""
        SELECT what, ' ' || acl FROM (
          SELECT format('%I %s OWNER %s', c.relname, c.relkind, pg_get_userbyid(c.relowner)),
                 {_ACL.format(acl="c.relacl", kind=_RELKIND, owner="c.relowner")},
                 {_ACL.format(acl="NULL", kind=_RELKIND, owner="c.relowner")},
                 c.relowner
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S')
          UNION ALL
          SELECT format('%I(%s) OWNER %s', p.proname, oidvectortypes(p.proargtypes),
                        pg_get_userbyid(p.proowner)),
                 {_ACL.format(acl="p.proacl", kind="'f'", owner="p.proowner")},
                 {_ACL.format(acl="NULL", kind="'f'", owner="p.proowner")},
                 p.proowner
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public'
        ) AS o(what, acl, default_acl, owner)
        WHERE acl <> default_acl OR pg_get_userbyid(owner) <> current_user
        UNION ALL
        SELECT format('schema %I OWNER %s', n.nspname, pg_get_userbyid(n.nspowner)),
               ' ' || {_ACL.format(acl="n.nspacl", kind="'n'", owner="n.nspowner")}
        FROM pg_namespace n
        -- public is created with USAGE for PUBLIC (and owned by pg_database_owner)
        WHERE n.nspname = 'public'
          AND {_ACL.format(acl="n.nspacl", kind="'n'", owner="n.nspowner")} <> 'PUBLIC:USAGE'
        UNION ALL
        SELECT format('default %s %s %s', d.defaclobjtype, pg_get_userbyid(d.defaclrole),
                      d.defaclnamespace::regnamespace),
               ' ' || {_ACL.format(acl="d.defaclacl", kind="'r'", owner="d.defaclrole")}
        FROM pg_default_acl d""",
    "column": """
        SELECT format('%I.%I %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod))
            || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
            || CASE WHEN a.attgenerated = '' THEN
                    coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
               ELSE ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ')'
                    || CASE a.attgenerated WHEN 's' THEN ' STORED' ELSE ' VIRTUAL' END END
            || CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS'
                                  WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END
            || coalesce((SELECT format(' (%s START %s INCREMENT %s MIN %s MAX %s CACHE %s%s)',
                                format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
                                q.seqmin, q.seqmax, q.seqcache,
                                CASE WHEN q.seqcycle THEN ' CYCLE' ELSE '' END)
                         FROM pg_depend dep JOIN pg_sequence q ON q.seqrelid = dep.objid
                         WHERE a.attidentity <> '' AND dep.refobjid = c.oid
                           AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
                           AND dep.classid = 'pg_class'::regclass
                           -- only options other than CREATE's (the golden files predate them)
                           AND (q.seqstart, q.seqincrement, q.seqmin, q.seqcache, q.seqcycle,
                                q.seqmax) IS DISTINCT FROM (1, 1, 1, 1, false,
                                CASE q.seqtypid WHEN 'int2'::regtype THEN 32767
                                                WHEN 'int4'::regtype THEN 2147483647
                                                ELSE 9223372036854775807 END)), '')
            || CASE WHEN a.attcollation <> t.typcollation
                    THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
            || CASE WHEN a.attstorage <> t.typstorage
                    THEN ' STORAGE ' || a.attstorage::text ELSE '' END
            || CASE WHEN a.attcompression <> '' THEN ' COMPRESSION ' || a.attcompression::text
                    ELSE '' END,
            coalesce(' -- ' || col_description(c.oid, a.attnum), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
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
