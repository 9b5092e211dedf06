"""What one kind of object provides, and the contexts the orchestrators hand it.

A kind is a module in this package with one `KIND` object (a subclass of `Kind`). The
orchestrating modules (loader, compile, differ, catalog, report, hazards, renames,
introspect, diagram) iterate over the registry (`kinds.KINDS`) and call the hooks below;
a hook a kind does not need keeps the default (nothing). Parts of a table (columns, keys,
checks, indexes, triggers) are `TablePart`s, iterated by the tables kind in the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..catalog import Facts
    from ..compile import DDL
    from ..renames import Rename
    from ..settings import DatabaseURL
    from ..statements import Record
    from .tables import Table

PathKey = tuple[str | int, ...]
# What a statement does, for report.py: (object type, action, table, column, note).
Change = tuple[str, str, str | None, str | None, str | None]
Loc = tuple[int, int]

# DDL phases: a kind's statements sort by phase (stable), so an object is created after the
# objects it depends on. The gaps leave room for new kinds.
SETUP = 10  # extensions
TYPES = 20  # enums
ROUTINES = 30  # functions that tables call (defaults, checks, index keys)
RELATIONS = 40  # tables
RELATION_PARTS = 50  # indexes
LINKS = 60  # foreign keys (every table exists)
LATE_ROUTINES = 70  # SQL functions whose bodies read tables
DERIVED = 75  # objects defined by queries over tables and functions
BEHAVIOUR = 80  # triggers
COMMENTS = 90  # comments on relations and columns
PART_COMMENTS = 95  # comments on indexes

# The YAML being planned, for differ hooks that compare only what it declares (grants:
# a role the YAML does not name keeps its privileges). None: nothing declared is compared.
DECLARED: ContextVar[model.Schema | None] = ContextVar("bindu_declared", default=None)


@contextmanager
def declared(schema: model.Schema) -> Iterator[None]:
    """Plan against `schema`: the differ's kinds may read it (DECLARED)."""
    token = DECLARED.set(schema)
    try:
        yield
    finally:
        DECLARED.reset(token)


# ------------------------------------------------------------------------ JSON Schema bits

NAME: dict[str, Any] = {"type": "string", "minLength": 1}
RENAMED_FROM: dict[str, Any] = {"type": "string", "minLength": 1}


def names_list(min_items: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": dict(NAME)}
    if min_items:
        out["minItems"] = 1
    return out


def entry(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """A map of known keys (no others)."""
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    req = list(required)
    if req:
        out["required"] = req
    return out


def named_map(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """`name: {...}` entries, each a map of known keys."""
    return {
        "type": "object",
        "additionalProperties": entry(properties, required),
        "propertyNames": {"minLength": 1},
    }


# ------------------------------------------------------------------------------ validation

MAX_IDENT_BYTES = 63


@dataclass
class CheckContext:
    """What a kind's semantic check needs: the model, the raw YAML data, and a way to report
    a problem at the file:line:col of a YAML path (the loader turns them into errors)."""

    schema: model.Schema
    data: dict[str, Any]
    locate: Callable[[PathKey, bool], Loc]
    problems: list[tuple[int, int, str]] = field(default_factory=list)
    relation_names: dict[str, PathKey] = field(default_factory=dict)
    constraint_names: dict[tuple[str, str], PathKey] = field(default_factory=dict)

    def err(self, path: PathKey, msg: str, key: bool = False) -> None:
        line, col = self.locate(path, key)
        self.problems.append((line, col, msg))

    def check_ident(self, path: PathKey, name: str, what: str) -> None:
        size = len(name.encode())
        if size > MAX_IDENT_BYTES:
            self.err(
                path,
                f"{what} name '{name[:20]}...' is {size} bytes; PostgreSQL truncates names to "
                f"{MAX_IDENT_BYTES} bytes (UTF-8), use a shorter name",
                key=True,
            )
        if "\x00" in name:
            self.err(path, f"{what} name contains a NUL character; remove it", key=True)

    def did_you_mean(self, word: str, choices: list[str]) -> str:
        guess = suggest(word, choices)
        return f"did you mean '{guess}'?" if guess and guess != word else ""

    def _clash(self, name: str, path: PathKey, first_path: PathKey, what: str, scope: str) -> None:
        # Report at the later of the two, pointing back at the earlier one.
        first, here = self.locate(first_path, True), self.locate(path, True)
        if here < first:
            path, first = first_path, here
        self.err(
            path,
            f"{what} name '{name}' is already used at line {first[0]} ({scope}); "
            "rename one of them",
            key=True,
        )

    def claim(self, name: str, path: PathKey, what: str) -> None:
        """A name in the schema's one namespace of relations (tables, indexes, ...)."""
        if name in self.relation_names:
            self._clash(
                name,
                path,
                self.relation_names[name],
                what,
                "tables, indexes, sequences and key constraints share one namespace",
            )
        else:
            self.relation_names[name] = path

    def claim_constraint(self, table: str, name: str, path: PathKey, what: str) -> None:
        key = (table, name)
        if key in self.constraint_names:
            self._clash(
                name,
                path,
                self.constraint_names[key],
                what,
                f"constraint names are unique per table, here '{table}'",
            )
        else:
            self.constraint_names[key] = path


def suggest(word: str, choices: list[str]) -> str | None:
    """The closest choice to a misspelt word, if one is close enough."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


# --------------------------------------------------------------------------------- inspect


@dataclass
class InspectState:
    """What `inspect` has read so far: each kind's YAML section by key (kinds run in
    registry order, so a later kind can look at an earlier one's), and the warnings."""

    rows: Callable[[str], list[tuple[Any, ...]]]
    schema_name: str
    version: int
    warn: Callable[[str], None]
    sections: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class CommentSource:
    """Comments the differ compares for a kind (migra never emits COMMENT ON).

    `sql` selects (relname, attname or NULL, description) for the schema `:schema`;
    `target` is the COMMENT ON object word (TABLE, COLUMN, INDEX); `rank` orders them."""

    target: str
    rank: int
    sql: str


@dataclass(frozen=True)
class Derived:
    """A relation defined by a query (a view, a materialized view). The views kind creates
    every kind's derived relations together, each after the ones its query reads, whatever
    kind they are (a view over a materialized view over a view)."""

    name: str
    query: str  # the SELECT (the relations it reads decide the order)
    create: Callable[[str | None], list[DDL]]  # its CREATE in a target schema (None: public)


class StatementShapes:
    """What a kind (or table part) says about parsed statements: statements.py parses every
    statement with PostgreSQL's parser and asks the kinds which are theirs, so the plan
    summary's rows come with the kinds that own them."""

    # the summary rows (statements.Record.object_type) this kind owns, in output order
    object_types: tuple[str, ...] = ()
    # PostgreSQL's object types (pglast ObjectType names, as DROP, RENAME and COMMENT
    # write them) that are this kind's objects, with their summary row
    pg_objects: tuple[tuple[str, str], ...] = ()
    # of those, the objects a DROP names together with their table (DROP TRIGGER t ON tab)
    on_table: tuple[str, ...] = ()

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        """The record of a statement of this kind (`stmt`: its pglast node; `rec`: the
        generic record, with sql, kind and verb); None: not this kind's statement."""
        return None

    def unqualified(self, rec: Record, schema: str) -> Record | None:
        """A statement of this kind that names `schema` itself, not as a qualifier (GRANT
        ON SCHEMA), rewritten to run in whichever schema is current, as a revision's
        statements must; None: not such a statement (statements.unqualify's cuts do)."""
        return None


class Kind(StatementShapes):
    """One kind of object declared at the top level of the YAML."""

    key: str = ""  # YAML key, and the field of model.Schema holding the objects
    word: str = ""  # singular, in messages
    required: bool = False  # the document must have the key
    excludable: bool = False  # may be listed under `exclude:` (by name)
    # pg_class relkinds this kind inspects (the tables kind warns about the others)
    relkinds: tuple[str, ...] = ()

    # YAML and model -----------------------------------------------------------------
    def fragment(self) -> dict[str, Any]:
        """The JSON Schema of the key's value."""
        raise NotImplementedError

    def build(self, section: Any) -> tuple[Any, ...]:
        """The model objects from the YAML section (already valid against fragment())."""
        raise NotImplementedError

    def count_problems(self, section: Any, ctx: CheckContext) -> None:
        """Object counts beyond limits.py, before the JSON Schema is checked."""

    def check(self, ctx: CheckContext) -> None:
        """Semantic rules the JSON Schema cannot express (references, names, ...)."""

    def expressions(self, schema: model.Schema) -> list[str]:
        """SQL expressions PostgreSQL evaluates when these objects are created (functions
        they call must exist first)."""
        return []

    # DDL -----------------------------------------------------------------------------
    def derived(self, schema: model.Schema) -> list[Derived]:
        """The kind's relations defined by a query, created in one dependency order with
        every other kind's (kinds/views.py renders them at phase DERIVED)."""
        return []

    def metadata(self, md: sa.MetaData, schema: model.Schema, target_schema: str | None) -> None:
        """Add the kind's objects to the SQLAlchemy MetaData (where SQLAlchemy has them)."""

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        """(phase, statement) for every object of the kind."""
        return []

    # plans -----------------------------------------------------------------------------
    catalog_sql: str = ""  # SELECT tag, name, relation, type ... for %(schema)s
    catalog_tags: tuple[str, ...] = ()

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        """catalog.Facts fields from the rows of catalog_sql (tags of this kind)."""
        return {}

    def renames(
        self, schema: model.Schema, facts: Facts, where: str, target_schema: str
    ) -> list[Rename]:
        """ALTER ... RENAME for each renamed_from hint that applies."""
        return []

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        """Hazards of one statement on objects of this kind."""
        return set()

    def owners(self, schema: model.Schema) -> dict[str, str]:
        """{object name: table name} for objects whose statements do not name their table."""
        return {}

    def change(self, rec: Record, otype: str, owners: Mapping[str, str]) -> Change | None:
        """(object type, action, table, column, note) of a statement on this kind's
        objects, for summaries and the touched-tables diagram; None: not this kind's."""
        return None

    comments: tuple[CommentSource, ...] = ()

    # migra's inspection (differ.py; `i` is a schemainspect inspection) -------------------
    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        """Replace schemainspect's statement properties for this kind (module `obj`,
        schemainspect.pg.obj) where it pastes names or values into SQL unescaped; `lit`
        quotes a literal, `ident` is schemainspect's quoted_identifier(name, schema)."""

    def patch_migra_queries(self, obj: Any) -> None:
        """Change schemainspect's catalog queries (module `obj`) before it inspects."""

    def split_migra(self, sql: str) -> list[Record] | None:
        """The records of a migra string that holds two statements for one object of this
        kind (exactly the expected pair), else None."""
        return None

    def temporary_names(self, i_from: Any, i_target: Any) -> set[str]:
        """Names migra's statements may give this kind's objects for the time of one
        revision (neither database has them), beyond the inspected ones."""
        return set()

    def differ_exclude(self, i: Any, exclude: model.Exclude) -> None:
        """Remove the excluded objects of this kind from an inspection."""

    def differ_equalize(self, i_from: Any, i_target: Any) -> None:
        """Make differences migra should not see (whitespace, ...) equal."""

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """Reorder or drop migra's statements where its order is wrong for this kind."""
        return records

    def rehearsal_sql(self, live: DatabaseURL, schema: str) -> list[str]:
        """Statements that give a rehearsal copy of the live schema (restored from pg_dump
        --no-owner --no-privileges) what this kind compares and the dump left out."""
        return []

    # inspect and diagram ---------------------------------------------------------------
    def inspect(self, state: InspectState) -> Any:
        """The YAML section for a live schema (None or empty: left out)."""
        return None

    def diagram(self, schema: model.Schema, shown: set[str] | None, marks: Any) -> list[str]:
        """Mermaid erDiagram lines for this kind's objects (`shown`: relation names)."""
        return []


class TablePart(StatementShapes):
    """One part of a table. The hooks mirror Kind's, per table."""

    # the part's YAML keys inside a table and their JSON Schema, in output order
    def fragments(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        """Table fields from the table's YAML (keys of fragments())."""
        raise NotImplementedError

    def count_problems(self, name: str, section: dict[str, Any], ctx: CheckContext) -> None:
        """Counts beyond limits.py, before the JSON Schema is checked."""

    def check(self, ctx: CheckContext, t: Table, tp: PathKey) -> None:
        """Semantic rules for this part of table t (at YAML path tp)."""

    def expressions(self, t: Table) -> list[str]:
        return []

    def sa_args(self, t: Table, schema: model.Schema) -> list[Any]:
        """Columns and constraints for sa.Table(...)."""
        return []

    def sa_kwargs(self, t: Table) -> dict[str, Any]:
        """Keyword arguments of sa.Table(...) (prefixes, postgresql_with)."""
        return {}

    def sa_after(self, table: sa.Table, t: Table) -> None:
        """Additions once the sa.Table exists (indexes)."""

    def sa_link(self, table: sa.Table, t: Table, tables: dict[str, sa.Table]) -> None:
        """Additions once every sa.Table exists (foreign keys)."""

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        return []

    rename_rank = 0  # renames of parts run in this order (after the table's own)

    def renames(
        self,
        t: Table,
        hint: Callable[..., Rename | None],
        on_table: Callable[[Any], Callable[[str], bool]],
        facts: Facts,
        ts: str,
    ) -> list[Rename | None]:
        return []

    def rename_hints(
        self,
        hint: Callable[..., Rename | None],
        what: str,
        table: str,
        pairs: Iterable[tuple[str, str | None]],
        exists: Callable[[str], bool],
        sql: Callable[[str, str], str],
    ) -> list[Rename | None]:
        """The hints of a part's `renamed_from`s: (name, renamed_from) pairs of `table`."""
        return [hint(what, f"{table}.{new}", old, new, exists, sql) for new, old in pairs if old]

    catalog_sql: str = ""
    catalog_tags: tuple[str, ...] = ()

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {}

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        return set()

    def owners(self, t: Table) -> dict[str, str]:
        return {}

    def change(self, rec: Record, owners: Mapping[str, str]) -> Change | None:
        return None

    comments: tuple[CommentSource, ...] = ()
    inspection_attrs: tuple[str, ...] = ()  # schemainspect dicts of objects on a table

    def escape_migra(
        self, obj: Any, lit: Callable[[object], str], ident: Callable[..., str]
    ) -> None:
        """As Kind.escape_migra, for the part's objects."""

    def patch_migra_queries(self, obj: Any) -> None:
        """As Kind.patch_migra_queries, for the part's objects."""

    def split_migra(self, sql: str) -> list[Record] | None:
        """As Kind.split_migra, for the part's objects."""
        return None

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        """As Kind.differ_order: mend or add to migra's statements for the part's objects."""
        return records

    def inside_dropped(self, r: Record, dropped: set[str], i_from: Any) -> bool:
        """A drop migra emits for an object of a table it drops anyway."""
        return False

    def inspect(self, state: InspectState, tables: dict[int, dict[str, Any]]) -> None:
        """Fill the tables' YAML (by oid) with this part."""

    def unique_sets(self, t: Table) -> list[frozenset[str]]:
        return []

    def column_flags(self, t: Table) -> dict[str, list[str]]:
        """Diagram key marks (PK, FK) per column."""
        return {}

    def relationships(self, t: Table, names: set[str], uniques: list[frozenset[str]]) -> list[str]:
        return []


def kept_columns(i_from: Any, i_target: Any) -> Iterator[tuple[Any, Any, str, Any, Any]]:
    """(table, its `before`, column name, column, its `before`) for each column of an
    alterable table that both schemainspect inspections hold: the columns a differ_order
    hook may find changed in place."""
    for key, t in i_target.tables.items():
        before = i_from.tables.get(key)
        if before is None or not t.is_alterable:
            continue
        for name, c in t.columns.items():
            b = before.columns.get(name)
            if b is not None:
                yield t, before, name, c, b


def relation_renames(
    word: str,
    pairs: Iterable[tuple[str, str | None]],
    exists: Callable[[str], bool],
    where: str,
    target_schema: str,
) -> list[Rename]:
    """ALTER <WORD> ... RENAME TO for the (name, renamed_from) pairs of relations of one
    kind (views, materialized views, indexes), through renames.hint."""
    from ..compile import qualified, quote
    from ..renames import hint

    def sql(a: str, b: str) -> str:
        return f"ALTER {word.upper()} {qualified(a, target_schema)} RENAME TO {quote(b)};"

    found = [hint(word, new, old, new, exists, sql, where) for new, old in pairs if old]
    return [r for r in found if r is not None]


def need_cols(
    ctx: CheckContext, path: PathKey, names: tuple[str, ...], what: str, table: Table
) -> None:
    """Every name is a column of the table, and none is listed twice."""
    known = [c.name for c in table.columns]
    for i, n in enumerate(names):
        if table.column(n) is None:
            hint = ctx.did_you_mean(n, known) or f"known columns: {', '.join(known)}"
            ctx.err(
                (*path, i),
                f"{what}: column '{n}' does not exist in table '{table.name}'; {hint}",
            )
    if len(set(names)) != len(names):
        ctx.err(path, f"{what}: a column is listed twice; list each column once")
