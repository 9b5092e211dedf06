"""A cheap catalog fingerprint of many schemas at once, independent of the schema's name.

A fleet's drift check compares each tenant schema's fingerprint with head's (the schema
generated/ builds, fleet.head_reference) and runs the full comparison (a migra plan and
catalog fidelity) only where they differ. One query per CHUNK schemas reads pg_catalog:
relations (kind, persistence, options, replica identity, row security, partitioning,
view definitions), columns in order (type, nullability, default, identity, generated,
collation, storage, compression, options, statistics target), constraints, indexes
(table, method, keys with their operator classes, collations and order, expressions,
predicate, options, uniqueness, validity, clustering), triggers (definition, enabled),
functions (arguments, result, language, body, volatility, security, strictness,
settings, cost), sequences (type, bounds, increment, cache, cycle, owner column), types
(domains with their constraints, enums with their labels, ranges), row-level policies,
rules, extended statistics, inheritance, the names of operators, operator classes and
families, collations, conversions and text search objects, every comment, and the
privileges granted on relations, functions and the schema itself whose ACL is not the
default (grants:; the owner's own entry and the grantor left out). Owners are left out,
as in `pg_dump --no-owner` (a tenant's objects belong to whoever created them).

Each object becomes one line of text, every field through quote_nullable (so a NULL and
an empty string, or a value in another position, never read alike). The schema's own
qualifier `name.`, which the catalog's deparsers print for objects of a schema that is
not on the search_path, is replaced by `@.`, so a tenant and head's scratch schema of
another name compare equal exactly when their catalogs do. The fingerprint is the
sha256 of the sorted lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg2.extensions

from .server import connect
from .settings import DatabaseURL

CHUNK = 250
EMPTY = hashlib.sha256(b"").hexdigest()  # a schema without objects

# Each kind of object: (tag, fields, FROM ... WHERE ...). A field is an SQL expression;
# {q} is the schema's qualifier as the deparsers print it, R(x) is x with {q} made "@.".
_OWNED_BY = """(SELECT string_agg(CASE WHEN t.relnamespace = c.relnamespace THEN '@'
      ELSE quote_ident(tn.nspname) END || '.' || quote_ident(t.relname) || '.'
      || quote_ident(a.attname) || ' ' || dep.deptype::text, ',' ORDER BY 1)
    FROM pg_depend dep JOIN pg_class t ON t.oid = dep.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
    WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
      AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i'))"""
_COLLATION = """CASE WHEN a.attcollation <> t.typcollation THEN (SELECT quote_ident(cn.nspname)
    || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn
    ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END"""
# Each key of an index: column (or an expression: indexprs), operator class, collation,
# options (DESC, NULLS FIRST), operator class parameters.
_INDEX_KEYS = """(SELECT string_agg(concat_ws(' ', quote_nullable(a.attname::text),
      quote_nullable(oc.opcname::text), quote_nullable(co.collname::text), u.opt,
      quote_nullable(ia.attoptions::text)), ',' ORDER BY u.ord)
    FROM unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[], i.indoption::int2[])
      WITH ORDINALITY AS u(k, cls, coll, opt, ord)
    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.k AND u.k > 0
    LEFT JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = u.ord
    LEFT JOIN pg_opclass oc ON oc.oid = u.cls
    LEFT JOIN pg_collation co ON co.oid = u.coll)"""
_ROLES = """(SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC'
    ELSE (SELECT rolname FROM pg_roles WHERE oid = r) END, ',' ORDER BY 1)
    FROM unnest(p.polroles) r)"""
# Non-default ACLs (NULL: the defaults, no line), without the owner's own entry.
_ACL = """(SELECT string_agg(g, ',' ORDER BY g) FROM (SELECT CASE WHEN a.grantee = 0
      THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END || ':'
      || a.privilege_type || ':' || a.is_grantable::text AS g
    FROM aclexplode({acl}) a WHERE a.grantee <> {owner}) AS acl)"""
_PARENT = """CASE WHEN p.relnamespace = c.relnamespace THEN '@' ELSE (SELECT quote_ident(nspname)
    FROM pg_namespace WHERE oid = p.relnamespace) END || '.' || quote_ident(p.relname)"""
_KINDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "rel",
        ("c.relname", "c.relkind", "c.relpersistence", "c.reloptions", "c.relreplident",
         "c.relrowsecurity", "c.relforcerowsecurity", "c.relispartition",
         "pg_get_expr(c.relpartbound, c.oid)",
         "CASE WHEN c.relkind = 'p' THEN R(pg_get_partkeydef(c.oid)) END",
         "CASE WHEN c.relkind IN ('v', 'm') THEN R(pg_get_viewdef(c.oid)) END",
         "(SELECT am.amname FROM pg_am am WHERE am.oid = c.relam)",
         "obj_description(c.oid, 'pg_class')"),
        "pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind NOT IN ('i', 'I', 't')",
    ),
    (
        "col",
        ("c.relname", "row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)", "a.attname",
         "R(format_type(a.atttypid, a.atttypmod))", "a.attnotnull",
         "R(pg_get_expr(d.adbin, d.adrelid))", "a.attidentity", "a.attgenerated", _COLLATION,
         "a.attstorage = t.typstorage", "a.attcompression", "a.attoptions",
         "nullif(a.attstattarget, -1)", "col_description(c.oid, a.attnum)"),
        """pg_class c JOIN ns ON ns.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')""",
    ),
    (
        "con",
        ("c.relname", "k.conname", "k.contype", "R(pg_get_constraintdef(k.oid))",
         "obj_description(k.oid, 'pg_constraint')"),
        """pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN ns ON ns.oid = c.relnamespace
        WHERE k.contype IN ('p', 'u', 'f', 'c', 'x')""",
    ),
    (
        # the parts of pg_get_indexdef read as data (deparsing each index costs 4x as much)
        "idx",
        ("c.relname", "(SELECT t.relname FROM pg_class t WHERE t.oid = i.indrelid)",
         "(SELECT am.amname FROM pg_am am WHERE am.oid = c.relam)", "i.indisunique",
         "i.indnullsnotdistinct", "i.indimmediate", "i.indnkeyatts", _INDEX_KEYS,
         "R(pg_get_expr(i.indexprs, i.indrelid))", "R(pg_get_expr(i.indpred, i.indrelid))",
         "c.reloptions", "i.indisvalid", "i.indisclustered", "i.indisreplident",
         "obj_description(c.oid, 'pg_class')"),
        "pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace",
    ),
    (
        "trg",
        ("R(pg_get_triggerdef(g.oid))", "g.tgenabled", "obj_description(g.oid, 'pg_trigger')"),
        """pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN ns ON ns.oid = c.relnamespace
        WHERE NOT g.tgisinternal""",
    ),
    (
        "fn",
        ("p.proname", "p.prokind", "R(pg_get_function_arguments(p.oid))",
         "R(pg_get_function_result(p.oid))",
         "(SELECT l.lanname FROM pg_language l WHERE l.oid = p.prolang)", "p.prosrc", "p.probin",
         "CASE WHEN p.prosqlbody IS NOT NULL THEN R(pg_get_function_sqlbody(p.oid)) END",
         "p.provolatile", "p.prosecdef", "p.proleakproof", "p.proisstrict", "p.proretset",
         "p.proconfig", "p.procost", "p.prorows", "p.proparallel",
         "obj_description(p.oid, 'pg_proc')"),
        "pg_proc p JOIN ns ON ns.oid = p.pronamespace",
    ),
    (
        "seq",
        ("c.relname", "format_type(s.seqtypid, NULL)", "s.seqstart", "s.seqincrement",
         "s.seqmax", "s.seqmin", "s.seqcache", "s.seqcycle", _OWNED_BY),
        "pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN ns ON ns.oid = c.relnamespace",
    ),
    (
        "type",
        ("t.typname", "t.typtype",
         "CASE WHEN t.typtype = 'd' THEN R(format_type(t.typbasetype, t.typtypmod)) END",
         "t.typnotnull", "R(t.typdefault)",
         """(SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
            FROM pg_enum e WHERE e.enumtypid = t.oid)""",
         """(SELECT string_agg(quote_ident(k.conname) || ' ' || R(pg_get_constraintdef(k.oid)),
            ',' ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid)""",
         "(SELECT R(format_type(r.rngsubtype, NULL)) FROM pg_range r WHERE r.rngtypid = t.oid)",
         "obj_description(t.oid, 'pg_type')"),
        """pg_type t JOIN ns ON ns.oid = t.typnamespace
        WHERE t.typtype IN ('b', 'd', 'e', 'r', 'p')
          AND NOT (t.typcategory = 'A' AND t.typelem <> 0)""",
    ),
    (
        "pol",
        ("c.relname", "p.polname", "p.polcmd", "p.polpermissive", _ROLES,
         "R(pg_get_expr(p.polqual, p.polrelid))", "R(pg_get_expr(p.polwithcheck, p.polrelid))",
         "obj_description(p.oid, 'pg_policy')"),
        "pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN ns ON ns.oid = c.relnamespace",
    ),
    (
        "rule",
        ("c.relname", "r.rulename", "R(pg_get_ruledef(r.oid))", "r.ev_enabled",
         "obj_description(r.oid, 'pg_rewrite')"),
        """pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN ns ON ns.oid = c.relnamespace
        WHERE r.rulename <> '_RETURN'""",
    ),
    (
        "stat",
        ("R(pg_get_statisticsobjdef(s.oid))", "obj_description(s.oid, 'pg_statistic_ext')"),
        "pg_statistic_ext s JOIN ns ON ns.oid = s.stxnamespace",
    ),
    (
        "inh",
        ("c.relname", "h.inhseqno", _PARENT),
        """pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        JOIN pg_class p ON p.oid = h.inhparent JOIN ns ON ns.oid = c.relnamespace""",
    ),
    (
        "op",
        ("o.oprname", "format_type(o.oprleft, NULL)", "format_type(o.oprright, NULL)"),
        "pg_operator o JOIN ns ON ns.oid = o.oprnamespace",
    ),
    (
        "acl",
        ("c.relname", "c.relkind", _ACL.format(acl="c.relacl", owner="c.relowner")),
        """pg_class c JOIN ns ON ns.oid = c.relnamespace
        WHERE c.relacl IS NOT NULL AND c.relkind NOT IN ('i', 'I', 't')""",
    ),
    (
        "facl",
        ("p.proname", "R(pg_get_function_identity_arguments(p.oid))",
         _ACL.format(acl="p.proacl", owner="p.proowner")),
        "pg_proc p JOIN ns ON ns.oid = p.pronamespace WHERE p.proacl IS NOT NULL",
    ),
    (
        "nacl",
        (_ACL.format(acl="n.nspacl", owner="n.nspowner"),),
        "pg_namespace n JOIN ns ON ns.oid = n.oid WHERE n.nspacl IS NOT NULL",
    ),
    ("opclass", ("o.opcname",), "pg_opclass o JOIN ns ON ns.oid = o.opcnamespace"),
    ("opfamily", ("o.opfname",), "pg_opfamily o JOIN ns ON ns.oid = o.opfnamespace"),
    ("collation", ("o.collname",), "pg_collation o JOIN ns ON ns.oid = o.collnamespace"),
    ("conversion", ("o.conname",), "pg_conversion o JOIN ns ON ns.oid = o.connamespace"),
    ("tsconfig", ("o.cfgname",), "pg_ts_config o JOIN ns ON ns.oid = o.cfgnamespace"),
    ("tsdict", ("o.dictname",), "pg_ts_dict o JOIN ns ON ns.oid = o.dictnamespace"),
)  # fmt: skip


def _branch(tag: str, fields: tuple[str, ...], source: str) -> str:
    cells = ", ".join(f"quote_nullable(({f})::text)" for f in fields)
    text = f"SELECT ns.nspname, concat_ws(' ', '{tag}', {cells}) FROM {source}"
    # R(x) -> replace(x, ns.q, '@.'): the ")" closing R is found by counting parentheses
    out, i = [], 0
    while (j := text.find("R(", i)) >= 0:
        if j > 0 and (text[j - 1].isalnum() or text[j - 1] == "_"):
            out.append(text[i : j + 2])
            i = j + 2
            continue
        depth, k = 1, j + 2
        while depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        out.append(text[i:j] + "replace(" + text[j + 2 : k - 1] + ", ns.q, '@.')")
        i = k
    return "".join(out) + text[i:]


_LINES = "\nUNION ALL\n".join(_branch(*k) for k in _KINDS)
_WITH = f"""WITH ns AS (
  SELECT n.oid, n.nspname, quote_ident(n.nspname) || '.' AS q
  FROM pg_namespace n WHERE n.nspname = ANY(%(names)s)
), lines(nsp, line) AS (
{_LINES}
)
"""
_SQL = (
    _WITH
    + """SELECT ns.nspname, encode(sha256(convert_to(
    coalesce(string_agg(l.line, E'\\n' ORDER BY l.line), ''), 'UTF8')), 'hex')
FROM ns LEFT JOIN lines l ON l.nsp = ns.nspname GROUP BY ns.nspname"""
)


def of_schemas(
    url: DatabaseURL, names: Sequence[str], chunk: int = CHUNK, connections: int = 2
) -> dict[str, str]:
    """{schema: fingerprint} of those of `names` that exist: one query per `chunk` schemas,
    on up to `connections` connections at once (the deparsing runs in the server, so a
    second connection uses a second core). Each schema is read by one query: one snapshot."""
    parts = [list(names[i : i + chunk]) for i in range(0, len(names), chunk)]
    if not parts:
        return {}

    def read(part: list[str]) -> list[tuple[str, str]]:
        conn = connect(url, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(_SQL, {"names": part})
                return [(str(n), str(fp)) for n, fp in cur.fetchall()]
        finally:
            conn.close()

    if len(parts) == 1 or connections <= 1:
        return dict(row for part in parts for row in read(part))
    with ThreadPoolExecutor(min(connections, len(parts))) as pool:
        return dict(row for rows in pool.map(read, parts) for row in rows)


def lines(url: DatabaseURL, name: str) -> list[str]:
    """The fingerprint's lines of one schema (to see why two fingerprints differ)."""
    text = _SQL.rsplit("SELECT ns.nspname,", 1)[0] + ("SELECT l.line FROM lines l ORDER BY 1")
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(text, {"names": [name]})
            return [str(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def in_transaction(cur: psycopg2.extensions.cursor, name: str) -> str | None:
    """The fingerprint of schema `name` as the cursor's own transaction sees it (a
    rehearsal inside a transaction, quick_rehearsal.py); None when there is no such schema."""
    cur.execute(_SQL, {"names": [name]})
    row = cur.fetchone()
    return None if row is None else str(row[1])
