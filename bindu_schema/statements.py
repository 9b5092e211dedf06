"""Planned statements as parsed data: the one module that reads SQL text.

Every statement a plan carries (migra's, the rename hints, the online rewrites, the
comment and function gap fillers, the parts of a split revision) is parsed here with
PostgreSQL's own parser (pglast, libpg_query with the server's grammar) into a `Record`:
what kind of statement it is, what it does to which object on which table, whether it is
CONCURRENTLY and whether it may run in a transaction. Nothing downstream looks at SQL
text again: hazards, online rewrites, the summary, the resumable split and the renderers
read records.

A text that is not exactly one statement (two statements, a syntax error) is refused
with `StatementError`; so is one of another kind than its producer meant (`expect`).
Rewrites of a statement (adding CONCURRENTLY or NOT VALID, dropping NOT VALID, removing
the schema qualifier) edit the text at token positions from PostgreSQL's scanner and are
proved by parsing the result again: its tree must be the original's with exactly the
intended change, or the rewrite is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.parser import ParseError, scan, split

from .errors import BinduSchemaError

if TYPE_CHECKING:
    from .kinds.base import StatementShapes


class StatementError(BinduSchemaError):
    """A planned statement is not the one statement it claims to be; nothing runs."""


def _shapes() -> tuple[StatementShapes, ...]:
    """The kinds and table parts; each says which statements are its own (StatementShapes)."""
    from . import kinds

    out: list[StatementShapes] = []
    for kind in kinds.KINDS:
        out.append(kind)
        if kind.key == "tables":
            out += kinds.part_kinds()
    return tuple(out)


# The plan summary's rows: each kind's (in registry order, a table's parts after it), then
# "other" for statements no kind owns.
OBJECT_TYPES: tuple[str, ...] = (
    *dict.fromkeys(t for shape in _shapes() for t in shape.object_types),
    "other",
)
ACTIONS = ("create", "alter", "drop")


@dataclass(frozen=True)
class Command:
    """One sub-command of ALTER TABLE (the only statement that carries several)."""

    op: str  # add_column, drop_column, alter_type, set_not_null, drop_not_null, set_default,
    #          drop_default, add_constraint, drop_constraint, validate_constraint,
    #          enable_trigger, disable_trigger, attach_partition, other
    name: str | None = None  # the column or constraint
    constraint: str | None = None  # check, foreign, primary, unique, exclusion, ...
    not_valid: bool = False
    using_index: bool = False
    not_null: bool = False  # add_column ... NOT NULL
    has_default: bool = False  # add_column ... DEFAULT / set_default
    volatile_default: bool = False  # the default calls a volatile function
    type_name: str | None = None  # alter_type: the new type, in format_type spelling


@dataclass(frozen=True)
class Record:
    """One parsed statement. `sql` is the exact text that runs."""

    sql: str
    kind: str  # the parse node: IndexStmt, AlterTableStmt, DropStmt, CommentStmt, ...
    object_type: str  # one of OBJECT_TYPES (the summary's rows), or "setting"
    action: str  # one of ACTIONS
    schema: str | None = None
    name: str | None = None  # the object the statement creates, alters or drops
    table: str | None = None  # the table it acts on (None where the text does not say)
    column: str | None = None  # the column, for column changes and column comments
    note: str | None = None  # columns: added / changed / renamed / dropped / comment
    new_name: str | None = None  # renames: the new name
    concurrently: bool = False
    transactional: bool = True  # False: must run outside a transaction block
    commands: tuple[Command, ...] = ()  # ALTER TABLE sub-commands
    names: tuple[str, ...] = field(default=())  # every object a DROP names (unqualified)
    objtype: str | None = None  # DROP, COMMENT: what PostgreSQL calls the object (view, ...)

    @property
    def keys(self) -> tuple[str, ...]:
        """What the statement touches, most specific first (index:, constraint:,
        column:, table:), for grouping statements by object."""
        out: list[str] = []
        if self.object_type == "index" and self.name:
            out.append(f"index:{self.name}")
        out += [f"constraint:{c.name}" for c in self.commands if c.name and c.constraint]
        out += [
            f"constraint:{c.name}"
            for c in self.commands
            if c.name and c.op in ("drop_constraint", "validate_constraint", "alter_constraint")
        ]
        if self.object_type == "constraint" and self.name and self.kind == "RenameStmt":
            out.append(f"constraint:{self.name}")
        if self.table and (
            self.kind in ("CreateStmt", "AlterTableStmt")
            or (self.kind == "DropStmt" and self.object_type == "table")
            or (self.kind == "RenameStmt" and self.object_type in ("table", "column", "constraint"))
        ):
            out += [
                f"column:{self.table}.{c.name}"
                for c in self.commands
                if c.name and not c.constraint and "constraint" not in c.op
            ]
            out.append(f"table:{self.table}")
        return tuple(out)


# --------------------------------------------------------------------------------- parsing


def _one(sql: str) -> ast.Node:
    try:
        raw = parse_sql(sql)
    except ParseError as exc:
        raise StatementError(f"not valid SQL ({exc}): {_short(sql)}") from None
    if len(raw) != 1:
        raise StatementError(f"expected exactly one statement, found {len(raw)}: {_short(sql)}")
    stmt = raw[0].stmt
    assert stmt is not None
    return stmt


def check_one(sql: str) -> None:
    """StatementError unless sql is exactly one statement, as _one decides, without building
    pglast's Python tree (PostgreSQL's parser splits it in C: 0.01 s for 7,000 statements
    where parse_sql takes 1.1 s)."""
    try:
        found = split(sql, with_parser=True)
    except ParseError as exc:
        raise StatementError(f"not valid SQL ({exc}): {_short(sql)}") from None
    if len(found) != 1:
        raise StatementError(f"expected exactly one statement, found {len(found)}: {_short(sql)}")


def _short(sql: str, limit: int = 300) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse(sql: str, expect: str | Iterable[str] | None = None) -> Record:
    """The record of one statement; StatementError unless sql is exactly one statement
    (of the node kind `expect`, when given)."""
    text = sql.strip()
    stmt = _one(text)
    kind = type(stmt).__name__
    if expect is not None:
        allowed = {expect} if isinstance(expect, str) else set(expect)
        if kind not in allowed:
            raise StatementError(
                f"expected {' or '.join(sorted(allowed))}, found {kind}: {_short(text)}"
            )
    return _describe(text, stmt, kind)


def parse_trigger_with_state(sql: str) -> list[Record] | None:
    """migra writes a trigger that is not simply enabled as CREATE TRIGGER followed by
    ALTER TABLE ... DISABLE (or ENABLE REPLICA/ALWAYS) TRIGGER, in one string. Both records
    when the text is exactly that pair, for the same trigger on the same table; else None."""
    try:
        raw = parse_sql(sql)
    except ParseError:
        return None
    if len(raw) != 2:
        return None
    parts = []
    for r in raw:  # pglast gives character offsets (tests/cases/statements/trigger_pairs.yaml)
        at = r.stmt_location or 0
        parts.append(sql[at : at + r.stmt_len if r.stmt_len else None].strip())
    try:
        create, state = parse(parts[0], "CreateTrigStmt"), parse(parts[1], "AlterTableStmt")
    except StatementError:
        return None
    ops = [(c.op, c.name) for c in state.commands]
    if (
        len(ops) != 1
        or ops[0][0] not in ("enable_trigger", "disable_trigger")
        or ops[0][1] != create.name
        or (state.schema, state.table) != (create.schema, create.table)
    ):
        return None
    return [create, state]


def parse_all(sqls: Iterable[str]) -> list[Record]:
    return [parse(s) for s in sqls]


def comment_text(rec: Record) -> str | None:
    """The text a COMMENT statement sets, as PostgreSQL reads it (None: removed)."""
    stmt = _one(rec.sql)
    if not isinstance(stmt, ast.CommentStmt):
        raise StatementError(f"not a COMMENT statement: {_short(rec.sql)}")
    text: str | None = stmt.comment
    return text


def strings(items: Any) -> list[str]:
    """The String values of a pglast list (a qualified name's parts)."""
    return _strings(items)


def qualified_name(names: list[str]) -> tuple[str | None, str | None]:
    """(schema, name) of a qualified name's parts."""
    return _qualified(names)


def relation(rv: ast.RangeVar | None) -> tuple[str | None, str | None]:
    """(schema, name) of a relation reference."""
    return _rel(rv)


def _strings(items: Any) -> list[str]:
    return [i.sval or "" for i in items or () if isinstance(i, ast.String)]


def _qualified(names: list[str]) -> tuple[str | None, str | None]:
    """(schema, name) of a possibly qualified name list (the last part is the name)."""
    if not names:
        return None, None
    return (names[-2] if len(names) >= 2 else None), names[-1]


# PostgreSQL's object types (DROP, RENAME, COMMENT) -> summary row, from the kinds.
_PG_OBJECTS: dict[ObjectType, str] = {
    ObjectType[name]: otype for shape in _shapes() for name, otype in shape.pg_objects
}
# Objects a DROP names with their table: DROP TRIGGER t ON [schema.]table.
_ON_TABLE = frozenset(ObjectType[name] for shape in _shapes() for name in shape.on_table)
DROPS_DATA = frozenset({"table", "sequence"})  # plus schemas (DropStmt OBJECT_SCHEMA)

_CONSTRAINT_KINDS = {
    ConstrType.CONSTR_CHECK: "check",
    ConstrType.CONSTR_FOREIGN: "foreign",
    ConstrType.CONSTR_PRIMARY: "primary",
    ConstrType.CONSTR_UNIQUE: "unique",
    ConstrType.CONSTR_EXCLUSION: "exclusion",
    ConstrType.CONSTR_NOTNULL: "not_null",
}

# Functions whose value differs per row: a DEFAULT calling one rewrites the table.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
    }
)

# format_type spellings of the internal names the parser gives built-in types.
_TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "varbit": "bit varying",
}


def type_spelling(tn: ast.TypeName) -> str:
    """A TypeName as format_type writes it (`character varying(50)`, `integer[]`)."""
    names = _strings(tn.names)
    base = names[-1] if names else "?"
    if len(names) == 1 or (len(names) == 2 and names[0] == "pg_catalog"):
        base = _TYPE_NAMES.get(base, base)
    elif len(names) >= 2:
        base = ".".join(names)
    mods = [
        str(m.val.ival)
        for m in tn.typmods or ()
        if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer)
    ]
    if mods:
        if base.startswith(("timestamp ", "time ")):
            head, _, rest = base.partition(" ")
            base = f"{head}({','.join(mods)}) {rest}"
        else:
            base += f"({','.join(mods)})"
    return base + "[]" * len(tn.arrayBounds or ())


def _calls(node: Any) -> Iterator[str]:
    """Names of the functions an expression calls (nextval included)."""
    if isinstance(node, ast.FuncCall):
        names = _strings(node.funcname)
        if names:
            yield names[-1]
    if isinstance(node, ast.Node):
        for attr in node:
            yield from _calls(getattr(node, attr))
    elif isinstance(node, tuple):
        for item in node:
            yield from _calls(item)


def _column_constraints(cdef: ast.ColumnDef) -> tuple[bool, bool, bool]:
    not_null = bool(cdef.is_not_null)
    has_default = volatile = False
    for c in cdef.constraints or ():
        if c.contype == ConstrType.CONSTR_NOTNULL:
            not_null = True
        elif c.contype == ConstrType.CONSTR_DEFAULT:
            has_default = True
            volatile = any(f in VOLATILE_FUNCTIONS for f in _calls(c.raw_expr))
    return not_null, has_default, volatile


def unnamed_commands(rec: Record) -> bool:
    """Whether an ALTER TABLE may hold a sub-command _command names "other" (OWNER TO, row
    level security, ...): callers that look for those parse the text only then."""
    return not rec.commands or any(c.op == "other" for c in rec.commands)


def _command(cmd: ast.AlterTableCmd) -> Command:
    t = cmd.subtype
    if t == AlterTableType.AT_AddColumn:
        cdef = cmd.def_
        assert isinstance(cdef, ast.ColumnDef)
        nn, has_default, volatile = _column_constraints(cdef)
        return Command("add_column", cdef.colname, None, False, False, nn, has_default, volatile)
    if t == AlterTableType.AT_DropColumn:
        return Command("drop_column", cmd.name)
    if t == AlterTableType.AT_AlterColumnType:
        cdef = cmd.def_
        assert isinstance(cdef, ast.ColumnDef) and cdef.typeName is not None
        return Command("alter_type", cmd.name, type_name=type_spelling(cdef.typeName))
    if t == AlterTableType.AT_SetNotNull:
        return Command("set_not_null", cmd.name)
    if t == AlterTableType.AT_DropNotNull:
        return Command("drop_not_null", cmd.name)
    if t == AlterTableType.AT_ColumnDefault:
        if cmd.def_ is None:
            return Command("drop_default", cmd.name)
        volatile = any(f in VOLATILE_FUNCTIONS for f in _calls(cmd.def_))
        return Command("set_default", cmd.name, has_default=True, volatile_default=volatile)
    if t in (AlterTableType.AT_AddConstraint, AlterTableType.AT_AddIndexConstraint):
        c = cmd.def_
        if isinstance(c, ast.Constraint):
            return Command(
                "add_constraint",
                c.conname,
                _CONSTRAINT_KINDS.get(c.contype, "other") if c.contype is not None else "other",
                not_valid=bool(c.skip_validation),
                using_index=bool(c.indexname),
            )
        return Command("add_constraint", None, "other")
    if t == AlterTableType.AT_DropConstraint:
        return Command("drop_constraint", cmd.name)
    if t == AlterTableType.AT_AlterConstraint:
        name = cmd.def_.conname if isinstance(cmd.def_, ast.Constraint) else cmd.name
        return Command("alter_constraint", name)
    if t == AlterTableType.AT_ValidateConstraint:
        return Command("validate_constraint", cmd.name)
    if t in (
        AlterTableType.AT_EnableTrig,
        AlterTableType.AT_EnableAlwaysTrig,
        AlterTableType.AT_EnableReplicaTrig,
    ):
        return Command("enable_trigger", cmd.name)
    if t == AlterTableType.AT_DisableTrig:
        return Command("disable_trigger", cmd.name)
    if t == AlterTableType.AT_AttachPartition:
        part = getattr(cmd.def_, "name", None)
        return Command("attach_partition", getattr(part, "relname", None))
    if isinstance(t, AlterTableType) and t.name.startswith("AT_") and cmd.name:
        return Command("other", cmd.name)
    return Command("other")


_COLUMN_NOTES = {
    "add_column": ("create", "added"),
    "drop_column": ("drop", "dropped"),
    "alter_type": ("alter", "changed"),
    "set_not_null": ("alter", "changed"),
    "drop_not_null": ("alter", "changed"),
    "set_default": ("alter", "changed"),
    "drop_default": ("alter", "changed"),
}


def _rel(rv: ast.RangeVar | None) -> tuple[str | None, str | None]:
    """(schema, name) of a relation reference."""
    return (rv.schemaname, rv.relname) if rv is not None else (None, None)


def _alter_table(sql: str, stmt: ast.AlterTableStmt) -> Record:
    schema, table = _rel(stmt.relation)
    commands = tuple(_command(c) for c in stmt.cmds or ())
    if stmt.objtype == ObjectType.OBJECT_INDEX:
        return Record(sql, "AlterTableStmt", "index", "alter", schema, table)
    if stmt.objtype in (ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW):
        return Record(sql, "AlterTableStmt", "view", "alter", schema, table)  # SET (...)
    only_validate = bool(commands) and all(c.op == "validate_constraint" for c in commands)
    base = Record(
        sql,
        "AlterTableStmt",
        "table",
        "alter",
        schema,
        table,
        table,
        commands=commands,
        transactional=not only_validate,
    )
    first = commands[0] if commands else Command("other")
    if first.op in _COLUMN_NOTES:
        action, note = _COLUMN_NOTES[first.op]
        return replace(
            base,
            object_type="column",
            action=action,
            name=first.name,
            column=first.name,
            note=note,
        )
    constraint_actions = {
        "add_constraint": "create",
        "drop_constraint": "drop",
        "validate_constraint": "alter",
        "alter_constraint": "alter",
    }
    if first.op in constraint_actions:
        return replace(
            base, object_type="constraint", action=constraint_actions[first.op], name=first.name
        )
    if first.op in ("enable_trigger", "disable_trigger"):
        return replace(base, object_type="trigger", name=first.name)
    return base


def _rename(sql: str, stmt: ast.RenameStmt) -> Record:
    schema, rel = _rel(stmt.relation)
    if stmt.relation is None and stmt.object is not None:  # a function, a type, ...
        schema, rel = _qualified(_object_parts(stmt.object))
    otype = _PG_OBJECTS.get(stmt.renameType, "other") if stmt.renameType is not None else "other"
    new = stmt.newname
    rec = Record(sql, "RenameStmt", otype, "alter", schema, rel, new_name=new)
    if otype == "table":
        return replace(rec, table=rel)  # acts on the old name; reports show new_name
    if otype == "column":
        return replace(rec, name=stmt.subname, table=rel, column=new, note="renamed")
    if stmt.subname:  # an object of the table: a constraint, trigger, policy, ...
        return replace(rec, name=stmt.subname, table=rel)
    return rec  # an index (or other relation): its own name


def _object_parts(o: Any) -> list[str]:
    """The qualified name's parts of an object a DROP or RENAME names."""
    if isinstance(o, ast.ObjectWithArgs):
        return _strings(o.objname)
    if isinstance(o, ast.TypeName):
        return _strings(o.names)
    if isinstance(o, ast.String):
        return [o.sval or ""]
    return _strings(o)


def _drop(sql: str, stmt: ast.DropStmt) -> Record:
    removed = stmt.removeType
    otype = _PG_OBJECTS.get(removed, "other") if removed is not None else "other"
    first: list[str] = []
    names: list[str] = []
    for o in stmt.objects or ():
        parts = _object_parts(o)
        first = first or parts
        if parts:
            names.append(parts[-1])
    concurrent = bool(stmt.concurrent)
    rec = Record(
        sql,
        "DropStmt",
        otype,
        "drop",
        concurrently=concurrent,
        transactional=not concurrent,
        names=tuple(names),
        objtype=_objtype(removed),
    )
    if removed in _ON_TABLE:
        # DROP TRIGGER name ON [schema.]table: the list is [schema,] table, trigger
        return replace(
            rec,
            schema=first[-3] if len(first) >= 3 else None,
            name=first[-1] if first else None,
            table=first[-2] if len(first) >= 2 else None,
        )
    schema, name = _qualified(first)
    return replace(rec, schema=schema, name=name, table=name if otype == "table" else None)


def _objtype(t: ObjectType | None) -> str | None:
    return t.name.removeprefix("OBJECT_").lower().replace("_", " ") if t is not None else None


def _comment(sql: str, stmt: ast.CommentStmt) -> Record:
    parts: list[str] = _strings(stmt.object) if isinstance(stmt.object, tuple) else []
    action = "drop" if stmt.comment is None else "alter"
    rec = Record(sql, "CommentStmt", "comment", action, objtype=_objtype(stmt.objtype))
    if stmt.objtype == ObjectType.OBJECT_COLUMN and len(parts) >= 2:
        return replace(
            rec,
            schema=parts[-3] if len(parts) >= 3 else None,
            name=parts[-1],
            table=parts[-2],
            column=parts[-1],
            note="comment",
        )
    schema, name = _qualified(parts)
    table = name if stmt.objtype == ObjectType.OBJECT_TABLE else None
    return replace(rec, schema=schema, name=name, table=table)


def _describe(sql: str, stmt: ast.Node, kind: str) -> Record:
    first = next(iter(_tokens(sql)), None)
    verb = {"CREATE": "create", "DROP": "drop"}.get(first.name if first else "", "alter")
    rec = Record(sql, kind, "other", verb)
    if isinstance(stmt, ast.CreateStmt):
        schema, table = _rel(stmt.relation)
        return replace(rec, object_type="table", schema=schema, name=table, table=table)
    if isinstance(stmt, ast.AlterTableStmt):
        return _alter_table(sql, stmt)
    if isinstance(stmt, ast.RenameStmt):
        return _rename(sql, stmt)
    if isinstance(stmt, ast.DropStmt):
        return _drop(sql, stmt)
    if isinstance(stmt, ast.CommentStmt):
        return _comment(sql, stmt)
    for shape in _shapes():
        found = shape.describe(stmt, rec)
        if found is not None:
            return found
    if isinstance(stmt, ast.VariableSetStmt):
        return replace(rec, object_type="setting", name=stmt.name)
    return rec


# ------------------------------------------------------------------ types


@dataclass(frozen=True)
class TypeSpec:
    """A type name as the parser reads it: `character varying(20)[]` is
    (pg_catalog, varchar, (20,), 1)."""

    schema: str | None  # pg_catalog for the SQL-standard spellings (varchar, decimal, ...)
    name: str  # the internal name for those (varchar, bpchar, numeric, timestamptz)
    mods: tuple[int, ...]  # the typmods written in the text (char's implied (1) is not)
    dims: int  # array dimensions
    other_mods: bool = False  # typmods that are not plain integers (interval fields, ...)


def parse_type(spec: str) -> TypeSpec:
    """Read a type name with PostgreSQL's grammar; StatementError unless `spec` is exactly
    one type name (nothing else can hide in it: no cast chain, no COLLATE, no statement)."""
    stmt = _one(f"SELECT NULL::{spec}")
    ok = isinstance(stmt, ast.SelectStmt) and not stmt.fromClause and stmt.targetList
    targets = stmt.targetList if ok and isinstance(stmt, ast.SelectStmt) else None
    cast = targets[0].val if targets and len(targets) == 1 else None
    if (
        not isinstance(cast, ast.TypeCast)
        or not isinstance(cast.arg, ast.A_Const)
        or not cast.arg.isnull
        or cast.typeName is None
    ):
        raise StatementError(f"not a type name: {_short(spec)}")
    tn = cast.typeName
    names = _strings(tn.names)
    # char's implied (1) is a typmod too; only a "(" in the text means mods were written
    parens = any(tok.name == "ASCII_40" for tok in _tokens(spec))
    written = list(tn.typmods or ()) if parens else []
    ints = tuple(
        int(m.val.ival or 0)
        for m in written
        if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer)
    )
    return TypeSpec(
        names[0] if len(names) > 1 else None,
        names[-1],
        ints,
        len(tn.arrayBounds or ()),
        len(ints) != len(written),
    )


def refers_to_row(expression: str) -> bool:
    """Whether an SQL expression reads OLD.x or NEW.x (a trigger's WHEN condition); False
    when it does not parse (the server reports that expression's error on loading)."""
    try:
        raw = parse_sql(f"SELECT ({expression})")
    except ParseError:
        return False
    if len(raw) != 1:
        return False
    return any(
        isinstance(node, ast.ColumnRef)
        and len(fields := node.fields or ()) > 1
        and isinstance(fields[0], ast.String)
        and fields[0].sval in ("old", "new")
        for node in _nodes(raw[0].stmt)
    )


def _nodes(node: Any) -> Iterator[Any]:
    """Every node of a parse tree."""
    if isinstance(node, ast.Node):
        yield node
        for attr in node:
            yield from _nodes(getattr(node, attr))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _nodes(item)


# ------------------------------------------------------------------ expressions and catalog


def called_functions(expression: str) -> set[str]:
    """Names of the functions an SQL expression calls (empty when it does not parse:
    the server reports that expression's error when the DDL is loaded)."""
    try:
        raw = parse_sql(f"SELECT ({expression})")
    except ParseError:
        return set()
    if len(raw) != 1:
        return set()
    return set(_calls(raw[0].stmt))


def trigger_when(definition: str) -> str | None:
    """The WHEN condition of a trigger definition (pg_get_triggerdef's text), as written
    there, without its parentheses: found on PostgreSQL's own tokens."""
    toks = _tokens(definition)
    for n, tok in enumerate(toks):
        if tok.name == "WHEN" and n + 1 < len(toks) and toks[n + 1].name == "ASCII_40":
            depth = 0
            for close in toks[n + 1 :]:
                depth += {"ASCII_40": 1, "ASCII_41": -1}.get(close.name, 0)
                if depth == 0:
                    return definition[toks[n + 1].end + 1 : close.start].strip()
            return None
    return None


@dataclass(frozen=True)
class ConstraintFacts:
    """What a constraint definition (pg_get_constraintdef's text) says beyond its columns."""

    nulls_not_distinct: bool = False
    include: tuple[str, ...] = ()
    fk_set_columns: bool = False  # ON DELETE SET NULL (cols) / SET DEFAULT (cols)


def constraint_facts(definition: str) -> ConstraintFacts:
    stmt = _one(f"ALTER TABLE t ADD {definition}")
    cmds = stmt.cmds if isinstance(stmt, ast.AlterTableStmt) else None
    c = cmds[0].def_ if cmds else None
    if not isinstance(c, ast.Constraint):
        raise StatementError(f"not a constraint definition: {_short(definition)}")
    return ConstraintFacts(
        bool(c.nulls_not_distinct),
        tuple(_strings(c.including)),
        bool(c.fk_del_set_cols),
    )


@dataclass(frozen=True)
class ExclusionFacts:
    """An exclusion constraint's definition (pg_get_constraintdef), read by the parser."""

    method: str
    elements: tuple[dict[str, str], ...]  # {column or expression, operator}
    where: str | None = None
    include: tuple[str, ...] = ()


def exclusion_facts(definition: str) -> ExclusionFacts:
    from pglast.stream import RawStream

    stmt = _one(f"ALTER TABLE t ADD {definition}")
    cmds = stmt.cmds if isinstance(stmt, ast.AlterTableStmt) else None
    c = cmds[0].def_ if cmds else None
    if not isinstance(c, ast.Constraint) or not c.exclusions:
        raise StatementError(f"not an exclusion constraint: {_short(definition)}")
    elements: list[dict[str, str]] = []
    for elem, ops in c.exclusions:
        item = {"column": elem.name} if elem.name else {"expression": RawStream()(elem.expr)}
        item["operator"] = ".".join(_strings(ops))
        elements.append(item)
    where = RawStream()(c.where_clause) if c.where_clause is not None else None
    return ExclusionFacts(
        c.access_method or "gist", tuple(elements), where, tuple(_strings(c.including))
    )


# ---------------------------------------------------------------------------- verification


def _tree(sql: str) -> Any:
    """The parse tree as plain data, without source positions."""
    return _strip_locations(_one(sql)(skip_none=True))


def tree(sql: str) -> Any:
    """One statement's parse tree as plain data, without source positions (for comparing
    two statements' meaning)."""
    return _tree(sql)


def plain(value: Any) -> Any:
    """A parse tree (as data, node(skip_none=True)) without source positions."""
    return _strip_locations(value)


def _strip_locations(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_locations(v)
            for k, v in value.items()
            if not (k.endswith("location") or k == "stmt_len")
        }
    if isinstance(value, tuple | list):
        return tuple(_strip_locations(v) for v in value)
    return value


def _proved(original: str, rewritten: str, expected: Any, what: str) -> str:
    """rewritten, once its tree is `expected` (the original's tree with the change made
    by hand); StatementError otherwise."""
    try:
        got = _tree(rewritten)
    except StatementError as exc:
        raise StatementError(f"{what} broke the statement: {exc}") from None
    if got != expected:
        raise StatementError(f"{what} changed more than intended: {_short(original)}")
    return rewritten


def _tokens(sql: str) -> list[Any]:
    return [t for t in scan(sql) if t.name not in ("SQL_COMMENT", "C_COMMENT")]


# ------------------------------------------------------------------------------- rewrites


def with_concurrently(rec: Record) -> Record:
    """CREATE INDEX / DROP INDEX -> ... CONCURRENTLY (the keyword after INDEX)."""
    if rec.concurrently:
        return rec
    if rec.kind not in ("IndexStmt", "DropStmt") or rec.object_type != "index":
        raise StatementError(f"CONCURRENTLY applies to index statements only: {_short(rec.sql)}")
    index_kw = next(t for t in _tokens(rec.sql) if t.name == "INDEX")
    at = index_kw.end + 1
    word = "concurrently" if rec.sql[index_kw.start : at].islower() else "CONCURRENTLY"
    text = rec.sql[:at] + " " + word + rec.sql[at:]
    tree = _tree(rec.sql)
    tree["concurrent"] = True
    return parse(_proved(rec.sql, text, tree, "adding CONCURRENTLY"))


def without_concurrently(rec: Record) -> Record:
    """CREATE INDEX / DROP INDEX CONCURRENTLY -> the plain form (a rehearsal inside one
    transaction, where CONCURRENTLY cannot run); proved like every rewrite."""
    if not rec.concurrently:
        return rec
    if rec.kind not in ("IndexStmt", "DropStmt") or rec.object_type != "index":
        raise StatementError(f"cannot run without CONCURRENTLY: {_short(rec.sql)}")
    word = next(t for t in _tokens(rec.sql) if t.name == "CONCURRENTLY")
    text = rec.sql[: word.start] + rec.sql[word.end + 1 :]
    tree = _tree(rec.sql)
    tree["concurrent"] = False
    return parse(_proved(rec.sql, text, tree, "removing CONCURRENTLY"))


def with_index_name(rec: Record, name: str) -> Record:
    """CREATE INDEX <name> ... under another name (the identifier after INDEX
    [CONCURRENTLY] [IF NOT EXISTS]), written quoted; proved like every rewrite."""
    if rec.kind != "IndexStmt" or not rec.name:
        raise StatementError(f"not a CREATE INDEX with a name: {_short(rec.sql)}")
    toks = _tokens(rec.sql)
    at = next(i for i, t in enumerate(toks) if t.name == "INDEX")
    skip = {"CONCURRENTLY", "IF_P", "NOT", "EXISTS"}
    tok = next(t for t in toks[at + 1 :] if t.name not in skip)
    if _ident_value(rec.sql, tok) != rec.name:
        raise StatementError(f"cannot find the index name in: {_short(rec.sql)}")
    quoted = '"' + name.replace('"', '""') + '"'
    text = rec.sql[: tok.start] + quoted + rec.sql[tok.end + 1 :]
    tree = _tree(rec.sql)
    tree["idxname"] = name
    return parse(_proved(rec.sql, text, tree, "renaming the index"))


def _last_constraint(tree: dict[str, Any]) -> dict[str, Any]:
    cmds = tree["cmds"]
    if len(cmds) != 1 or not isinstance(cmds[0].get("def_"), dict):
        raise StatementError("NOT VALID: expected one ADD CONSTRAINT")
    d: dict[str, Any] = cmds[0]["def_"]
    return d


def with_not_valid(rec: Record) -> Record:
    """ALTER TABLE ... ADD CONSTRAINT ... -> ... NOT VALID (appended at the end)."""
    if len(rec.commands) != 1 or rec.commands[0].op != "add_constraint":
        raise StatementError(f"NOT VALID applies to one ADD CONSTRAINT: {_short(rec.sql)}")
    body = rec.sql.rstrip().rstrip(";").rstrip()
    text = body + " NOT VALID;"
    tree = _tree(rec.sql)
    c = _last_constraint(tree)
    c["skip_validation"] = True
    c["initially_valid"] = False
    return parse(_proved(rec.sql, text, tree, "adding NOT VALID"))


def without_not_valid(rec: Record) -> Record:
    """... NOT VALID -> the same constraint added valid (the two trailing tokens cut)."""
    toks = _tokens(rec.sql)
    while toks and toks[-1].name == "ASCII_59":  # ';'
        toks.pop()
    if len(toks) < 2 or (toks[-2].name, toks[-1].name) != ("NOT", "VALID"):
        raise StatementError(f"no trailing NOT VALID to remove: {_short(rec.sql)}")
    text = rec.sql[: toks[-2].start].rstrip() + ";"
    tree = _tree(rec.sql)
    c = _last_constraint(tree)
    c["skip_validation"] = False
    c["initially_valid"] = True
    return parse(_proved(rec.sql, text, tree, "removing NOT VALID"))


def _ident_value(sql: str, tok: Any) -> str | None:
    """The name an identifier token stands for (folded when bare), or None."""
    text = sql[tok.start : tok.end + 1]
    if tok.name == "IDENT":
        if text.startswith('"'):
            return text[1:-1].replace('""', '"')
        return text.lower()
    if tok.kind in ("UNRESERVED_KEYWORD", "COL_NAME_KEYWORD", "TYPE_FUNC_NAME_KEYWORD"):
        return text.lower()
    return None


def _drop_qualifier(value: Any, schema: str) -> Any:
    """The tree as it reads with `schema.` removed in front of every name."""
    if isinstance(value, dict):
        out = {
            k: _drop_qualifier(v, schema)
            for k, v in value.items()
            if not (k == "schemaname" and v == schema)
        }
        return out
    if isinstance(value, tuple):
        items = tuple(_drop_qualifier(v, schema) for v in value)
        if (
            len(items) >= 2
            and all(isinstance(i, dict) and i.get("@") == "String" for i in items)
            and items[0].get("sval") == schema
        ):
            return items[1:]
        return items
    return value


def unqualify(rec: Record, schema: str = "public") -> Record:
    """The statement with `schema.` removed in front of identifiers (literals, bodies and
    comments untouched), proved by the parser to differ in nothing else. A statement
    that names the schema itself is a kind's to rewrite (StatementShapes.unqualified)."""
    for shape in _shapes():
        found = shape.unqualified(rec, schema)
        if found is not None:
            return found
    toks = _tokens(rec.sql)
    cuts: list[tuple[int, int]] = []
    for n, tok in enumerate(toks[:-1]):
        nxt = toks[n + 1]
        if nxt.name != "ASCII_46":
            continue
        if n and toks[n - 1].name == "ASCII_46":
            continue  # the middle of a.b.c: not a schema
        if _ident_value(rec.sql, tok) == schema:
            cuts.append((tok.start, nxt.end + 1))
    if not cuts:
        return rec
    out: list[str] = []
    at = 0
    for start, end in cuts:
        out.append(rec.sql[at:start])
        at = end
    out.append(rec.sql[at:])
    text = "".join(out)
    expected = _drop_qualifier(_tree(rec.sql), schema)
    return parse(_proved(rec.sql, text, expected, f"removing the {schema!r} qualifier"))


def literal_mentions(rec: Record, schema: str = "public") -> bool:
    """True when a string literal or body still names `schema.` (left as written)."""
    for tok in scan(rec.sql):
        if tok.name == "SCONST":
            words = rec.sql[tok.start : tok.end + 1].lower().replace('"', "")
            if f"{schema}." in words:
                return True
    return False


def validate_constraint(rec: Record) -> Record:
    """ALTER TABLE <table> VALIDATE CONSTRAINT <name> for the one constraint rec adds,
    naming table and constraint exactly as rec's text does."""
    if len(rec.commands) != 1 or rec.commands[0].op != "add_constraint":
        raise StatementError(f"VALIDATE follows one ADD CONSTRAINT: {_short(rec.sql)}")
    toks = _tokens(rec.sql)
    add = next(n for n, t in enumerate(toks) if t.name == "ADD_P")
    if toks[add + 1].name != "CONSTRAINT":
        raise StatementError(f"VALIDATE needs a named constraint: {_short(rec.sql)}")
    name = toks[add + 2]
    text = (
        rec.sql[: toks[add].start].rstrip()
        + " VALIDATE CONSTRAINT "
        + rec.sql[name.start : name.end + 1]
        + ";"
    )
    out = parse(text, "AlterTableStmt")
    same_table = (out.schema, out.table) == (rec.schema, rec.table)
    if not same_table or [(c.op, c.name) for c in out.commands] != [
        ("validate_constraint", rec.commands[0].name)
    ]:
        raise StatementError(f"VALIDATE for another object than {_short(rec.sql)}")
    return out


# ------------------------------------------------------------------ SQLAlchemy text()


# op.execute passes a statement through SQLAlchemy's text(), which reads ":name" as a bind
# parameter and turns "\:name" (and a bare "\:") into ":name". These two patterns are
# text()'s own lexical rules (sqlalchemy.sql.elements.TextClause._bind_params_regex and
# sqlalchemy.sql.compiler.BIND_PARAMS_ESC), not SQL's: text() applies them to the whole
# statement, string literals included, so for_text_clause must too.
_BIND_PARAM = re.compile(r"(?<![:\w\x5c]):(\w+)(?![:\w])")
_ESCAPED_COLON = re.compile(r"(?=\x5c:\w*(?![:\w]))")


def for_text_clause(sql: str) -> str:
    """The text to give text() so that it passes `sql` on byte for byte: a backslash that
    text() would take as the escape of a colon gets one more backslash in front (text()
    removes that one), then ":name" becomes "\\:name" (text() writes ":name" back)."""
    return _BIND_PARAM.sub(r"\\:\1", _ESCAPED_COLON.sub("\\\\", sql))
