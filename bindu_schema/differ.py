"""The diff between two databases: migra, plus gap fillers where migra is blind.

This is the only module that imports migra/schemainspect. What it adds to migra:
- excluded objects and alembic_version are removed from both inspections first;
- function bodies that differ only in whitespace are treated as equal;
- table, column and index comments are compared (migra never emits COMMENT ON).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import cache, model, server
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


def _fast_resource_text(subpath: str) -> str:
    """schemainspect.misc.resource_text without inspect.stack() or pkg_resources.

    The original finds the calling module with inspect.stack() (which reads the source of
    every frame: about 0.35 s for the 17 queries loaded at import time) and then opens the
    file through pkg_resources (about 0.05 s to import). The only caller is schemainspect.pg.obj,
    which reads its own sql/ folder: resolve the path from the caller's __file__ instead.
    """
    caller = sys._getframe(1).f_globals.get("__file__")
    if not caller:  # pragma: no cover - always set for a module imported from a file
        raise RuntimeError("schemainspect resource_text called from a module without a file")
    return Path(caller).parent.joinpath(subpath).read_text(encoding="utf-8")


def _import_schemainspect() -> None:
    """Import schemainspect with a fast resource loader and without pkg_resources.

    schemainspect.misc is executed with a stand-in pkg_resources module (only its
    resource_stream name is imported, and it is never called once resource_text is
    replaced), then registered in sys.modules before the package itself is imported, so
    schemainspect.pg.obj binds the fast resource_text. On any surprise (another
    schemainspect layout) it falls back to the plain import, which is slower but correct.
    """
    if "schemainspect" in sys.modules:
        return
    if os.environ.get("BINDU_SCHEMA_PLAIN_IMPORT", "").strip() in ("1", "true", "yes"):
        import schemainspect  # noqa: F401  (for measuring the shim)

        return
    try:
        spec = importlib.util.find_spec("schemainspect")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("schemainspect not found")
        misc_path = Path(next(iter(spec.submodule_search_locations))) / "misc.py"
        misc_spec = importlib.util.spec_from_file_location("schemainspect.misc", misc_path)
        if misc_spec is None or misc_spec.loader is None:
            raise ImportError("schemainspect.misc not found")
        misc = importlib.util.module_from_spec(misc_spec)
        stand_in = types.ModuleType("pkg_resources")

        def _unavailable(*args: object, **kwargs: object) -> Any:
            raise RuntimeError("pkg_resources is not loaded (bindu_schema.differ)")

        stand_in.resource_stream = _unavailable  # type: ignore[attr-defined]
        saved = sys.modules.get("pkg_resources")
        sys.modules["pkg_resources"] = stand_in
        try:
            misc_spec.loader.exec_module(misc)
        finally:
            if saved is None:
                del sys.modules["pkg_resources"]
            else:
                sys.modules["pkg_resources"] = saved
        misc.resource_text = _fast_resource_text  # type: ignore[attr-defined]
        sys.modules["schemainspect.misc"] = misc
        try:
            import schemainspect
        except BaseException:
            for name in [n for n in sys.modules if n.split(".")[0] == "schemainspect"]:
                del sys.modules[name]
            raise
        schemainspect.misc = misc
    except Exception:
        import schemainspect  # noqa: F401  (the slow but plain way)


def _import_migra() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()
        from migra import Migration
        from schemainspect.pg.obj import InspectedEnum

    # migra writes enum values without escaping quotes (an enum value "it's" breaks the
    # plan); schemainspect's property is replaced by one that doubles them.
    InspectedEnum.quoted_elements = property(
        lambda self: ", ".join("'" + str(e).replace("'", "''") + "'" for e in self.elements)
    )
    return Migration


_CREATE_TABLE = re.compile(r"^create\s+table\b", re.I)
_DROP_TABLE = re.compile(r"^drop\s+table\b", re.I)
_DROP_FUNCTION = re.compile(r"^drop\s+function\b", re.I)


def _function_drops_after_tables(statements: list[str]) -> list[str]:
    """migra drops functions before the tables whose defaults call them; move them after."""
    last_table = max((i for i, s in enumerate(statements) if _DROP_TABLE.match(s)), default=-1)
    moving = [i for i, s in enumerate(statements) if i < last_table and _DROP_FUNCTION.match(s)]
    if not moving:
        return statements
    kept = [s for i, s in enumerate(statements) if i not in set(moving)]
    at = max(i for i, s in enumerate(kept) if _DROP_TABLE.match(s)) + 1
    return kept[:at] + [statements[i] for i in moving] + kept[at:]


_CREATE_FUNCTION = re.compile(r"^create\s+or\s+replace\s+function\s+(\S+?)\(", re.I)


def _functions_before_tables(statements: list[str], new_functions: set[str]) -> list[str]:
    """migra creates functions after tables; a default or check that calls a new function
    then fails. New functions (bodies unchecked) move in front of the first CREATE TABLE."""
    first_table = next((i for i, s in enumerate(statements) if _CREATE_TABLE.match(s)), None)
    if first_table is None:
        return statements
    moving = [
        i
        for i, s in enumerate(statements)
        if i > first_table
        and (m := _CREATE_FUNCTION.match(s))
        and m.group(1).replace('"', "") in new_functions
    ]
    if not moving:
        return statements
    head = ["set check_function_bodies = off;"] + [statements[i] for i in moving]
    rest = [s for i, s in enumerate(statements) if i not in set(moving)]
    return rest[:first_table] + head + rest[first_table:]


_DROP_TABLE_NAME = re.compile(r'^drop\s+table\s+(?:"[^"]+"\.)?"([^"]+)"', re.I)
_DROP_INDEX_NAME = re.compile(r'^drop\s+index\s+(?:if\s+exists\s+)?(?:"[^"]+"\.)?"([^"]+)"', re.I)
_DROP_TRIGGER_ON = re.compile(
    r'^drop\s+trigger\s+(?:if\s+exists\s+)?"[^"]+"\s+on\s+(?:"[^"]+"\.)?"([^"]+)"', re.I
)


def _no_drops_inside_dropped_tables(statements: list[str], i_from: Any) -> list[str]:
    """migra drops every index and trigger of a table before the table itself. DROP TABLE
    removes them anyway; the separate index drops would even become DROP INDEX
    CONCURRENTLY (online.py), each outside the transaction. Constraint drops stay: a
    foreign key must go before the table it references."""
    dropped = {m.group(1) for s in statements if (m := _DROP_TABLE_NAME.match(s))}
    if not dropped:
        return statements
    index_table = {_unquote_name(k): v.table_name for k, v in i_from.indexes.items()}
    out = []
    for s in statements:
        ix = _DROP_INDEX_NAME.match(s)
        if ix and index_table.get(ix.group(1)) in dropped:
            continue
        tr = _DROP_TRIGGER_ON.match(s)
        if tr and tr.group(1) in dropped:
            continue
        out.append(s)
    return out


def inspect(url: DatabaseURL, schema: str = "public") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()
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
        for k in [
            k
            for k, v in d.items()
            if getattr(v, "relationtype", None) in ("r", "p") and _unquote_name(k) in tables
        ]:
            del d[k]
    for attr in ("indexes", "constraints", "triggers"):
        d = getattr(i, attr)
        for k in [k for k, v in d.items() if v.table_name in tables]:
            del d[k]
    for k in [k for k, v in i.sequences.items() if v.table_name in tables]:
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
    return (
        bare in names
        or full in names
        or full.replace(" ", "") in {n.replace(" ", "") for n in names}
    )


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
    for key in sorted(
        desired, key=lambda k: ({"table": 0, "column": 1, "index": 2}[k[0]], k[1], k[2] or "")
    ):
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
    return diff_both(from_url, target_url, exclude, schema, with_reverse=False)[0]


def diff_both(
    from_url: DatabaseURL,
    target_url: DatabaseURL,
    exclude: model.Exclude,
    schema: str = "public",
    with_reverse: bool = True,
) -> tuple[list[str], list[str]]:
    """(from -> target, target -> from) from one inspection of each database; the reverse
    is empty when not asked for or when the forward diff is."""
    (i_from, c_from), (i_target, c_target) = _inspect_both(from_url, target_url, schema)
    _comparable(i_from, i_target, exclude)
    forward = _statements(i_from, i_target, c_from, c_target, exclude, schema)
    if not (with_reverse and forward):
        return forward, []
    return forward, _statements(i_target, i_from, c_target, c_from, exclude, schema)


def snapshot(url: DatabaseURL, schema: str = "public") -> Inspection:
    """The database's schema as diff_snapshot compares it later (after it changed)."""
    return _inspect_one(url, schema)


def diff_snapshot(
    url: DatabaseURL, target: Inspection, exclude: model.Exclude, schema: str = "public"
) -> list[str]:
    """Statements that turn the database at url into the snapshot `target` (used once)."""
    (i_from, c_from), (i_target, c_target) = _inspect_one(url, schema), target
    _comparable(i_from, i_target, exclude)
    return _statements(i_from, i_target, c_from, c_target, exclude, schema)


def _comparable(i_from: Any, i_target: Any, exclude: model.Exclude) -> None:
    """Both inspections without excluded objects, whitespace-only body changes equalized."""
    for i in (i_from, i_target):
        _drop_excluded(i, exclude)
    _equalize_whitespace_only(i_from, i_target)


def _statements(
    i_from: Any,
    i_target: Any,
    c_from: dict[CommentKey, str | None],
    c_target: dict[CommentKey, str | None],
    exclude: model.Exclude,
    schema: str,
) -> list[str]:
    m = _import_migra()(i_from, i_target)
    m.set_safety(False)
    m.add_all_changes()
    statements = [s.strip() for s in m.statements if s.strip()]
    new_functions = {
        f"{f.schema}.{f.name}"
        for key, f in i_target.functions.items()
        if key not in i_from.functions
    }
    statements = _functions_before_tables(statements, new_functions)
    statements = _function_drops_after_tables(statements)
    statements = _no_drops_inside_dropped_tables(statements, i_from)
    statements += comment_statements(c_from, c_target, exclude, schema)
    return statements


Inspection = tuple[Any, dict[CommentKey, str | None]]


def _inspect_one(url: DatabaseURL, schema: str) -> Inspection:
    """Inspection and comments of one schema. A cached desired database never changes
    (server.immutable_token), so what was read from it is reused from the disk cache."""
    token = server.immutable_token(url)
    k = cache.key("inspection", token, schema) if token else ""
    if k:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _import_schemainspect()  # before unpickling imports it the slow way
        hit = cache.get("inspection", k)
        if isinstance(hit, tuple) and len(hit) == 2:
            return hit[0], hit[1]
    found = inspect(url, schema), comments(url, schema)
    if k:
        stored = copy.copy(found[0])
        stored.c = stored.engine = stored.dialect = None  # the connection cannot be pickled
        cache.put("inspection", k, (stored, found[1]))
    return found


def _inspect_both(a: DatabaseURL, b: DatabaseURL, schema: str) -> tuple[Inspection, Inspection]:
    """Inspect both databases at once: one thread (and connection) each.

    While one thread waits for PostgreSQL, the other turns rows into objects, so the two
    inspections overlap on a 2-core machine. BINDU_SCHEMA_SERIAL_DIFF=1 inspects one after
    the other (for measuring).
    """
    if os.environ.get("BINDU_SCHEMA_SERIAL_DIFF", "").strip() in ("1", "true", "yes"):
        return _inspect_one(a, schema), _inspect_one(b, schema)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bindu-inspect") as pool:
        other = pool.submit(_inspect_one, b, schema)
        first = _inspect_one(a, schema)
        return first, other.result()
