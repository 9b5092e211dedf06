"""Views: `views: {name: {query, options, comment, renamed_from}}`.

A view is created from its query (one SELECT, through SQLAlchemy's CreateView, with its
`WITH (...)` options) after the tables and the functions it reads (phase DERIVED); every
kind's query-defined relations (`Kind.derived`: views, materialized views) are created in
one dependency order here. migra diffs views and drops and recreates a view around a
change of a column it reads; this module adds what migra misses: comments on views (also
on a view migra recreates), the view options (migra neither compares them nor writes them
when it recreates a view: its create statement gets them, an options change becomes
ALTER VIEW ... SET / RESET), and renames by hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
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
    # WITH (...) options, (name, value) sorted by name: values as PostgreSQL stores them
    options: tuple[tuple[str, str], ...] = ()


# The options of CREATE VIEW ... WITH (...): name -> JSON Schema of the YAML value.
OPTIONS: dict[str, dict[str, Any]] = {
    "security_barrier": {"type": "boolean"},
    "security_invoker": {"type": "boolean"},
    "check_option": {"enum": ["local", "cascaded"]},
}
_TRUE = ("true", "on", "yes", "1", "t", "y")
_FALSE = ("false", "off", "no", "0", "f", "n")


def option_pairs(section: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The YAML options as sorted (name, value) pairs, booleans as true/false."""
    out = []
    for name, value in (section or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append((name, text))
    return tuple(sorted(out))


def catalog_options(reloptions: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """pg_class.reloptions (`name=value` strings) as {name: value}, booleans normalized
    (PostgreSQL keeps the spelling written: `on`, `yes`, ...)."""
    out: dict[str, str] = {}
    for item in reloptions or ():
        name, _, value = item.partition("=")
        low = value.lower()
        out[name] = "true" if low in _TRUE else "false" if low in _FALSE else value
    return out


def options_list(options: Mapping[str, str]) -> str:
    """`name = 'value', ...` for SQL written here (names quoted, values literals)."""
    from ..compile import quote
    from ..literals import quote_literal

    return ", ".join(f"{quote(k)} = {quote_literal(v)}" for k, v in sorted(options.items()))


def options_clause(options: Mapping[str, str]) -> str:
    """`WITH (...) ` (with its trailing space), or nothing without options."""
    return f"WITH ({options_list(options)}) " if options else ""


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


def in_dependency_order(found: list[base.Derived]) -> list[base.Derived]:
    """The relations, each after the ones its query reads (YAML order otherwise)."""
    by_name = {v.name: v for v in found}
    deps = {v.name: _reads(_query(v.query)) & set(by_name) - {v.name} for v in found}
    out: list[base.Derived] = []
    placed: set[str] = set()
    while len(out) < len(found):
        ready = [v for v in found if v.name not in placed and deps[v.name] <= placed]
        if not ready:  # a cycle: PostgreSQL refuses it when the DDL loads, naming the view
            ready = [v for v in found if v.name not in placed]
        out.append(ready[0])
        placed.add(ready[0].name)
    return out


def _sets_options(sql: str) -> bool:
    """ALTER VIEW ... SET / RESET (options), read from the parse tree (an OWNER TO is not)."""
    from pglast import ast, parse_sql
    from pglast.enums import AlterTableType

    stmt = parse_sql(sql)[0].stmt
    cmds = stmt.cmds if isinstance(stmt, ast.AlterTableStmt) else None
    options = (AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions)
    return any(getattr(c, "subtype", None) in options for c in cmds or ())


def _created_view(r: Record) -> str | None:
    """The name of the view a CREATE VIEW record creates (read from its parse tree)."""
    if r.kind != "ViewStmt":
        return None
    from pglast import ast, parse_sql

    stmt = parse_sql(r.sql)[0].stmt
    return stmt.view.relname if isinstance(stmt, ast.ViewStmt) and stmt.view else None


# What schemainspect does not read about views and materialized views: their options and
# whether they hold data (attached to its inspected objects; tests/cases/kinds/views/).
_RELATION_EXTRAS = """
SELECT n.nspname, c.relname, c.reloptions, c.relispopulated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')"""


def _load_extras(inspector: Any) -> None:
    """Attach `bindu_options` ({name: value}) and `bindu_populated` to every inspected view
    and materialized view."""
    from schemainspect.misc import quoted_identifier

    sql: Any = _RELATION_EXTRAS
    if not getattr(inspector, "is_raw_psyco_connection", False):
        from sqlalchemy import text

        sql = text(sql)
    found = {
        quoted_identifier(name, schema): (options, populated)
        for schema, name, options, populated in inspector.execute(sql)
    }
    for rel in (*inspector.views.values(), *inspector.materialized_views.values()):
        options, populated = found.get(rel.quoted_full_name, (None, True))
        rel.bindu_options = catalog_options(options)
        rel.bindu_populated = bool(populated)


def options_of(rel: Any) -> dict[str, str]:
    """The options read by _load_extras (none on an inspection made without them)."""
    found: dict[str, str] = getattr(rel, "bindu_options", None) or {}
    return found


def _body(definition: str) -> str:
    """pg_get_viewdef's text without its final semicolon."""
    return definition.strip().rstrip(";").rstrip()


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
                "options": base.entry(dict(OPTIONS)),
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
                options=option_pairs(v.get("options")),
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

    def derived(self, schema: model.Schema) -> list[base.Derived]:
        return [base.Derived(v.name, _query(v.query), partial(_create, v)) for v in views(schema)]

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from .. import kinds
        from ..compile import DDL, qualified, quote
        from ..literals import quote_literal

        out: list[tuple[int, DDL]] = []
        found = [d for kind in kinds.KINDS for d in kind.derived(schema)]
        if target_schema and found:
            # A view binds the names in its query when it is created: in a tenant schema
            # they must resolve there, as they do when env.py runs the revisions.
            sql = f"SET LOCAL search_path = {quote(target_schema)}"
            out.append((base.DERIVED, DDL(sql, f"search path for the views of {target_schema}")))
        for d in in_dependency_order(found):
            out += [(base.DERIVED, ddl) for ddl in d.create(target_schema)]
        for v in views(schema):
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
        existing: frozenset[str] = facts.others.get(KEY, frozenset())
        pairs = ((v.name, v.renamed_from) for v in views(schema))
        return base.relation_renames("view", pairs, existing.__contains__, where, target_schema)

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import ACQUIRES_ACCESS_EXCLUSIVE_LOCK, ROW_ACCESS_CHANGE

        if rec.kind == "DropStmt" and rec.objtype == "view":
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK}
        if (
            rec.kind == "AlterTableStmt"
            and rec.object_type == "view"
            and rec.name in (facts.others.get(KEY, frozenset()))
            and _sets_options(rec.sql)
        ):
            # security_invoker / security_barrier / check_option decide which rows a role
            # reads or writes through the view
            return {ACQUIRES_ACCESS_EXCLUSIVE_LOCK, ROW_ACCESS_CHANGE}
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

    def patch_migra_queries(self, obj: Any) -> None:
        """schemainspect reads neither a view's options nor whether a materialized view
        holds data: each inspection reads them once its relations are loaded."""
        cls = obj.PostgreSQL
        if getattr(cls.load_all_relations, "bindu_extras", False):
            return
        original = cls.load_all_relations

        def load_all_relations(inspector: Any) -> None:
            original(inspector)
            _load_extras(inspector)

        load_all_relations.bindu_extras = True  # type: ignore[attr-defined]
        cls.load_all_relations = load_all_relations

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        """migra recreates a view (CREATE OR REPLACE, which also replaces its options, or
        DROP and CREATE) without its WITH (...) options: they go into the statement."""
        cls = obj.InspectedSelectable
        original = cls.create_statement

        def create(rel: Any) -> str:
            if rel.relationtype != "v":
                return str(original.__get__(rel))
            return (
                f"create or replace view {rel.quoted_full_name} "
                f"{options_clause(options_of(rel))}as {_body(rel.definition)};"
            )

        cls.create_statement = property(create)

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """migra drops and recreates a view around a change of what it reads (a column's
        type); the recreated view has lost its comment, which migra never writes: the
        target's comment follows the CREATE (unless a COMMENT for it is already there).
        migra never compares options: a view it does not recreate gets ALTER VIEW ... SET
        and RESET for the options that differ."""
        from .. import statements
        from ..compile import qualified, quote
        from ..literals import quote_literal

        created = {n for r in records if (n := _created_view(r))}
        dropped = {
            n for r in records if r.kind == "DropStmt" and r.objtype == "view" for n in r.names
        }
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
        for key, old in i_from.views.items():
            new = i_target.views.get(key)
            if new is None or new.name in created:
                continue
            have, want = options_of(old), options_of(new)
            name = qualified(new.name, new.schema)
            changed = {k: v for k, v in want.items() if have.get(k) != v}
            if changed:
                sql = f"ALTER VIEW {name} SET ({options_list(changed)});"
                out.append(statements.parse(sql, "AlterTableStmt"))
            gone = sorted(set(have) - set(want))
            if gone:
                sql = f"ALTER VIEW {name} RESET ({', '.join(quote(k) for k in gone)});"
                out.append(statements.parse(sql, "AlterTableStmt"))
        return out

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowMap, clean_body

        out: dict[str, Any] = {}
        for name, definition, comment, reloptions in state.rows(_VIEWS):
            v: dict[str, Any] = {
                "query": clean_body(definition).rstrip().rstrip(";").rstrip() + "\n"
            }
            options: dict[str, bool | str] = {}
            for k, value in catalog_options(reloptions).items():
                if k not in OPTIONS:
                    state.warn(f"view {name}: WITH ({k}) is not in the format; left out")
                elif value in ("true", "false"):
                    options[k] = value == "true"
                else:
                    options[k] = value
            if options:
                v["options"] = FlowMap(options)
            if comment is not None:
                v["comment"] = comment
            out[name] = v
        return out


def _create(v: View, target_schema: str | None) -> list[DDL]:
    """CREATE VIEW through SQLAlchemy's CreateView, with its WITH (...) options."""
    import sqlalchemy as sa
    from sqlalchemy.schema import CreateView

    from ..compile import DDL, DIALECT

    kw: dict[str, Any] = {}
    if v.options:
        kw["postgresql_with"] = {
            k: (value == "true" if value in ("true", "false") else value) for k, value in v.options
        }
    create = CreateView(sa.text(_query(v.query)).columns(), v.name, schema=target_schema, **kw)
    # Not tidied (compile.clean): the query keeps its lines, so a -- comment in it ends
    # where it ends.
    return [DDL(str(create.compile(dialect=DIALECT)).strip(), f"view {v.name}")]


KIND = Views()
