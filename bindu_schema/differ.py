"""The diff between two databases: migra, plus gap fillers where migra is blind.

This is the only module that imports migra/schemainspect. What it adds to migra:
- excluded objects and alembic_version are removed from both inspections first;
- function bodies that differ only in whitespace are treated as equal;
- table, column and index comments are compared (migra never emits COMMENT ON).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import model
from .compile import qualified
from .errors import DatabaseError
from .settings import DatabaseURL, scrub

ALEMBIC_TABLE = "alembic_version"


@contextmanager
def _connection(url: DatabaseURL) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url.sqlalchemy, poolclass=NullPool)
    try:
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as exc:
            msg = scrub(str(exc.orig).strip(), url)
            raise DatabaseError(f"cannot connect to {url.safe} ({url.source}): {msg}") from None
        try:
            yield conn
        finally:
            conn.close()
    finally:
        engine.dispose()


def inspect(url: DatabaseURL, schema: str = "public") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from schemainspect import get_inspector

    with _connection(url) as conn:
        return get_inspector(conn, schema=schema)


def _unquote_name(quoted_full: str) -> str:
    # '"public"."tasks"' -> 'tasks'
    return quoted_full.rsplit(".", 1)[-1].strip('"')


def _drop_excluded(i: Any, exclude: model.Exclude) -> None:
    tables = {ALEMBIC_TABLE, *exclude.tables}
    for attr in ("tables", "relations", "selectables"):
        d = getattr(i, attr)
        for k in [k for k, v in d.items()
                  if getattr(v, "relationtype", None) in ("r", "p")
                  and _unquote_name(k) in tables]:
            del d[k]
    for attr in ("indexes", "constraints", "triggers"):
        d = getattr(i, attr)
        for k in [k for k, v in d.items() if v.table_name in tables]:
            del d[k]
    for k in [k for k, v in i.sequences.items()
              if v.table_name in tables]:
        del i.sequences[k]
    names = set(exclude.functions)
    for attr in ("functions", "selectables"):
        d = getattr(i, attr)
        for k in [k for k, v in d.items() if _function_excluded(v, names)]:
            del d[k]


def _function_excluded(obj: Any, names: set[str]) -> bool:
    if getattr(obj, "relationtype", None) != "f":
        return False
    bare = obj.name
    full = f"{obj.name}({obj.identity_arguments})"
    return bare in names or full in names or full.replace(" ", "") in {
        n.replace(" ", "") for n in names
    }


_WS = re.compile(r"\s+")


def _norm_body(body: str | None) -> str:
    return _WS.sub(" ", body or "").strip()


def _equalize_whitespace_only(i_from: Any, i_target: Any) -> None:
    """A function whose body differs only in whitespace is not a change."""
    for key, f in i_from.functions.items():
        t = i_target.functions.get(key)
        if t is None or f.definition == t.definition:
            continue
        if _norm_body(f.definition) == _norm_body(t.definition):
            f.definition = t.definition
            f.full_definition = t.full_definition
            i_from.selectables[key] = f


_COMMENTS_SQL = """
SELECT c.relname, c.relkind, NULL::text AS attname, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'i')
UNION ALL
SELECT c.relname, 'c', a.attname, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = a.attnum
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
"""

CommentKey = tuple[str, str, str | None]  # (kind: table|index|column, relation, column)


def comments(url: DatabaseURL, schema: str = "public") -> dict[CommentKey, str | None]:
    with _connection(url) as conn:
        rows = conn.execute(sa.text(_COMMENTS_SQL), {"schema": schema}).all()
    out: dict[CommentKey, str | None] = {}
    for relname, relkind, attname, description in rows:
        kind = "column" if relkind == "c" else ("index" if relkind == "i" else "table")
        out[(kind, relname, attname)] = description
    return out


def _literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def comment_statements(
    current: dict[CommentKey, str | None],
    desired: dict[CommentKey, str | None],
    exclude: model.Exclude,
    schema: str = "public",
) -> list[str]:
    """COMMENT ON for every object that exists in the desired state with another comment."""
    skip = {ALEMBIC_TABLE, *exclude.tables}
    out = []
    for key in sorted(desired, key=lambda k: ({"table": 0, "column": 1, "index": 2}[k[0]],
                                              k[1], k[2] or "")):
        kind, rel, col = key
        if rel in skip:
            continue
        want = desired[key]
        have = current.get(key)
        if want == have:
            continue
        if key not in current and want is None:
            continue  # a new object without a comment
        target = qualified(rel, schema)
        if kind == "column":
            assert col is not None
            target = f"{target}.{qualified(col, None)}"
        out.append(f"COMMENT ON {kind.upper()} {target} IS {_literal(want)};")
    return out


def diff(
    from_url: DatabaseURL,
    target_url: DatabaseURL,
    exclude: model.Exclude,
    schema: str = "public",
) -> list[str]:
    """Statements that turn the database at from_url into the one at target_url."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from migra import Migration

    i_from = inspect(from_url, schema)
    i_target = inspect(target_url, schema)
    for i in (i_from, i_target):
        _drop_excluded(i, exclude)
    _equalize_whitespace_only(i_from, i_target)
    m = Migration(i_from, i_target)
    m.set_safety(False)
    m.add_all_changes()
    statements = [s.strip() for s in m.statements if s.strip()]
    statements += comment_statements(comments(from_url, schema), comments(target_url, schema),
                                     exclude, schema)
    return statements
