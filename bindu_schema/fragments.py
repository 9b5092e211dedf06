"""The SQL fragments a YAML file carries, each checked with PostgreSQL's parser.

Defaults, check expressions, index keys and WHERE clauses, trigger WHEN conditions, types
and operator classes are pasted into DDL. Each must parse, in the place it is pasted, as
exactly one thing of its kind: one expression, one type, one operator class. A value such
as `1); DELETE FROM v; --` or `text_ops DESC` is refused here, at its YAML line and
column, before anything is rendered; the rendered DDL is parsed again as a whole
(compile.py), so nothing can add a statement of its own.

Each check parses a small statement around the value and looks at the tree: the value must
fill exactly the slot it was meant for and nothing next to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import SetOperation, SortByDir, SortByNulls
from pglast.parser import ParseError, scan

from . import model
from .kinds.functions import paths as function_paths

FragmentPath = tuple[str | int, ...]
Problem = tuple[FragmentPath, str]
Check = Callable[[str], str | None]


def _tree(head: str, value: str, tail: str = "") -> ast.Node | str:
    """The one statement head + value + tail holds, or why not."""
    try:
        raw = parse_sql(head + value + tail)
    except ParseError as exc:
        what = str(exc.args[0]) if exc.args else str(exc)
        at = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        where = ""
        if at is not None and len(head) <= at < len(head) + len(value):
            where = f" (character {at - len(head) + 1} of the value)"
        elif at is not None:
            where = " (at the end of the value)"
        return f"PostgreSQL's parser says: {what}{where}"
    if len(raw) != 1:
        return f"it makes {len(raw)} statements instead of one"
    if _line_comment(value):
        # compile joins the value into one line of DDL: a -- comment would swallow what
        # follows it there (the statement's end, its semicolon)
        return "it holds a -- comment; write /* ... */ or a YAML comment instead"
    stmt = raw[0].stmt
    assert stmt is not None
    return stmt


def _line_comment(value: str) -> bool:
    try:
        return any(tok.name == "SQL_COMMENT" for tok in scan(value))
    except ParseError:
        return False  # it parsed in its place: nothing there is a -- comment of its own


def _set_fields(node: ast.Node, allowed: set[str]) -> list[str]:
    """The fields of node that carry something beyond `allowed` (None, empty and the
    enum defaults count as empty)."""
    out = []
    for name in node:
        if name in allowed or name.endswith("location"):
            continue
        value = getattr(node, name)
        if value in (None, (), False, 0, "\x00", SetOperation.SETOP_NONE):
            continue
        out.append(name)
    return out


@functools.lru_cache(maxsize=4096)  # a pure function of the text; schemas repeat them
def expression(text: str) -> str | None:
    """None when text is exactly one SQL expression; otherwise why not."""
    stmt = _tree("SELECT (", text, ")")
    if isinstance(stmt, str):
        return stmt
    targets = stmt.targetList if isinstance(stmt, ast.SelectStmt) else None
    if not targets or len(targets) != 1:
        return "it is not one expression"
    extra = _set_fields(stmt, {"targetList"})
    target = targets[0]
    if extra or not isinstance(target, ast.ResTarget) or target.name is not None:
        return "it is not one expression (it closes the parenthesis it is written in)"
    return None


@functools.lru_cache(maxsize=4096)  # a pure function of the text; schemas repeat them
def exclusion_operator(text: str) -> str | None:
    """None when text is one operator name (`&&`, `=`, ...), as EXCLUDE ... WITH takes it."""
    stmt = _tree("ALTER TABLE t ADD EXCLUDE USING gist (c WITH ", text, ")")
    if isinstance(stmt, str):
        return stmt
    cmds = stmt.cmds if isinstance(stmt, ast.AlterTableStmt) else None
    c = cmds[0].def_ if cmds and len(cmds) == 1 else None
    ex = c.exclusions if isinstance(c, ast.Constraint) else None
    if not ex or len(ex) != 1:
        return "it is not one operator"
    ops = ex[0][1]
    if len(ops) != 1 or not isinstance(ops[0], ast.String) or ops[0].sval != text:
        return "it is not one operator name"
    return None


@functools.lru_cache(maxsize=4096)  # a pure function of the text; schemas repeat them
def type_name(text: str) -> str | None:
    """None when text is exactly one type name (with modifiers or array bounds)."""
    stmt = _tree("CREATE TABLE t (c ", text, ")")
    if isinstance(stmt, str):
        return stmt
    elts = stmt.tableElts if isinstance(stmt, ast.CreateStmt) else None
    if not elts or len(elts) != 1 or not isinstance(elts[0], ast.ColumnDef):
        return "it is not one type"
    col = elts[0]
    if _set_fields(stmt, {"relation", "tableElts", "oncommit"}) or _set_fields(
        col, {"colname", "typeName", "is_local"}
    ):
        return "it is a type followed by more (a constraint, default or collation)"
    return None


@functools.lru_cache(maxsize=4096)  # a pure function of the text; schemas repeat them
def returns(text: str) -> str | None:
    """None when text is what may follow RETURNS: a type, SETOF a type, or TABLE (...)."""
    stmt = _tree("CREATE FUNCTION f() RETURNS ", text, " LANGUAGE sql AS 'select 1'")
    if isinstance(stmt, str):
        return stmt
    if not isinstance(stmt, ast.CreateFunctionStmt) or len(stmt.options or ()) != 2:
        return "it is a return type followed by more (function options)"
    return None


@functools.lru_cache(maxsize=4096)  # a pure function of the text; schemas repeat them
def opclass(text: str) -> str | None:
    """None when text is one operator class name (schema-qualified or quoted allowed)."""
    stmt = _tree("CREATE INDEX i ON t (c ", text, ")")
    if isinstance(stmt, str):
        return stmt
    params = stmt.indexParams if isinstance(stmt, ast.IndexStmt) else None
    if not params or len(params) != 1 or not isinstance(params[0], ast.IndexElem):
        return "it is not one operator class name"
    elem = params[0]
    plain = (
        elem.opclass
        and not elem.opclassopts
        and elem.collation is None
        and elem.ordering == SortByDir.SORTBY_DEFAULT
        and elem.nulls_ordering == SortByNulls.SORTBY_NULLS_DEFAULT
    )
    if not plain or _set_fields(stmt, {"relation", "indexParams", "accessMethod", "idxname"}):
        return "it is not one operator class name (order, NULLS and options have keys of their own)"
    return None


def _checks(
    schema: model.Schema, data: dict[str, Any] | None
) -> list[tuple[FragmentPath, str, str, Check]]:
    """(YAML path, what, value, check) for every fragment in the schema."""
    out: list[tuple[FragmentPath, str, str, Check]] = []
    enums = {e.name for e in schema.enums}  # a declared enum's name is quoted (compile.py)
    for t in schema.tables:
        tp: FragmentPath = ("tables", t.name)
        for c in t.columns:
            cp: FragmentPath = (*tp, "columns", c.name)
            if c.type.strip() not in enums:
                what = f"type of column '{t.name}.{c.name}'"
                out.append(((*cp, "type"), what, c.type, type_name))
            if c.default is not None:
                what = f"default of column '{t.name}.{c.name}'"
                out.append(((*cp, "default"), what, c.default, expression))
        for ch in t.checks:
            what = f"check '{ch.name}' on '{t.name}'"
            out.append(((*tp, "checks", ch.name, "expression"), what, ch.expression, expression))
        for ix in t.indexes:
            ip: FragmentPath = (*tp, "indexes", ix.name)
            for n, item in enumerate(ix.items):
                kp: FragmentPath = (*ip, "columns", n)
                if item.expression is not None:
                    what = f"key {n + 1} of index '{ix.name}'"
                    out.append(((*kp, "expression"), what, item.expression, expression))
                if item.opclass is not None:
                    what = f"opclass of key {n + 1} of index '{ix.name}'"
                    out.append(((*kp, "opclass"), what, item.opclass, opclass))
            if ix.where is not None:
                out.append(((*ip, "where"), f"WHERE of index '{ix.name}'", ix.where, expression))
        for tr in t.triggers:
            if tr.when is not None:
                what = f"WHEN of trigger '{tr.name}'"
                out.append(((*tp, "triggers", tr.name, "when"), what, tr.when, expression))
    # an overload's path has its index (functions.name.<n>); without the YAML, the map form's
    fpaths = (
        function_paths(data)
        if data is not None
        else [("functions", f.name) for f in schema.functions]
    )
    for f, fp in zip(schema.functions, fpaths, strict=True):
        if f.returns:  # a procedure has none
            out.append(
                ((*fp, "returns"), f"return type of function '{f.name}'", f.returns, returns)
            )
        for n, a in enumerate(f.arguments):
            ap: FragmentPath = (*fp, "arguments", n)
            out.append(
                ((*ap, "type"), f"type of argument {n + 1} of '{f.name}'", a.type, type_name)
            )
            if a.default is not None:
                what = f"default of argument {n + 1} of '{f.name}'"
                out.append(((*ap, "default"), what, a.default, expression))
    return out


_KIND: dict[Check, str] = {
    expression: "one SQL expression",
    type_name: "one type",
    returns: "one return type",
    opclass: "one operator class name",
}


def problems(schema: model.Schema, data: dict[str, Any] | None = None) -> list[Problem]:
    """(YAML path, message) for every fragment that is not exactly one of its kind (`data`:
    the YAML the schema was built from, for the paths of overloads). Fragments an earlier
    command found good (entry_cache.good_fragments) are not parsed again."""
    from . import entry_cache

    checks = _checks(schema, data)
    known = entry_cache.good_fragments()
    verdicts: dict[tuple[Check, str], str | None] = {}  # each distinct fragment once
    good: list[bytes] = []
    for _, _, value, check in checks:
        if (check, value) in verdicts:
            continue
        digest = None
        if known is not None:
            digest = entry_cache.fragment_digest(check.__name__, value)
            if digest in known:
                verdicts[check, value] = None
                continue
        verdicts[check, value] = why = check(value)
        if why is None and digest is not None:
            good.append(digest)
    if known is not None:
        known.save(good)
    out: list[Problem] = []
    for path, what, value, check in checks:
        why = verdicts[check, value]
        if why is not None:
            short = value if len(value) <= 60 else value[:59] + "…"
            out.append(
                (
                    path,
                    f"{what} must be {_KIND[check]}, but {short!r} is not: {why}; "
                    "fix the value (a stray quote, parenthesis or semicolon?)",
                )
            )
    return out
