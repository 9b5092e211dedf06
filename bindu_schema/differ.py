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
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import cache, model, server, statements
from .compile import qualified
from .errors import DatabaseError
from .literals import quote_literal, quote_literal_or_null
from .settings import DatabaseURL, scrub
from .statements import Record

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
            # pg_get_expr and friends write literals for the session's setting; the
            # statements migra builds from them are meant for this one (env.py and the
            # executor pin it too), whatever the database's default is.
            conn.exec_driver_sql("SET standard_conforming_strings = on")
            conn.commit()
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

    _escape_schemainspect()
    return Migration


def _lit(value: object) -> str:
    return quote_literal(str(value))


_ESCAPED = False


def _escape_schemainspect() -> None:
    """schemainspect builds some statements by pasting names and values between quotes
    without escaping them (schemainspect/pg/obj.py): a trigger named `x" on t; DELETE ...`
    became SQL of its own. Those properties are replaced by ones that quote correctly;
    every statement is parsed afterwards anyway (statements.py), so anything missed here
    is refused, not run."""
    global _ESCAPED
    if _ESCAPED:
        return
    _ESCAPED = True
    from schemainspect.misc import quoted_identifier
    from schemainspect.pg import obj

    def enum_changes(self: Any, new: Any) -> list[str]:
        if not self.can_be_changed_to(new):
            raise ValueError
        out: list[str] = []
        previous = None
        for c in new.elements:
            if c not in self.elements:
                where = (
                    f"before {_lit(self.elements[0])}"
                    if previous is None
                    else (f"after {_lit(previous)}")
                )
                out.append(f"alter type {self.quoted_full_name} add value {_lit(c)} {where};")
            previous = c
        return out

    obj.InspectedEnum.quoted_elements = property(
        lambda self: ", ".join(_lit(e) for e in self.elements)
    )
    obj.InspectedEnum.change_statements = enum_changes
    obj.InspectedTrigger.drop_statement = property(
        lambda self: (
            f"drop trigger if exists {quoted_identifier(self.name)} on "
            f"{quoted_identifier(self.table_name, self.schema)};"
        )
    )
    obj.InspectedCollation.create_statement = property(
        lambda self: (
            f"create collation if not exists {self.quoted_full_name} "
            f"(provider = {_lit(self.provider)}, locale = {_lit(self.locale)});"
        )
    )
    obj.InspectedExtension.update_statement = property(
        lambda self: (
            None
            if not self.version
            else f"alter extension {self.quoted_name} update to {_lit(self.version)};"
        )
    )


def _is_drop(r: Record, what: str) -> bool:
    return r.kind == "DropStmt" and r.objtype == what


def _function_drops_after_tables(records: list[Record]) -> list[Record]:
    """migra drops functions before the tables whose defaults call them; move them after."""
    last_table = max((i for i, r in enumerate(records) if _is_drop(r, "table")), default=-1)
    moving = [i for i, r in enumerate(records) if i < last_table and _is_drop(r, "function")]
    if not moving:
        return records
    kept = [r for i, r in enumerate(records) if i not in set(moving)]
    at = max(i for i, r in enumerate(kept) if _is_drop(r, "table")) + 1
    return kept[:at] + [records[i] for i in moving] + kept[at:]


def _functions_before_tables(
    records: list[Record], new_functions: set[tuple[str | None, str]]
) -> list[Record]:
    """migra creates functions after tables; a default or check that calls a new function
    then fails. New functions (bodies unchecked) move in front of the first CREATE TABLE."""
    first_table = next((i for i, r in enumerate(records) if r.kind == "CreateStmt"), None)
    if first_table is None:
        return records
    moving = [
        i
        for i, r in enumerate(records)
        if i > first_table
        and r.kind == "CreateFunctionStmt"
        and r.name is not None
        and (r.schema, r.name) in new_functions
    ]
    if not moving:
        return records
    off = statements.parse("set check_function_bodies = off;", "VariableSetStmt")
    head = [off] + [records[i] for i in moving]
    rest = [r for i, r in enumerate(records) if i not in set(moving)]
    return rest[:first_table] + head + rest[first_table:]


def _no_drops_inside_dropped_tables(records: list[Record], i_from: Any) -> list[Record]:
    """migra drops every index and trigger of a table before the table itself. DROP TABLE
    removes them anyway; the separate index drops would even become DROP INDEX
    CONCURRENTLY (online.py), each outside the transaction. Constraint drops stay: a
    foreign key must go before the table it references."""
    dropped = {n for r in records if _is_drop(r, "table") for n in r.names}
    if not dropped:
        return records
    index_table = {v.name: v.table_name for v in i_from.indexes.values()}
    out = []
    for r in records:
        if _is_drop(r, "index") and r.names and index_table.get(r.names[0]) in dropped:
            continue
        if _is_drop(r, "trigger") and r.table in dropped:
            continue
        out.append(r)
    return out


def _known_names(*inspections: Any) -> set[str]:
    """Every name an inspected object or its table or column carries."""
    names: set[str] = set()
    for i in inspections:
        for rel in i.relations.values():
            names.add(rel.name)
            names.update(rel.columns)
        for attr in ("indexes", "constraints", "triggers", "functions", "sequences", "enums"):
            names.update(v.name for v in getattr(i, attr).values())
        names.update(v.name for v in i.extensions.values())
        names.update(v.name for v in getattr(i, "domains", {}).values())
        names.update(v.name for v in getattr(i, "types", {}).values())
        names.update(v.schema for v in getattr(i, "schemas", {}).values())
    return names


def _parsed(sqls: list[str], known: set[str]) -> list[Record]:
    """migra's statements, each parsed; one that is not exactly one statement, or that
    names an object neither database has, stops the plan (StatementError, exit 1)."""
    out = []
    for sql in sqls:
        try:
            recs = [statements.parse(sql)]
        except statements.StatementError as exc:
            # A disabled trigger: CREATE TRIGGER and its DISABLE TRIGGER in one string.
            pair = statements.parse_trigger_with_state(sql)
            if pair is None:
                raise statements.StatementError(
                    f"migra produced a statement that is not exactly one statement, so "
                    f"nothing was planned, written or run. An object name in the schema "
                    f"probably carries SQL (quotes, semicolons): rename that object. {exc}"
                ) from None
            recs = pair
        for rec in recs:
            strange = [n for n in (rec.name, rec.table, rec.column) if n and n not in known]
            if strange and rec.object_type != "setting":
                raise statements.StatementError(
                    f"migra produced a statement for {rec.object_type} {strange[0]!r}, which "
                    f"neither database has; nothing was planned, written or run: {rec.sql}"
                )
            out.append(rec)
    return out


# schemainspect reads a function's body and argument defaults only for its owner (what
# information_schema.routines does): for any other role each function would look changed.
# pg_proc.prosrc and pg_get_function_arg_default are readable by every role.
_OWNER_ONLY = "pg_has_role(p.proowner, 'USAGE'::text)"


def _functions_for_every_role() -> None:
    import schemainspect.pg.obj as pg_obj

    query = str(pg_obj.FUNCTIONS_QUERY)
    if _OWNER_ONLY in query:
        pg_obj.FUNCTIONS_QUERY = query.replace(_OWNER_ONLY, "true")


def inspect(url: DatabaseURL, schema: str = "public") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()
        _functions_for_every_role()
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


def _norm_body(body: str | None) -> str:
    return " ".join((body or "").split())


def _equalize_whitespace_only(i_from: Any, i_target: Any) -> None:
    """A function whose body differs only in whitespace is not a change."""
    for key, f in i_from.functions.items():
        t = i_target.functions.get(key)
        if t is None or f.definition == t.definition:
            continue
        if _norm_body(f.definition) == _norm_body(t.definition):
            # The body only: each side keeps its own full definition, which is what a
            # CREATE OR REPLACE in either direction must carry (STRICT, STABLE, ...).
            f.definition = t.definition
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
        lit = quote_literal_or_null(want)
        out.append(_proved_comment(f"COMMENT ON {kind.upper()} {target} IS {lit};", want))
    return out


def _proved_comment(sql: str, want: str | None) -> str:
    """The COMMENT statement, once the parser reads back exactly the intended text."""
    if statements.comment_text(statements.parse(sql, "CommentStmt")) != want:
        raise statements.StatementError(f"a comment would not survive as written: {sql}")
    return sql


def diff(
    from_url: DatabaseURL,
    target_url: DatabaseURL,
    exclude: model.Exclude,
    schema: str = "public",
) -> list[str]:
    """Statements that turn the database at from_url into the one at target_url."""
    return [r.sql for r in diff_records(from_url, target_url, exclude, schema)]


def diff_records(
    from_url: DatabaseURL,
    target_url: DatabaseURL,
    exclude: model.Exclude,
    schema: str = "public",
) -> list[Record]:
    """diff as parsed records."""
    return diff_both_records(from_url, target_url, exclude, schema, with_reverse=False)[0]


def diff_both_records(
    from_url: DatabaseURL,
    target_url: DatabaseURL,
    exclude: model.Exclude,
    schema: str = "public",
    with_reverse: bool = True,
) -> tuple[list[Record], list[Record]]:
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
    return [r.sql for r in _statements(i_from, i_target, c_from, c_target, exclude, schema)]


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
) -> list[Record]:
    m = _import_migra()(i_from, i_target)
    m.set_safety(False)
    m.add_all_changes()
    records = _parsed(
        [s.strip() for s in m.statements if s.strip()]
        + comment_statements(c_from, c_target, exclude, schema),
        _known_names(i_from, i_target),
    )
    new_functions = {
        (f.schema, f.name) for key, f in i_target.functions.items() if key not in i_from.functions
    }
    records = _functions_before_tables(records, new_functions)
    records = _function_drops_after_tables(records)
    return _no_drops_inside_dropped_tables(records, i_from)


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
