"""Materialized views: `materialized_views: {name: {query, comment, with_data, indexes,
renamed_from}}`.

A materialized view is created from its query (one SELECT, through SQLAlchemy's
CreateView with materialized=True; `WITH NO DATA`, which SQLAlchemy does not render, is
appended) in one dependency order with the views (`Kind.derived`, rendered by the views
kind), then its indexes (the indexes part's model and SQLAlchemy rendering) and comments.

What migra gets wrong, mended here:
- it recreates a materialized view (DROP and CREATE) around a change of what it reads,
  but not its indexes (unchanged in its eyes), nor its comment or theirs (it never writes
  COMMENT ON): they follow the CREATE (migra#194, open upstream);
- it recreates it WITH DATA even when the desired one holds none;
- it drops the indexes of a materialized view it drops anyway (removed here).
A REFRESH is data, not DDL: `with_data` is a creation choice, never compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from . import base, indexes, views

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..statements import Record

KEY = "materialized_views"


@dataclass(frozen=True)
class MaterializedView:
    name: str
    query: str
    comment: str | None = None
    with_data: bool = True
    indexes: tuple[indexes.Index, ...] = ()
    renamed_from: str | None = None


_MATVIEWS = """
SELECT c.oid, c.relname, pg_get_viewdef(c.oid, true), obj_description(c.oid, 'pg_class'),
       c.relispopulated, coalesce(c.reloptions, '{}')
FROM pg_class c
WHERE c.relnamespace = %(ns)s AND c.relkind = 'm'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_MATVIEW_COMMENTS = """
SELECT c.relname, NULL::text, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind = 'm'"""

# Comments of the indexes on materialized views, for the ones migra's recreation loses.
_INDEX_COMMENTS = """
SELECT n.nspname, i.relname, obj_description(i.oid, 'pg_class')
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class m ON m.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE m.relkind = 'm'"""

# The indexes part reads the indexes of tables; the same query reads those of
# materialized views with the relation kind changed.
_ON_TABLES = "t.relkind IN ('r', 'p')"


def materialized_views(schema: model.Schema) -> tuple[MaterializedView, ...]:
    return schema.objects(KEY)


def _index_columns(m: MaterializedView) -> list[str]:
    """The column names the indexes name (the sa.Table they are rendered on)."""
    names: list[str] = []
    for ix in m.indexes:
        for n in [i.column for i in ix.items if i.column] + list(ix.include):
            if n not in names:
                names.append(n)
    return names


def _create(m: MaterializedView, target_schema: str | None) -> list[DDL]:
    import sqlalchemy as sa
    from sqlalchemy.schema import CreateIndex, CreateView

    from ..compile import DDL, DIALECT, clean

    query = views._query(m.query)
    create = CreateView(sa.text(query).columns(), m.name, schema=target_schema, materialized=True)
    # Not tidied: the query keeps its lines (a -- comment in it ends where it ends), so
    # WITH NO DATA starts a line of its own.
    sql = str(create.compile(dialect=DIALECT)).strip()
    if not m.with_data:
        sql += "\nWITH NO DATA"
    out = [DDL(sql, f"materialized view {m.name}")]
    table = sa.Table(
        m.name, sa.MetaData(), *(sa.Column(c) for c in _index_columns(m)), schema=target_schema
    )
    for ix in m.indexes:
        indexes._add_index(table, ix)
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        out.append(
            DDL(
                clean(CreateIndex(index).compile(dialect=DIALECT)),
                f"index {index.name} on materialized view {m.name}",
            )
        )
    return out


def _created(r: Record) -> str | None:
    """The materialized view a CREATE MATERIALIZED VIEW record creates."""
    return r.name if r.kind == "CreateTableAsStmt" and r.object_type == "view" else None


def _load_index_comments(inspector: Any) -> None:
    """Attach `bindu_comment` to the inspected indexes of materialized views."""
    from schemainspect.misc import quoted_identifier

    sql: Any = _INDEX_COMMENTS
    if not getattr(inspector, "is_raw_psyco_connection", False):
        from sqlalchemy import text

        sql = text(sql)
    found = {quoted_identifier(n, s): c for s, n, c in inspector.execute(sql)}
    for key, ix in inspector.indexes.items():
        ix.bindu_comment = found.get(key)


class MaterializedViews(base.Kind):
    key = KEY
    word = "materialized view"
    relkinds = ("m",)
    comments = (base.CommentSource("materialized view", 3, _MATVIEW_COMMENTS),)

    def fragment(self) -> dict[str, Any]:
        return base.named_map(
            {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the materialized view's SELECT, as PostgreSQL accepts it",
                },
                "comment": {"type": "string"},
                "with_data": {
                    "type": "boolean",
                    "description": "false: created WITH NO DATA (a creation choice, not "
                    "compared: REFRESH is data, not DDL)",
                },
                "indexes": indexes.PART.fragments()["indexes"],
                "renamed_from": dict(base.RENAMED_FROM),
            },
            ["query"],
        )

    def build(self, section: Any) -> tuple[MaterializedView, ...]:
        return tuple(
            MaterializedView(
                name=name,
                query=v["query"],
                comment=v.get("comment"),
                with_data=v.get("with_data", True),
                indexes=indexes.PART.build({"indexes": v.get("indexes")})["indexes"],
                renamed_from=v.get("renamed_from"),
            )
            for name, v in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        for m in materialized_views(ctx.schema):
            path: base.PathKey = (KEY, m.name)
            ctx.check_ident(path, m.name, "materialized view")
            ctx.claim(m.name, path, "materialized view")
            why = views.query_problem(views._query(m.query))
            if why is not None:
                ctx.err(
                    (*path, "query"),
                    f"materialized view '{m.name}': the query must be exactly one SELECT, "
                    f"but {why}; fix the query",
                )
            for ix in m.indexes:
                _check_index(ctx, m, ix, (*path, "indexes", ix.name))

    def expressions(self, schema: model.Schema) -> list[str]:
        out: list[str] = []
        for m in materialized_views(schema):
            for ix in m.indexes:
                out += [i.expression for i in ix.items if i.expression]
                out += [ix.where] if ix.where else []
        return out

    def derived(self, schema: model.Schema) -> list[base.Derived]:
        return [
            base.Derived(m.name, views._query(m.query), partial(_create, m))
            for m in materialized_views(schema)
        ]

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified
        from ..literals import quote_literal

        out: list[tuple[int, DDL]] = []
        for m in materialized_views(schema):
            if m.comment is not None:
                sql = (
                    f"COMMENT ON MATERIALIZED VIEW {qualified(m.name, target_schema)} IS "
                    f"{quote_literal(m.comment)}"
                )
                out.append((base.COMMENTS, DDL(sql, f"comment on materialized view {m.name}")))
            for ix in m.indexes:
                if ix.comment is not None:
                    sql = (
                        f"COMMENT ON INDEX {qualified(ix.name, target_schema)} IS "
                        f"{quote_literal(ix.comment)}"
                    )
                    out.append((base.PART_COMMENTS, DDL(sql, f"comment on index {ix.name}")))
        return out

    catalog_sql = """
SELECT 'm', c.relname, NULL, NULL FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind = 'm'"""
    catalog_tags = ("m",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {KEY: frozenset(name for _, name, _, _ in rows)}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        existing: frozenset[str] = facts.others.get(KEY, frozenset())
        found = materialized_views(schema)
        pairs = ((m.name, m.renamed_from) for m in found)
        out = base.relation_renames(
            "materialized view", pairs, existing.__contains__, where, target_schema
        )
        index_pairs = ((ix.name, ix.renamed_from) for m in found for ix in m.indexes)
        out += base.relation_renames(
            "index", index_pairs, facts.indexes.__contains__, where, target_schema
        )
        return out

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import (
            ACQUIRES_ACCESS_EXCLUSIVE_LOCK,
            INDEX_DROPPED,
            MATERIALIZED_VIEW_REBUILD,
        )

        mine: frozenset[str] = facts.others.get(KEY, frozenset())
        if rec.kind == "DropStmt" and rec.objtype == "matview":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        if rec.kind == "DropStmt" and rec.objtype == "index":
            # the indexes part names the hazards of indexes on tables
            if facts.indexes.get(rec.name or "") in mine:
                lock = set() if rec.concurrently else {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
                return {INDEX_DROPPED, *lock}
        if _created(rec) is not None:
            # Its query runs inside the migration over what already exists (or, WITH NO
            # DATA, it cannot be read until a REFRESH, which no plan runs).
            live = facts.tables | facts.others.get(views.KEY, frozenset())
            live |= mine
            if views._reads(_select_of(rec.sql)) & live:
                return {MATERIALIZED_VIEW_REBUILD}
        return set()

    def owners(self, schema: model.Schema) -> dict[str, str]:
        return {ix.name: m.name for m in materialized_views(schema) for ix in m.indexes}

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        """CREATE MATERIALIZED VIEW counts in the views' summary row ("view")."""
        from pglast import ast
        from pglast.enums import ObjectType

        from ..statements import relation

        if not (isinstance(stmt, ast.CreateTableAsStmt) and stmt.into is not None):
            return None
        if stmt.objtype != ObjectType.OBJECT_MATVIEW:
            return None
        schema, name = relation(stmt.into.rel)
        return replace(rec, object_type="view", action="create", schema=schema, name=name)

    def patch_migra_queries(self, obj: Any) -> None:
        """schemainspect does not read index comments: each inspection reads those of the
        indexes on materialized views once its relations are loaded."""
        cls = obj.PostgreSQL
        if getattr(cls.load_all_relations, "bindu_index_comments", False):
            return
        original = cls.load_all_relations

        def load_all_relations(inspector: Any) -> None:
            original(inspector)
            _load_index_comments(inspector)

        load_all_relations.bindu_index_comments = True  # type: ignore[attr-defined]
        load_all_relations.bindu_extras = getattr(original, "bindu_extras", False)  # type: ignore[attr-defined]
        cls.load_all_relations = load_all_relations

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        """migra creates every materialized view WITH DATA: one that holds none in the
        desired database is created WITH NO DATA."""
        cls = obj.InspectedSelectable
        original = cls.create_statement

        def create(rel: Any) -> str:
            if rel.relationtype != "m":
                return str(original.__get__(rel))
            no_data = "" if getattr(rel, "bindu_populated", True) else "\nWITH NO DATA"
            return (
                f"create materialized view {rel.quoted_full_name} as "
                f"{views._body(rel.definition)}{no_data};"
            )

        cls.create_statement = property(create)

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        from .. import statements
        from ..compile import qualified
        from ..literals import quote_literal

        dropped = {
            n for r in records if r.kind == "DropStmt" and r.objtype == "matview" for n in r.names
        }
        if not dropped:
            return records
        on = {ix.name: ix.table_name for ix in i_from.indexes.values()}
        # An index goes with its dropped materialized view.
        records = [
            r
            for r in records
            if not (r.kind == "DropStmt" and r.objtype == "index" and on.get(r.name) in dropped)
        ]
        created_indexes = {r.name for r in records if r.kind == "IndexStmt"}
        commented = {(r.objtype, r.name) for r in records if r.kind == "CommentStmt"}
        target = {m.name: m for m in i_target.materialized_views.values()}
        out: list[Record] = []
        for r in records:
            out.append(r)
            name = _created(r)
            m = target.get(name or "")
            if name not in dropped or m is None:
                continue
            # Recreated: its indexes and comments come back with it.
            sqls: list[str] = []
            found = [
                ix
                for ix in i_target.indexes.values()
                if ix.table_name == name and ix.schema == m.schema
            ]
            for ix in found:
                if ix.name not in created_indexes:
                    sqls.append(f"{ix.definition};")
            if m.comment is not None and ("matview", name) not in commented:
                sqls.append(
                    f"COMMENT ON MATERIALIZED VIEW {qualified(m.name, m.schema)} IS "
                    f"{quote_literal(m.comment)};"
                )
            for ix in found:
                comment = getattr(ix, "bindu_comment", None)
                if comment is not None and ("index", ix.name) not in commented:
                    sqls.append(
                        f"COMMENT ON INDEX {qualified(ix.name, ix.schema)} IS "
                        f"{quote_literal(comment)};"
                    )
            out += [statements.parse(s, ("IndexStmt", "CommentStmt")) for s in sqls]
        return out

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import clean_body
        from .columns import NAME

        out: dict[str, Any] = {}
        by_oid: dict[int, dict[str, Any]] = {}
        for oid, name, definition, comment, populated, reloptions in state.rows(_MATVIEWS):
            m: dict[str, Any] = {
                "query": clean_body(definition).rstrip().rstrip(";").rstrip() + "\n"
            }
            if comment is not None:
                m["comment"] = comment
            if not populated:
                m["with_data"] = False
            for opt in reloptions:
                state.warn(f"materialized view {name}: WITH ({opt}) is not in the format; left out")
            out[name] = m
            by_oid[oid] = {NAME: name}
        if by_oid:
            assert _ON_TABLES in indexes._INDEXES
            on_matviews = replace(
                state,
                rows=lambda sql: state.rows(sql.replace(_ON_TABLES, "t.relkind = 'm'")),
            )
            indexes.PART.inspect(on_matviews, by_oid)
            for found in by_oid.values():
                if "indexes" in found:
                    out[found[NAME]]["indexes"] = found["indexes"]
        return out


def _select_of(sql: str) -> str:
    """The SELECT of a CREATE MATERIALIZED VIEW statement, deparsed by pglast."""
    from pglast import ast, parse_sql
    from pglast.stream import RawStream

    stmt = parse_sql(sql)[0].stmt
    assert isinstance(stmt, ast.CreateTableAsStmt) and stmt.query is not None
    return str(RawStream()(stmt.query))


def _check_index(
    ctx: base.CheckContext, m: MaterializedView, ix: indexes.Index, ip: base.PathKey
) -> None:
    """The indexes part's rules that do not need the relation's columns (a column a
    materialized view does not have is PostgreSQL's error when the DDL loads, naming it)."""
    ctx.check_ident(ip, ix.name, "index")
    ctx.claim(ix.name, ip, "index")
    for n, item in enumerate(ix.items):
        ipath: base.PathKey = (*ip, "columns", n)
        if (item.column is None) == (item.expression is None):
            ctx.err(
                ipath,
                f"index '{ix.name}': each key needs exactly one of 'column' or 'expression'; "
                "keep one of them",
            )
        if (item.order or item.nulls) and ix.method != "btree":
            ctx.err(
                ipath,
                f"index '{ix.name}': ASC/DESC and NULLS order need method btree; "
                "remove 'order' and 'nulls' or use method btree",
            )
    if ix.include and ix.method not in ("btree", "gist", "spgist"):
        ctx.err(
            (*ip, "include"),
            f"index '{ix.name}': INCLUDE needs method btree, gist or spgist; "
            "remove 'include' or change the method",
        )
    for opt, _ in ix.options:
        if ix.method not in indexes.OPTION_METHODS[opt]:
            ctx.err(
                (*ip, "options", opt),
                f"index '{ix.name}': storage parameter '{opt}' is for "
                f"{' / '.join(indexes.OPTION_METHODS[opt])} indexes, not {ix.method}; "
                "remove it or change the method",
                key=True,
            )
    if ix.unique and ix.method != "btree":
        ctx.err(
            (*ip, "unique"),
            f"index '{ix.name}': only btree indexes can be unique; "
            "remove 'unique' or use method btree",
        )


KIND = MaterializedViews()
