"""The diff between two databases: migra, plus gap fillers where migra is blind.

This is the only module that imports migra/schemainspect. What it adds to migra, through
the kinds' differ hooks (kinds/base.py), in registry order:
- excluded objects and alembic_version are removed from both inspections first;
- differences migra should not see are made equal (function bodies that differ only in
  whitespace);
- migra's order is mended where it is wrong for a kind (functions that table defaults
  call, drops of the parts of a dropped table);
- the comments each kind names are compared (migra never emits COMMENT ON).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from . import comparisons, early, model, parallel_inspect, readcache, statements
from .compile import qualified
from .errors import DatabaseError
from .kinds.base import CommentSource
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


# The two inspections of a diff run in two threads; two first imports of schemainspect at
# once (the shim above swaps sys.modules entries) deadlocked once. One import at a time.
_IMPORT_LOCK = threading.Lock()


def _import_migra() -> Any:
    with _IMPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()
        from migra import Migration

        _escape_schemainspect()
        _install_comparisons()
    return Migration


def _install_comparisons() -> None:
    """comparisons.differences where migra's changes module looks it up (not when
    BINDU_SCHEMA_SHARED_COMPARISONS=0)."""
    import migra.changes

    if comparisons.enabled():
        migra.changes.differences = comparisons.differences


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

    from . import kinds

    for kind in kinds.KINDS:
        kind.escape_migra(obj, _lit, quoted_identifier)
    obj.InspectedCollation.create_statement = property(
        lambda self: (
            f"create collation if not exists {self.quoted_full_name} "
            f"(provider = {_lit(self.provider)}, locale = {_lit(self.locale)});"
        )
    )


def _known_names(*inspections: Any) -> set[str]:
    """Every name an inspected object (of any kind schemainspect reads), its table or its
    columns carries."""
    names: set[str] = set()
    for i in inspections:
        for attr, found in vars(i).items():
            if not isinstance(found, dict) or attr == "c":
                continue
            for v in found.values():
                # a schema object's name is its `schema`
                value = getattr(v, "schema" if attr == "schemas" else "name", None)
                if isinstance(value, str):
                    names.add(value)
                columns = getattr(v, "columns", None)
                if isinstance(columns, dict):
                    names.update(k for k in columns if isinstance(k, str))
    return names


def _parsed(sqls: list[str], known: set[str]) -> list[Record]:
    """migra's statements, each parsed; one that is not exactly one statement, or that
    names an object neither database has, stops the plan (StatementError, exit 1)."""
    from . import kinds, parse_cache

    kept = parse_cache.known(len(sqls))
    new: dict[str, Record] = {}
    out = []
    for sql in sqls:
        try:
            hit = kept.get(sql)
            recs = [hit if hit is not None else statements.parse(sql)]
            if hit is None and len(sqls) >= parse_cache.MIN_STATEMENTS:
                new[sql] = recs[0]
        except statements.StatementError as exc:
            # Some kinds' objects come as two statements in one string (kinds' hooks).
            pair = next((p for k in kinds.KINDS if (p := k.split_migra(sql)) is not None), None)
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
    parse_cache.remember(new)
    return out


def _patch_queries() -> None:
    """The kinds' changes to schemainspect's catalog queries (kinds' patch_migra_queries)."""
    import schemainspect.pg.obj as pg_obj

    from . import kinds

    for kind in kinds.KINDS:
        kind.patch_migra_queries(pg_obj)


def inspect(url: DatabaseURL, schema: str = "public") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()
        _patch_queries()
        from schemainspect import get_inspector

    with _connection(url) as conn:
        if parallel_inspect.enabled():
            return parallel_inspect.inspect(conn, url, lambda c: get_inspector(c, schema=schema))
        return get_inspector(conn, schema=schema)


def unquote_name(quoted_full: str) -> str:
    # '"public"."tasks"' -> 'tasks'
    return quoted_full.rsplit(".", 1)[-1].strip('"')


CommentKey = tuple[str, str, str | None]  # (target: table|column|index..., relation, column)


def _comment_sources() -> list[CommentSource]:
    from . import kinds

    return [c for kind in kinds.KINDS for c in kind.comments]


def comments(url: DatabaseURL, schema: str = "public") -> dict[CommentKey, str | None]:
    """The comments of every object some kind compares (each kind's CommentSource)."""
    sources = _comment_sources()
    # the alias is numbered: a target can be two words (MATERIALIZED VIEW)
    sql = "\nUNION ALL".join(
        f"\nSELECT {quote_literal(c.target)}, * FROM ({c.sql}\n) AS comments_{n}"
        for n, c in enumerate(sources)
    )
    with _connection(url) as conn:
        rows = conn.execute(sa.text(sql), {"schema": schema}).all()
    return {
        (target, relname, attname): description for target, relname, attname, description in rows
    }


def comment_statements(
    current: dict[CommentKey, str | None],
    desired: dict[CommentKey, str | None],
    exclude: model.Exclude,
    schema: str = "public",
) -> list[str]:
    """COMMENT ON for every object that exists in the desired state with another comment."""
    rank = {c.target: c.rank for c in _comment_sources()}
    skip = {ALEMBIC_TABLE, *exclude.tables}
    out = []
    for key in sorted(desired, key=lambda k: (rank[k[0]], k[1], k[2] or "")):
        target, rel, col = key
        if rel in skip:
            continue
        want = desired[key]
        have = current.get(key)
        if want == have:
            continue
        if key not in current and want is None:
            continue  # a new object without a comment
        name = qualified(rel, schema)
        if col is not None:
            name = f"{name}.{qualified(col, None)}"
        lit = quote_literal_or_null(want)
        out.append(_proved_comment(f"COMMENT ON {target.upper()} {name} IS {lit};", want))
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
    with comparisons.shared():  # each pair of objects compared once for both directions
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
    from . import kinds

    for kind in kinds.KINDS:
        for i in (i_from, i_target):
            kind.differ_exclude(i, exclude)
    for kind in kinds.KINDS:
        kind.differ_equalize(i_from, i_target)


def _statements(
    i_from: Any,
    i_target: Any,
    c_from: dict[CommentKey, str | None],
    c_target: dict[CommentKey, str | None],
    exclude: model.Exclude,
    schema: str,
) -> list[Record]:
    from . import kinds

    m = _import_migra()(i_from, i_target)
    m.set_safety(False)
    m.add_all_changes()
    records = _parsed(
        [s.strip() for s in m.statements if s.strip()]
        + comment_statements(c_from, c_target, exclude, schema),
        _known_names(i_from, i_target)
        | {n for kind in kinds.KINDS for n in kind.temporary_names(i_from, i_target)},
    )
    for kind in kinds.KINDS:
        records = kind.differ_order(records, i_from, i_target)
    records = _added_columns_in_order(records, i_target, schema)
    records = records + _recreated_comments(records, c_target, schema)
    return records + _implicitly_recreated_comments(records, c_from, c_target, schema)


def _added_columns_in_order(records: list[Record], i_target: Any, schema: str) -> list[Record]:
    """migra adds a table's new columns in alphabetical order; PostgreSQL appends each at
    the end, so they are put in the target's order (a database built from the YAML has
    them in that order, and pg_dump shows it). Only a run of consecutive ADD COLUMN
    statements on one table is reordered; nothing moves across another statement."""
    from schemainspect.misc import quoted_identifier

    def adds_to(r: Record) -> str | None:
        one = len(r.commands) == 1 and r.commands[0].op == "add_column"
        return r.table if r.kind == "AlterTableStmt" and one and r.column else None

    out: list[Record] = []
    i = 0
    while i < len(records):
        table = adds_to(records[i])
        j = i + 1
        while table and j < len(records) and adds_to(records[j]) == table:
            j += 1
        run = records[i:j]
        t = i_target.tables.get(f"{quoted_identifier(schema)}.{quoted_identifier(table or '')}")
        if table and t is not None and len(run) > 1:
            position = {name: n for n, name in enumerate(t.columns)}
            run = sorted(run, key=lambda r: position.get(r.column or "", len(position)))
        out += run
        i = j
    return out


def _recreated_comments(
    records: list[Record], c_target: dict[CommentKey, str | None], schema: str
) -> list[Record]:
    """An object the plan drops and creates again (an index whose definition changed, a
    view over a changed column) comes back without its comment, while the comment
    comparison saw the same comment on both sides: set it again after the re-creation."""
    commented = {(r.objtype, r.name) for r in records if r.kind == "CommentStmt"}
    created = {r.name for r in records if r.action == "create" and r.name}
    out: list[Record] = []
    for r in records:
        if r.kind != "DropStmt" or r.objtype is None:
            continue
        for name in r.names:
            want = c_target.get((r.objtype, name, None))
            if want is None or name not in created or (r.objtype, name) in commented:
                continue
            sql = f"COMMENT ON {r.objtype.upper()} {qualified(name, schema)} IS "
            sql += f"{quote_literal_or_null(want)};"
            out.append(statements.parse(_proved_comment(sql, want), "CommentStmt"))
            commented.add((r.objtype, name))
    return out


def _implicitly_recreated_comments(
    records: list[Record],
    c_from: dict[CommentKey, str | None],
    c_target: dict[CommentKey, str | None],
    schema: str,
) -> list[Record]:
    """A column dropped and added again in one plan (ALTER TABLE DROP COLUMN, then ADD
    COLUMN: a generated column's new expression), and an index created again after DROP
    COLUMN took it along without a DROP statement, come back without their comment, which
    both sides have: set it again."""
    commented = {(r.objtype, r.name) for r in records if r.kind == "CommentStmt"}
    dropped: set[tuple[str | None, str | None]] = set()
    out: list[Record] = []
    for r in records:
        targets: list[tuple[str, str, str | None]] = []
        if r.kind == "AlterTableStmt" and r.table:
            for c in r.commands:
                if c.op == "drop_column":
                    dropped.add((r.table, c.name))
                elif c.op == "add_column" and c.name and (r.table, c.name) in dropped:
                    targets.append(("column", r.table, c.name))
        elif r.action == "create" and r.name and any(t == r.table for t, _ in dropped):
            # an object on a table that lost a column: created again if both sides have it
            targets.append((r.object_type, r.name, None))
        for target, rel, col in targets:
            key = (target, rel, col)
            want = c_target.get(key)
            name = f"{rel}.{col}" if col else rel
            if want is None or c_from.get(key) != want or (target, name) in commented:
                continue
            what = qualified(rel, schema) + (f".{qualified(col, None)}" if col else "")
            sql = f"COMMENT ON {target.upper()} {what} IS {quote_literal_or_null(want)};"
            out.append(statements.parse(_proved_comment(sql, want), "CommentStmt"))
            commented.add((target, name))
    return out


Inspection = tuple[Any, dict[CommentKey, str | None]]


def _inspect_one(url: DatabaseURL, schema: str) -> Inspection:
    """Inspection and comments of one schema, from the disk cache when the database's
    catalog is one inspected before (readcache.py: a cached desired database never
    changes, a live one is recognised by its catalog's content)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_schemainspect()  # before unpickling imports it the slow way

    def store(found: Inspection) -> Inspection:
        kept = copy.copy(found[0])
        kept.c = kept.engine = kept.dialect = None  # the connection cannot be pickled
        return kept, found[1]

    return readcache.cached(
        "inspection",
        url,
        (schema,),
        lambda: _inspect_and_comments(url, schema),
        lambda hit: isinstance(hit, tuple) and len(hit) == 2,
        store,
    )


def _inspect_and_comments(url: DatabaseURL, schema: str) -> Inspection:
    """The inspection and the comments, the comments' query on a connection of its own
    meanwhile when the inspection's queries are sent ahead too (parallel_inspect.py)."""
    if not parallel_inspect.enabled():
        return inspect(url, schema), comments(url, schema)
    read = early.Early(lambda: comments(url, schema), "comments")
    return inspect(url, schema), read.result()


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
