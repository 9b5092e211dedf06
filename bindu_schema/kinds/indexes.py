"""Indexes of a table: `indexes: {name: {columns, method, unique, where, include, ...}}`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base
from .base import need_cols

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..statements import Record
    from .tables import Table


@dataclass(frozen=True)
class IndexItem:
    """One key of an index: a column name or an SQL expression."""

    column: str | None = None
    expression: str | None = None
    order: str | None = None  # "asc" | "desc"
    nulls: str | None = None  # "first" | "last"
    opclass: str | None = None


@dataclass(frozen=True)
class Index:
    name: str
    items: tuple[IndexItem, ...]
    method: str = "btree"
    unique: bool = False
    where: str | None = None
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False
    options: tuple[tuple[str, bool | int | str], ...] = ()  # WITH (...), sorted by name
    comment: str | None = None
    renamed_from: str | None = None


METHODS = ("btree", "gin", "gist", "brin", "hash", "spgist")

# Storage parameters (WITH (...)) per access method, with their JSON Schema: a whitelist,
# so a value is an integer, a boolean or one of a few words, never text that becomes SQL.
_FILLFACTOR = {"type": "integer", "minimum": 10, "maximum": 100}
_BOOL = {"type": "boolean"}
OPTIONS: dict[str, dict[str, Any]] = {
    "fillfactor": _FILLFACTOR,
    "deduplicate_items": _BOOL,
    "buffering": {"enum": ["on", "off", "auto"]},
    "fastupdate": _BOOL,
    "gin_pending_list_limit": {"type": "integer", "minimum": 64, "maximum": 2147483647},
    "pages_per_range": {"type": "integer", "minimum": 1, "maximum": 131072},
    "autosummarize": _BOOL,
}
OPTION_METHODS: dict[str, tuple[str, ...]] = {
    "fillfactor": ("btree", "hash", "gist", "spgist"),
    "deduplicate_items": ("btree",),
    "buffering": ("gist",),
    "fastupdate": ("gin",),
    "gin_pending_list_limit": ("gin",),
    "pages_per_range": ("brin",),
    "autosummarize": ("brin",),
}
_NND_SINCE = 150000  # pg_index.indnullsnotdistinct, CREATE INDEX ... NULLS NOT DISTINCT


def option_text(value: bool | int | str) -> str:
    """A storage parameter's value as written in WITH (...) and kept in reloptions."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def option_value(name: str, text: str) -> bool | int | str:
    """A reloptions value read back into the YAML's type (PostgreSQL's boolean spellings)."""
    kind = OPTIONS.get(name, {}).get("type")
    if kind == "boolean":
        return text.lower() in ("on", "true", "yes", "1", "t", "y")
    if kind == "integer":
        return int(text)
    return text


# An operator class name: a plain or "quoted" identifier, optionally schema-qualified.
_IDENT = '(?:[A-Za-z_\\u0080-\\uffff][A-Za-z0-9_$\\u0080-\\uffff]*|"(?:[^"]|"")+")'
OPCLASS_PATTERN = f"^{_IDENT}(?:\\.{_IDENT})?$"

_INDEXES = """
SELECT x.indrelid, i.relname, am.amname, x.indisunique, x.indnkeyatts, x.indnatts,
       x.indkey::int2[], x.indoption::int2[],
       ARRAY(SELECT CASE WHEN o.opcdefault THEN NULL ELSE o.opcname END
             FROM unnest(x.indclass::oid[]) WITH ORDINALITY u(oid, n)
             JOIN pg_opclass o ON o.oid = u.oid ORDER BY u.n),
       ARRAY(SELECT CASE WHEN u.coll = 0 OR u.coll = coalesce(a.attcollation, u.coll)
                         OR u.coll = 'pg_catalog.default'::regcollation THEN NULL
                         ELSE u.coll::regcollation::text END
             FROM unnest(x.indcollation::oid[], x.indkey::int2[]) WITH ORDINALITY
                  u(coll, attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.attnum
             ORDER BY u.n),
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnatts) k ORDER BY k),
       ARRAY(SELECT coalesce(a.attname, '')
             FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(n, i)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
             ORDER BY u.i),
       pg_get_expr(x.indpred, x.indrelid, true), obj_description(i.oid, 'pg_class'),
       x.indisvalid, {nnd}, coalesce(i.reloptions, '{}')
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE t.relnamespace = %(ns)s AND t.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                    AND k.contype IN ('p', 'u', 'x'))
ORDER BY x.indrelid, i.relname
"""

_INDEX_COMMENTS = """
SELECT c.relname, NULL::text, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind = 'i'"""


def _add_index(table: sa.Table, ix: Index) -> None:
    import sqlalchemy as sa

    from ..compile import quote

    exprs: list[sa.ColumnElement[object]] = []
    ops: dict[str, str] = {}
    for n, item in enumerate(ix.items):
        e: sa.ColumnElement[object]
        ordered = bool(item.order or item.nulls)
        if item.opclass and ordered:
            # postgresql_ops only finds keys that are bare columns or labels; once wrapped in
            # DESC / NULLS the opclass would be dropped silently. PostgreSQL wants
            # `key opclass DESC NULLS LAST`, so the opclass goes into the key's text.
            key = quote(item.column) if item.column is not None else f"({item.expression})"
            e = sa.literal_column(f"{key} {item.opclass}")
        elif item.column is not None:
            e = table.c[item.column]
            if item.opclass:
                ops[item.column] = item.opclass
        else:
            assert item.expression is not None
            # A labelled expression lets postgresql_ops find the key for its opclass.
            label = f"expr_{n}"
            e = sa.literal_column(f"({item.expression})").label(label)
            if item.opclass:
                ops[label] = item.opclass
        if item.order == "desc":
            e = e.desc()
        elif item.order == "asc":
            e = e.asc()
        if item.nulls == "first":
            e = e.nulls_first()
        elif item.nulls == "last":
            e = e.nulls_last()
        exprs.append(e)
    kw: dict[str, Any] = {}
    if ix.method != "btree":
        kw["postgresql_using"] = ix.method
    if ix.where:
        kw["postgresql_where"] = sa.literal_column(ix.where)
    if ix.include:
        kw["postgresql_include"] = list(ix.include)
    if ops:
        kw["postgresql_ops"] = ops
    if ix.nulls_not_distinct:
        kw["postgresql_nulls_not_distinct"] = True
    if ix.options:  # whitelisted names, typed values (OPTIONS)
        kw["postgresql_with"] = {k: option_text(v) for k, v in ix.options}
    sa.Index(ix.name, *exprs, unique=ix.unique, _table=table, **kw)


class Indexes(base.TablePart):
    rename_rank = 1
    comments = (base.CommentSource("index", 2, _INDEX_COMMENTS),)
    inspection_attrs = ("indexes",)

    def fragments(self) -> dict[str, dict[str, Any]]:
        item = base.entry(
            {
                "column": dict(base.NAME),
                "expression": dict(base.NAME),
                "order": {"enum": ["asc", "desc"]},
                "nulls": {"enum": ["first", "last"]},
                "opclass": {"type": "string", "minLength": 1, "pattern": OPCLASS_PATTERN},
            }
        )
        return {
            "indexes": base.named_map(
                {
                    "columns": {
                        "type": "array",
                        "items": {"oneOf": [dict(base.NAME), item]},
                        "minItems": 1,
                    },
                    "method": {"enum": list(METHODS)},
                    "unique": {"type": "boolean"},
                    "where": dict(base.NAME),
                    "include": base.names_list(),
                    "nulls_not_distinct": {"type": "boolean"},
                    "options": {
                        "type": "object",
                        "properties": {k: dict(v) for k, v in OPTIONS.items()},
                        "additionalProperties": False,
                        "minProperties": 1,
                    },
                    "comment": {"type": "string"},
                    "renamed_from": dict(base.RENAMED_FROM),
                },
                ["columns"],
            )
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        indexes = []
        for iname, i in (section.get("indexes") or {}).items():
            items = []
            for it in i["columns"]:
                if isinstance(it, str):
                    items.append(IndexItem(column=it))
                else:
                    items.append(
                        IndexItem(
                            column=it.get("column"),
                            expression=it.get("expression"),
                            order=it.get("order"),
                            nulls=it.get("nulls"),
                            opclass=it.get("opclass"),
                        )
                    )
            indexes.append(
                Index(
                    name=iname,
                    items=tuple(items),
                    method=i.get("method", "btree"),
                    unique=i.get("unique", False),
                    where=i.get("where"),
                    include=tuple(i.get("include") or ()),
                    nulls_not_distinct=i.get("nulls_not_distinct", False),
                    options=tuple(sorted((i.get("options") or {}).items())),
                    comment=i.get("comment"),
                    renamed_from=i.get("renamed_from"),
                )
            )
        return {"indexes": tuple(indexes)}

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        err = ctx.err
        column_names = [c.name for c in t.columns]
        for ix in t.indexes:
            ip: base.PathKey = (*tp, "indexes", ix.name)
            ctx.check_ident(ip, ix.name, "index")
            ctx.claim(ix.name, ip, "index")
            for n, item in enumerate(ix.items):
                ipath: base.PathKey = (*ip, "columns", n)
                if (item.column is None) == (item.expression is None):
                    err(
                        ipath,
                        f"index '{ix.name}': each key needs exactly one of 'column' or "
                        "'expression'; keep one of them",
                    )
                elif item.column is not None and t.column(item.column) is None:
                    hint = ctx.did_you_mean(item.column, column_names) or (
                        f"known columns: {', '.join(column_names)}"
                    )
                    err(
                        ipath,
                        f"index '{ix.name}': column '{item.column}' does not exist in "
                        f"table '{t.name}'; {hint}",
                    )
                if (item.order or item.nulls) and ix.method != "btree":
                    err(
                        ipath,
                        f"index '{ix.name}': ASC/DESC and NULLS order need method btree; "
                        "remove 'order' and 'nulls' or use method btree",
                    )
            if ix.include:
                need_cols(ctx, (*ip, "include"), ix.include, f"index '{ix.name}' INCLUDE", t)
                if ix.method not in ("btree", "gist", "spgist"):
                    err(
                        (*ip, "include"),
                        f"index '{ix.name}': INCLUDE needs method btree, gist "
                        "or spgist; remove 'include' or change the method",
                    )
            for opt, _ in ix.options:
                if ix.method not in OPTION_METHODS[opt]:
                    err(
                        (*ip, "options", opt),
                        f"index '{ix.name}': storage parameter '{opt}' is for "
                        f"{' / '.join(OPTION_METHODS[opt])} indexes, not {ix.method}; "
                        "remove it or change the method",
                        key=True,
                    )
            if ix.unique and ix.method != "btree":
                err(
                    (*ip, "unique"),
                    f"index '{ix.name}': only btree indexes can be unique; "
                    "remove 'unique' or use method btree",
                )

    def expressions(self, t: Table) -> list[str]:
        out: list[str] = []
        for ix in t.indexes:
            out += [i.expression for i in ix.items if i.expression]
            out += [ix.where] if ix.where else []
        return out

    def sa_after(self, table: sa.Table, t: Table) -> None:
        for ix in t.indexes:
            _add_index(table, ix)

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from sqlalchemy.schema import CreateIndex

        from ..compile import DDL, DIALECT, clean, qualified
        from ..literals import quote_literal

        out = [
            (
                base.RELATION_PARTS,
                DDL(
                    clean(CreateIndex(index).compile(dialect=DIALECT)),
                    f"index {index.name} on table {table.name}",
                ),
            )
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
        for ix in t.indexes:
            if ix.comment is not None:
                sql = (
                    f"COMMENT ON INDEX {qualified(ix.name, target_schema)} IS "
                    f"{quote_literal(ix.comment)}"
                )
                out.append((base.PART_COMMENTS, DDL(sql, f"comment on index {ix.name}")))
        return out

    def renames(
        self,
        t: Table,
        hint: Callable[..., Rename | None],
        on_table: Callable[[Any], Callable[[str], bool]],
        facts: Facts,
        ts: str,
    ) -> list[Rename | None]:
        from ..compile import qualified, quote

        return [
            hint(
                "index",
                ix.name,
                ix.renamed_from,
                ix.name,
                facts.indexes.__contains__,
                lambda a, b: f"ALTER INDEX {qualified(a, ts)} RENAME TO {quote(b)};",
            )
            for ix in t.indexes
            if ix.renamed_from
        ]

    catalog_sql = """
SELECT 'i', i.relname, t.relname, NULL FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
 WHERE n.nspname = %(schema)s"""
    catalog_tags = ("i",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"indexes": {name: rel for _, name, rel, _ in rows}}

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK, INDEX_BUILD, INDEX_DROPPED

        found: set[str] = set()
        if rec.kind == "DropStmt" and rec.object_type == "index":
            table = facts.indexes.get(rec.name or "")
            # An index whose table goes away in the same plan is not a loss of its own.
            # Nor is one whose replacement is already built (online.py's swap).
            if (table is None or table in facts.tables) and rec.note != "replaced":
                found.add(INDEX_DROPPED)
                if not rec.concurrently:
                    found.add(ACQUIRES_ACCESS_EXCLUSIVE_LOCK)
        elif rec.kind == "IndexStmt":
            if rec.table in facts.tables and not rec.concurrently:
                found.add(INDEX_BUILD)
        return found

    def owners(self, t: Table) -> dict[str, str]:
        return {ix.name: t.name for ix in t.indexes}

    object_types = ("index",)
    pg_objects = (("OBJECT_INDEX", "index"),)

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import relation

        if not isinstance(stmt, ast.IndexStmt):
            return None
        schema, table = relation(stmt.relation)
        c = bool(stmt.concurrent)
        return replace(
            rec,
            object_type="index",
            action="create",
            schema=schema,
            name=stmt.idxname,
            table=table,
            concurrently=c,
            transactional=not c,
        )

    def change(self, rec: Record, owners: Mapping[str, str]) -> base.Change | None:
        if rec.object_type == "index" and rec.action != "create":
            return ("index", rec.action, owners.get(rec.new_name or rec.name or ""), None, None)
        if rec.object_type == "comment" and rec.objtype == "index":
            return ("comment", rec.action, owners.get(rec.name or ""), None, None)
        if rec.object_type == "index":
            return ("index", rec.action, rec.table, rec.column, rec.note)
        return None

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra compares an index by its keys, uniqueness, predicate and method, not by its
        definition: a changed NULLS NOT DISTINCT, storage parameter (WITH), operator class
        or collation goes unseen. Where pg_get_indexdef differs and migra emitted nothing
        for the index, drop and create it (online.py turns the pair into a swap)."""
        from .. import statements

        touched = {r.name for r in records if r.kind == "IndexStmt"} | {
            n for r in records if r.kind == "DropStmt" and r.objtype == "index" for n in r.names
        }
        added: list[Record] = []
        for key, want in sorted(i_target.indexes.items()):
            have = i_from.indexes.get(key)
            if have is None or want.name in touched or want.constraint or want.is_pk:
                continue
            if have.table_name != want.table_name or _same(have.definition, want.definition):
                continue
            added += [
                statements.parse(f"drop index if exists {have.quoted_full_name};", "DropStmt"),
                statements.parse(f"{want.definition};", "IndexStmt"),
            ]
        return records + added

    def inside_dropped(self, r: Record, dropped: set[str], i_from: Any) -> bool:
        if not (r.kind == "DropStmt" and r.objtype == "index" and r.names):
            return False
        return _index_tables(i_from).get(r.names[0]) in dropped

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        from ..introspect import FlowList, FlowMap, compact, strip_outer_parens
        from .columns import NAME

        warn = state.warn
        for (
            relid,
            name,
            method,
            unique,
            nkey,
            natts,
            indkey,
            indoption,
            opclasses,
            collations,
            keydefs,
            attnames,
            predicate,
            comment,
            valid,
            nulls_not_distinct,
            reloptions,
        ) in state.rows(
            _INDEXES.replace(
                "{nnd}", "x.indnullsnotdistinct" if state.version >= _NND_SINCE else "false"
            )
        ):
            if relid not in tables:
                continue
            where = f"index {name} on {tables[relid][NAME]}"
            if method not in METHODS:
                warn(f"{where}: method {method} is not in the format; left out")
                continue
            if not valid:
                warn(f"{where}: the index is INVALID (a failed CONCURRENTLY build?); kept anyway")
            items: list[Any] = []
            simple = True
            for k in range(nkey):
                item: dict[str, Any] = {}
                if indkey[k] != 0:
                    item["column"] = attnames[k]
                else:
                    item["expression"] = strip_outer_parens(keydefs[k])
                if method == "btree":
                    opt = indoption[k]
                    desc, nulls_first = bool(opt & 1), bool(opt & 2)
                    if desc:
                        item["order"] = "desc"
                        if not nulls_first:
                            item["nulls"] = "last"
                    elif nulls_first:
                        item["nulls"] = "first"
                if opclasses[k]:
                    item["opclass"] = opclasses[k]
                if collations[k]:
                    warn(f"{where}: COLLATE {collations[k]} is not in the format; left out")
                if list(item) == ["column"]:
                    items.append(item["column"])
                else:
                    simple = False
                    items.append(FlowMap(item))
            ix: dict[str, Any] = {"columns": FlowList(items)}
            if method != "btree":
                ix["method"] = method
            if unique:
                ix["unique"] = True
            if predicate:
                ix["where"] = strip_outer_parens(predicate)
            if natts > nkey:
                ix["include"] = FlowList(attnames[nkey:natts])
            if nulls_not_distinct:
                ix["nulls_not_distinct"] = True
            options: dict[str, Any] = {}
            for opt in reloptions:
                key, _, value = opt.partition("=")
                if key in OPTIONS and method in OPTION_METHODS[key]:
                    options[key] = option_value(key, value)
                else:
                    warn(f"{where}: storage parameter {opt} is not in the format; left out")
            if options:
                ix["options"] = FlowMap(dict(sorted(options.items())))
            if comment is not None:
                ix["comment"] = comment
            t = tables[relid]
            t.setdefault("indexes", {})[name] = compact(ix) if simple or len(ix) == 1 else ix

    def unique_sets(self, t: Table) -> list[frozenset[str]]:
        return [
            frozenset(i.column for i in ix.items if i.column)
            for ix in t.indexes
            if ix.unique and ix.where is None and all(i.column for i in ix.items)
        ]


def _same(a: str, b: str) -> bool:
    """Two index definitions (pg_get_indexdef) mean the same index: equal parse trees, the
    storage parameters taken in any order (reloptions keep the order they were set in)."""
    if a == b:
        return True
    from pglast import parse_sql

    from .. import statements

    def tree(sql: str) -> Any:
        node: Any = parse_sql(sql)[0].stmt
        stmt = node(skip_none=True)
        stmt["options"] = sorted(stmt.get("options") or (), key=lambda o: str(o["defname"]))
        return statements.plain(stmt)

    return bool(tree(a) == tree(b))


PART = Indexes()


# index name -> table name of the last inspection asked about (inside_dropped is asked once
# per dropped index: 3,000 index drops of 1,000 tables rebuilt the map 3,000 times, 1.5 s).
_last_index_tables: list[tuple[Any, dict[str, str]]] = []


def _index_tables(i: Any) -> dict[str, str]:
    if not _last_index_tables or _last_index_tables[0][0] is not i:
        _last_index_tables[:] = [(i, {v.name: v.table_name for v in i.indexes.values()})]
    return _last_index_tables[0][1]
