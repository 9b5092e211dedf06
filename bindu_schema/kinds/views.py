"""Views: `views: {name: {query, comment, renamed_from}}`.

A view is created from its query (one SELECT, through SQLAlchemy's CreateView) after the
tables and the functions it reads (phase DERIVED). migra diffs views and drops and
recreates a view around a change of a column it reads; this module adds what migra
misses: comments on views (also on a view migra recreates) and renames by hint.
Not yet: WITH (security_barrier / security_invoker) options (migra recreates a view
without them) and materialized views; inspect warns about both and leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..statements import Record

KEY = "views"


@dataclass(frozen=True)
class View:
    name: str
    query: str
    comment: str | None = None
    renamed_from: str | None = None


_VIEWS = """
SELECT c.relname, pg_get_viewdef(c.oid, true), obj_description(c.oid, 'pg_class'),
       coalesce(c.reloptions, '{}')
FROM pg_class c
WHERE c.relnamespace = %(ns)s AND c.relkind = 'v'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_VIEW_COMMENTS = """
SELECT c.relname, NULL::text, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind = 'v'"""


def views(schema: model.Schema) -> tuple[View, ...]:
    return schema.objects(KEY)


def _query(text: str) -> str:
    """The query without trailing whitespace and semicolon (CREATE VIEW adds nothing)."""
    return text.strip().rstrip(";").rstrip()


def query_problem(text: str) -> str | None:
    """Why the text is not exactly one SELECT (pglast parses it), or None."""
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    try:
        stmts = parse_sql(text)
    except ParseError as exc:
        return f"PostgreSQL's parser says: {exc}"
    if len(stmts) != 1:
        return f"it holds {len(stmts)} statements"
    if not isinstance(stmts[0].stmt, ast.SelectStmt):
        return f"it is a {type(stmts[0].stmt).__name__}, not a SELECT"
    return None


def _reads(query: str) -> set[str]:
    """The relation names a query reads (its parse tree's RangeVars)."""
    from pglast import ast, parse_sql
    from pglast.visitors import Visitor

    names: set[str] = set()

    class _Reads(Visitor):
        def visit_RangeVar(self, ancestors: object, node: ast.RangeVar) -> None:
            if node.relname:
                names.add(node.relname)

    _Reads()(parse_sql(query))
    return names


def in_dependency_order(found: tuple[View, ...]) -> list[View]:
    """The views, each after the views its query reads (YAML order otherwise)."""
    by_name = {v.name: v for v in found}
    deps = {v.name: _reads(_query(v.query)) & set(by_name) - {v.name} for v in found}
    out: list[View] = []
    placed: set[str] = set()
    while len(out) < len(found):
        ready = [v for v in found if v.name not in placed and deps[v.name] <= placed]
        if not ready:  # a cycle: PostgreSQL refuses it when the DDL loads, naming the view
            ready = [v for v in found if v.name not in placed]
        out.append(ready[0])
        placed.add(ready[0].name)
    return out


def _created_view(r: Record) -> str | None:
    """The name of the view a CREATE VIEW record creates (read from its parse tree)."""
    if r.kind != "ViewStmt":
        return None
    from pglast import ast, parse_sql

    stmt = parse_sql(r.sql)[0].stmt
    return stmt.view.relname if isinstance(stmt, ast.ViewStmt) and stmt.view else None


class Views(base.Kind):
    key = KEY
    word = "view"
    relkinds = ("v",)
    comments = (base.CommentSource("view", 3, _VIEW_COMMENTS),)

    def fragment(self) -> dict[str, Any]:
        return base.named_map(
            {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "the view's SELECT, as PostgreSQL accepts it",
                },
                "comment": {"type": "string"},
                "renamed_from": dict(base.RENAMED_FROM),
            },
            ["query"],
        )

    def build(self, section: Any) -> tuple[View, ...]:
        return tuple(
            View(
                name=name,
                query=v["query"],
                comment=v.get("comment"),
                renamed_from=v.get("renamed_from"),
            )
            for name, v in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        for v in views(ctx.schema):
            path: base.PathKey = (KEY, v.name)
            ctx.check_ident(path, v.name, "view")
            ctx.claim(v.name, path, "view")
            why = query_problem(_query(v.query))
            if why is not None:
                ctx.err(
                    (*path, "query"),
                    f"view '{v.name}': the query must be exactly one SELECT, but {why}; "
                    "fix the query",
                )

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        import sqlalchemy as sa
        from sqlalchemy.schema import CreateView

        from ..compile import DDL, DIALECT, qualified, quote
        from ..literals import quote_literal

        out: list[tuple[int, DDL]] = []
        if target_schema and views(schema):
            # A view binds the names in its query when it is created: in a tenant schema
            # they must resolve there, as they do when env.py runs the revisions.
            sql = f"SET LOCAL search_path = {quote(target_schema)}"
            out.append((base.DERIVED, DDL(sql, f"search path for the views of {target_schema}")))
        for v in in_dependency_order(views(schema)):
            create = CreateView(sa.text(_query(v.query)).columns(), v.name, schema=target_schema)
            # Not tidied (compile.clean): the query keeps its lines, so a -- comment in it
            # ends where it ends.
            sql = str(create.compile(dialect=DIALECT)).strip()
            out.append((base.DERIVED, DDL(sql, f"view {v.name}")))
            if v.comment is not None:
                sql = (
                    f"COMMENT ON VIEW {qualified(v.name, target_schema)} IS "
                    f"{quote_literal(v.comment)}"
                )
                out.append((base.COMMENTS, DDL(sql, f"comment on view {v.name}")))
        return out

    catalog_sql = """
SELECT 'v', c.relname, NULL, NULL FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind = 'v'"""
    catalog_tags = ("v",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {KEY: frozenset(name for _, name, _, _ in rows)}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        from ..compile import qualified, quote
        from ..renames import hint

        existing: frozenset[str] = facts.others.get(KEY, frozenset())
        found = [
            hint(
                "view",
                v.name,
                v.renamed_from,
                v.name,
                existing.__contains__,
                lambda a, b: f"ALTER VIEW {qualified(a, target_schema)} RENAME TO {quote(b)};",
                where,
            )
            for v in views(schema)
            if v.renamed_from
        ]
        return [r for r in found if r is not None]

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK

        if rec.kind == "DropStmt" and rec.objtype == "view":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        return set()

    object_types = ("view",)
    pg_objects = (("OBJECT_VIEW", "view"), ("OBJECT_MATVIEW", "view"))

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import relation

        if not isinstance(stmt, ast.ViewStmt):
            return None
        schema, name = relation(stmt.view)
        return replace(rec, object_type="view", action="create", schema=schema, name=name)

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra drops and recreates a view around a change of what it reads (a column's
        type); the recreated view has lost its comment, which migra never writes: the
        target's comment follows the CREATE (unless a COMMENT for it is already there)."""
        from .. import statements
        from ..compile import qualified
        from ..literals import quote_literal

        dropped = {
            n for r in records if r.kind == "DropStmt" and r.objtype == "view" for n in r.names
        }
        if not dropped:
            return records
        commented = {r.name for r in records if r.kind == "CommentStmt" and r.objtype == "view"}
        target = {v.name: v for v in i_target.views.values()}
        out: list[Record] = []
        for r in records:
            out.append(r)
            name = _created_view(r)
            view = target.get(name or "")
            if name in dropped and view is not None and view.comment is not None:
                if name not in commented:
                    sql = (
                        f"COMMENT ON VIEW {qualified(name or '', view.schema)} IS "
                        f"{quote_literal(view.comment)};"
                    )
                    out.append(statements.parse(sql, "CommentStmt"))
        return out

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import clean_body

        out: dict[str, Any] = {}
        for name, definition, comment, reloptions in state.rows(_VIEWS):
            v: dict[str, Any] = {"query": clean_body(definition).rstrip(";").rstrip() + "\n"}
            if comment is not None:
                v["comment"] = comment
            for opt in reloptions:
                state.warn(f"view {name}: WITH ({opt}) is not in the format yet; left out")
            out[name] = v
        return out


KIND = Views()
