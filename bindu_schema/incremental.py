"""The desired database after a small edit: the previous one plus the DDL difference.

After an edit of the YAML most of the compiled DDL is unchanged. Instead of loading all
of it into an empty database, server.scratch_with_ddl clones the cached database of the
previous DDL (CREATE DATABASE ... TEMPLATE, STRATEGY FILE_COPY) and runs only `delta`'s
statements there. `delta` compares the two DDL lists statement by statement, each
statement parsed with PostgreSQL's own parser (pglast), and returns the statements only
when it can show that running them gives what a full load of the new list gives:

- a new statement (table, index, foreign key, trigger, comment) runs as written, in the
  new list's order (which loads into an empty database, so its dependencies come first);
- a table whose only change is columns appended after its last column gets
  ALTER TABLE ... ADD COLUMN (the same attribute numbers as in a fresh CREATE TABLE);
- an index, foreign key or trigger that is gone is dropped, one that changed is dropped
  and created again (its comment, if any, is written again);
- a comment that is gone becomes COMMENT ... IS NULL.

Anything else (a dropped or reordered column, a changed function, enum, extension or
table constraint, a dropped table, or more than MAX_CHANGES statements) returns None and
the database is built in full. Every statement produced here is deparsed from a tree by
pglast and parsed again: its tree must be the one intended. tests/test_incremental.py
proves the result equal to a full build at catalog fidelity over random edit sequences.
BINDU_SCHEMA_INCREMENTAL=0 turns this off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, DropBehavior, ObjectType
from pglast.parser import ParseError
from pglast.stream import RawStream

from . import switches
from .compile import DDL

INCREMENTAL_ENV = "BINDU_SCHEMA_INCREMENTAL"
# Beyond this many differing statements a full load is about as fast, and simpler.
MAX_CHANGES = 400


IN_PLACE_ENV = "BINDU_SCHEMA_DERIVE_IN_PLACE"


def in_place_enabled() -> bool:
    """server._derive may take the previous cached database over instead of copying it."""
    return switches.on(IN_PLACE_ENV)


def enabled() -> bool:
    return switches.on(INCREMENTAL_ENV)


@dataclass(frozen=True)
class _Stmt:
    sql: str
    node: Any
    key: tuple[str, ...] | None  # what it creates; None: not a kind handled here


def _tree(value: Any) -> Any:
    """A parse tree as plain data without source positions (comparable across texts)."""
    if isinstance(value, ast.Node):
        value = value(skip_none=True)
    if isinstance(value, dict):
        return {
            k: _tree(v) for k, v in value.items() if not (k.endswith("location") or k == "stmt_len")
        }
    if isinstance(value, tuple | list):
        return tuple(_tree(v) for v in value)
    return value


def _names(rv: ast.RangeVar, name: str | None = None) -> tuple[str, ...]:
    base = (rv.schemaname,) if rv.schemaname else ()
    return (*base, name if name is not None else rv.relname)


def _strings(items: Any) -> tuple[str, ...] | None:
    if not isinstance(items, tuple | list) or not all(isinstance(i, ast.String) for i in items):
        return None
    return tuple(i.sval for i in items)


def _comment_target(node: ast.CommentStmt) -> tuple[str, ...] | None:
    """The object a comment is on, in the same shape as the key of what creates it."""
    names = _strings(node.object)
    if names is None:
        return None
    kinds = {
        ObjectType.OBJECT_TABLE: "table",
        ObjectType.OBJECT_COLUMN: "column",
        ObjectType.OBJECT_INDEX: "index",
    }
    kind = kinds.get(node.objtype) if node.objtype is not None else None
    return None if kind is None else (kind, *names)


def _key(node: Any) -> tuple[str, ...] | None:
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        return ("table", *_names(node.relation))
    if isinstance(node, ast.IndexStmt) and node.relation is not None and node.idxname:
        return ("index", *_names(node.relation, node.idxname))
    if (
        isinstance(node, ast.CreateTrigStmt)
        and node.relation is not None
        and node.trigname
        and not node.replace
    ):
        return ("trigger", *_names(node.relation), node.trigname)
    if isinstance(node, ast.CommentStmt):
        target = _comment_target(node)
        return None if target is None else ("comment", *target)
    if (
        isinstance(node, ast.AlterTableStmt)
        and node.relation is not None
        and node.cmds
        and len(node.cmds) == 1
        and node.cmds[0].subtype == AlterTableType.AT_AddConstraint
        and isinstance(node.cmds[0].def_, ast.Constraint)
        and node.cmds[0].def_.conname
    ):
        return ("constraint", *_names(node.relation), node.cmds[0].def_.conname)
    return None


def _parse(sql: str) -> _Stmt | None:
    try:
        stmts = parse_sql(sql)
    except ParseError:
        return None
    if len(stmts) != 1:
        return None
    node = stmts[0].stmt
    return _Stmt(sql, node, _key(node))


def _deparsed(node: Any) -> str:
    """SQL for a tree built here, proved: parsing the text gives the same tree back."""
    sql = str(RawStream()(node))
    again = parse_sql(sql)
    if len(again) != 1 or _tree(again[0].stmt) != _tree(node):
        raise ValueError(f"deparsing did not round-trip: {sql}")
    return sql


def _added_columns(old: ast.CreateStmt, new: ast.CreateStmt) -> list[Any] | None:
    """The columns `new` appends to `old` when that is the only difference, else None."""

    def columns(n: ast.CreateStmt) -> list[Any]:
        return [e for e in n.tableElts or () if isinstance(e, ast.ColumnDef)]

    def others(n: ast.CreateStmt) -> list[Any]:
        return [_tree(e) for e in n.tableElts or () if not isinstance(e, ast.ColumnDef)]

    old_cols, new_cols = columns(old), columns(new)
    if len(new_cols) <= len(old_cols):
        return None
    if [_tree(c) for c in old_cols] != [_tree(c) for c in new_cols[: len(old_cols)]]:
        return None
    if others(old) != others(new):
        return None
    rest_old = {k: v for k, v in _tree(old).items() if k != "tableElts"}
    rest_new = {k: v for k, v in _tree(new).items() if k != "tableElts"}
    if rest_old != rest_new:
        return None
    return new_cols[len(old_cols) :]


def _add_columns(table: ast.CreateStmt, cols: list[Any]) -> str:
    cmds = tuple(
        ast.AlterTableCmd(
            subtype=AlterTableType.AT_AddColumn,
            num=0,
            def_=c,
            behavior=DropBehavior.DROP_RESTRICT,
            missing_ok=False,
            recurse=False,
        )
        for c in cols
    )
    return _deparsed(
        ast.AlterTableStmt(
            relation=table.relation, cmds=cmds, objtype=ObjectType.OBJECT_TABLE, missing_ok=False
        )
    )


def _drop(s: _Stmt) -> str | None:
    """The statement that removes what `s` created, or None (not removable here)."""
    node, key = s.node, s.key
    if key is None:
        return None
    kind = key[0]
    if kind == "index":
        objects = (tuple(ast.String(sval=n) for n in key[1:]),)
        return _deparsed(
            ast.DropStmt(
                objects=objects,
                removeType=ObjectType.OBJECT_INDEX,
                behavior=DropBehavior.DROP_RESTRICT,
                missing_ok=False,
                concurrent=False,
            )
        )
    if kind == "trigger":
        objects = (tuple(ast.String(sval=n) for n in key[1:]),)
        return _deparsed(
            ast.DropStmt(
                objects=objects,
                removeType=ObjectType.OBJECT_TRIGGER,
                behavior=DropBehavior.DROP_RESTRICT,
                missing_ok=False,
                concurrent=False,
            )
        )
    if kind == "constraint":
        cmd = ast.AlterTableCmd(
            subtype=AlterTableType.AT_DropConstraint,
            num=0,
            name=key[-1],
            behavior=DropBehavior.DROP_RESTRICT,
            missing_ok=False,
            recurse=False,
        )
        return _deparsed(
            ast.AlterTableStmt(
                relation=node.relation,
                cmds=(cmd,),
                objtype=ObjectType.OBJECT_TABLE,
                missing_ok=False,
            )
        )
    if kind == "comment":
        return _deparsed(ast.CommentStmt(objtype=node.objtype, object=node.object, comment=None))
    return None  # tables, and anything else: a full build


def delta(old: Sequence[DDL], new: Sequence[DDL]) -> list[str] | None:
    """Statements that take a database loaded with `old` to one a full load of `new`
    gives, or None when that cannot be shown (see the module docstring)."""
    old_sql = [d.sql for d in old]
    new_sql = [d.sql for d in new]
    if len(set(old_sql)) != len(old_sql) or len(set(new_sql)) != len(new_sql):
        return None
    old_set, new_set = set(old_sql), set(new_sql)
    removed_text = [s for s in old_sql if s not in new_set]
    added_text = [s for s in new_sql if s not in old_set]
    if len(removed_text) + len(added_text) > MAX_CHANGES:
        return None
    removed = [_parse(s) for s in removed_text]
    added = [_parse(s) for s in added_text]
    if any(s is None or s.key is None for s in [*removed, *added]):
        return None
    gone = {s.key: s for s in removed if s is not None and s.key is not None}
    came = {s.key: s for s in added if s is not None and s.key is not None}
    if len(gone) != len(removed) or len(came) != len(added):
        return None  # two statements for one object: not a shape this module knows

    drops: list[str] = []
    recreated: set[tuple[str, ...]] = set()
    for key, s in reversed(list(gone.items())):
        if key[0] == "table":
            if key not in came:
                return None  # a dropped table: a full build
            continue  # a changed table: columns added below, or a full build
        if key[0] == "comment" and (key in came or key[1:] in gone):
            continue  # rewritten below, or dropped with its object
        drop = _drop(s)
        if drop is None:
            return None
        drops.append(drop)
        if key in came:
            recreated.add(key)
    creates: list[str] = []
    by_text = {a.sql: a for a in added if a is not None}
    for d in new:
        a = by_text.get(d.sql)
        if a is not None and a.key is not None:
            if a.key[0] == "table" and a.key in gone:
                cols = _added_columns(gone[a.key].node, a.node)
                if cols is None:
                    return None
                creates.append(_add_columns(a.node, cols))
            else:
                creates.append(a.sql)
        elif recreated and d.obj.startswith("comment on "):
            # An unchanged comment on an object dropped and created again above
            # (compile.py names comments "comment on ..."; the parse decides).
            c = _parse(d.sql)
            if c is not None and c.key is not None and c.key[1:] in recreated:
                creates.append(d.sql)
    return drops + creates
