"""Functions: `functions: {name: {arguments, returns, language, body, ...}}`, or for
overloads (one name, several argument type lists) `functions: {name: [{...}, {...}]}`.

Plain SQL (SQLAlchemy has no DDL construct for functions). Ordering: a function that a
table expression calls (default, check, index key or predicate) is created before the
tables; an SQL-language function otherwise after them, because PostgreSQL parses its body
at CREATE time and rejects names of tables that do not exist yet.
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
    from ..statements import Record


@dataclass(frozen=True)
class Argument:
    name: str | None
    type: str
    default: str | None = None


@dataclass(frozen=True)
class Function:
    name: str
    arguments: tuple[Argument, ...]
    returns: str
    language: str
    body: str
    volatility: str | None = None  # "volatile" | "stable" | "immutable"
    security_definer: bool = False
    strict: bool = False
    leakproof: bool = False
    parallel: str | None = None  # "safe" | "restricted" (unsafe: PostgreSQL's default)
    cost: float | None = None
    rows: float | None = None
    settings: tuple[tuple[str, str | tuple[str, ...]], ...] = ()  # SET name = value(s)
    procedure: bool = False  # CREATE PROCEDURE (no RETURNS; CALLed)

    @property
    def identity(self) -> str:
        """name(type, type): how PostgreSQL identifies the function."""
        return f"{self.name}({', '.join(a.type for a in self.arguments)})"


def sql_literal(value: Any) -> str | None:
    """A default as SQL text: YAML's `default: 0` / `default: false` mean those literals."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def paths(data: dict[str, Any]) -> list[base.PathKey]:
    """The YAML path of each function, in the order of Schema.functions: `functions.name`
    for the map form, `functions.name.<n>` for each overload of the list form."""
    out: list[base.PathKey] = []
    for name, entry in (data.get("functions") or {}).items():
        if isinstance(entry, list):
            out += [("functions", name, n) for n in range(len(entry))]
        else:
            out.append(("functions", name))
    return out


# A function's argument types as PostgreSQL compares them: each type's name as the parser
# reads it (integer and int4 alike) and its array dimensions; typmods do not count.
Signature = tuple[tuple[str, int], ...]


def _signature(f: Function) -> Signature | None:
    from .. import statements

    try:
        specs = [statements.parse_type(a.type) for a in f.arguments]
    except statements.StatementError:
        return None
    return tuple((t.name, t.dims) for t in specs)


def _dollar_quote(body: str) -> str:
    tag = "$function$"
    n = 0
    while tag in body:
        n += 1
        tag = f"$function{n}$"
    return f"{tag}{body}{tag}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def function_sql(f: Function, target_schema: str | None = None) -> str:
    from ..compile import qualified, quote
    from ..literals import quote_literal

    args = ", ".join(
        " ".join(
            x
            for x in (
                quote(a.name) if a.name else None,
                a.type,
                f"DEFAULT {a.default}" if a.default else None,
            )
            if x
        )
        for a in f.arguments
    )
    what = "PROCEDURE" if f.procedure else "FUNCTION"
    parts = [f"CREATE OR REPLACE {what} {qualified(f.name, target_schema)}({args})"]
    if not f.procedure:
        parts.append(f"RETURNS {f.returns}")
    parts.append(f"LANGUAGE {f.language}")
    if f.volatility:
        parts.append(f.volatility.upper())
    if f.security_definer:
        parts.append("SECURITY DEFINER")
    if f.strict:
        parts.append("STRICT")
    if f.leakproof:
        parts.append("LEAKPROOF")
    if f.parallel:
        parts.append(f"PARALLEL {f.parallel.upper()}")
    if f.cost is not None:
        parts.append(f"COST {_number(f.cost)}")
    if f.rows is not None:
        parts.append(f"ROWS {_number(f.rows)}")
    for name, value in f.settings:
        # a list is identifiers (search_path), anything else one literal
        if isinstance(value, tuple):
            parts.append(f"SET {quote(name)} = {', '.join(quote(v) for v in value)}")
        else:
            parts.append(f"SET {quote(name)} = {quote_literal(value)}")
    # No `SET search_path` for a tenant schema: the revisions in generated/ create the same
    # function text in public and in every tenant (env.py runs them with search_path set to
    # the schema), so the desired tenant schema must not differ from what they build.
    # Unqualified names in a body resolve through the caller's search_path, as in public;
    # a trigger is bound to the tenant's own function when it is created.
    body = f.body if f.body.endswith("\n") else f.body + "\n"
    body = body if body.startswith("\n") else "\n" + body
    return "\n".join(parts) + "\nAS " + _dollar_quote(body)


def split(schema: model.Schema) -> tuple[list[Function], list[Function]]:
    """Functions to create before the tables, and SQL functions to create after them.

    Keeping check_function_bodies on means a syntax error in a body is still reported,
    for the function that has it."""
    from .. import kinds, statements

    if not any(f.language.lower() == "sql" for f in schema.functions):
        return list(schema.functions), []  # nothing could go late: no need to parse
    texts = [x for k in kinds.KINDS for x in k.expressions(schema)]
    used = {name for x in texts for name in statements.called_functions(x)}
    early, late = [], []
    for f in schema.functions:
        if f.language.lower() == "sql" and f.name not in used:
            late.append(f)
        else:
            early.append(f)
    return early, late


_FUNCTIONS = """
SELECT p.proname, p.prokind, l.lanname, pg_get_function_arguments(p.oid),
       pg_get_function_result(p.oid), p.prosrc, p.provolatile, p.prosecdef, p.proisstrict,
       p.proconfig, p.pronargs, p.proargnames, p.proargmodes::text[],
       ARRAY(SELECT format_type(u.t, NULL) FROM unnest(p.proargtypes::oid[])
             WITH ORDINALITY u(t, n) ORDER BY u.n),
       {sqlbody} AS has_sql_body, p.proleakproof, p.proparallel,
       pg_get_function_identity_arguments(p.oid), p.procost, p.prorows, p.proretset
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""
_VOLATILITY = {"i": "immutable", "s": "stable", "v": None}
_PARALLEL = {"s": "safe", "r": "restricted"}


def _setting(config: str) -> tuple[str, Any]:
    """A proconfig entry `name=value` as YAML: search_path's value is a list of names."""
    name, _, value = config.partition("=")
    if name == "search_path":
        return name, [v.strip().strip('"') for v in value.split(",") if v.strip()]
    return name, value


_OWNER_ONLY = "pg_has_role(p.proowner, 'USAGE'::text)"


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
    from .. import statements

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


def _excluded(obj: Any, names: set[str]) -> bool:
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


def _check_one(ctx: base.CheckContext, f: Function, path: base.PathKey) -> None:
    """The rules of one definition (at its YAML path)."""
    if not f.procedure and not f.returns:
        ctx.err(
            path,
            f"function '{f.name}': 'returns' is missing; add 'returns: <type>' "
            "(or 'kind: procedure')",
        )
    if f.procedure:
        for key, on in (
            ("returns", bool(f.returns)),
            ("volatility", f.volatility is not None),
            ("strict", f.strict),
            ("leakproof", f.leakproof),
            ("parallel", f.parallel is not None),
            ("cost", f.cost is not None),
            ("rows", f.rows is not None),
        ):
            if on:
                ctx.err(
                    (*path, key),
                    f"procedure '{f.name}': a procedure takes no '{key}'; remove it",
                    key=True,
                )


class Functions(base.Kind):
    key = "functions"
    word = "function"
    excludable = True
    object_types = ("function",)
    pg_objects = (("OBJECT_FUNCTION", "function"), ("OBJECT_PROCEDURE", "function"))

    def describe(self, stmt: Any, rec: Record) -> Record | None:
        from dataclasses import replace

        from pglast import ast

        from ..statements import qualified_name, strings

        if isinstance(stmt, ast.CreateFunctionStmt):
            schema, name = qualified_name(strings(stmt.funcname))
        elif isinstance(stmt, ast.AlterFunctionStmt):
            schema, name = qualified_name(strings(stmt.func.objname if stmt.func else ()))
        else:
            return None
        return replace(rec, object_type="function", schema=schema, name=name)

    def fragment(self) -> dict[str, Any]:
        default = {
            "type": ["string", "number", "boolean"],
            "minLength": 1,
            "description": "default value as an SQL expression; a bare number or "
            "true/false is written as that literal",
        }
        argument = base.entry(
            {"name": dict(base.NAME), "type": dict(base.NAME), "default": default}, ["type"]
        )
        one = base.entry(
            {
                "arguments": {"type": "array", "items": argument},
                "returns": dict(base.NAME),
                "language": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "body": dict(base.NAME),
                "kind": {"enum": ["function", "procedure"]},
                "volatility": {"enum": ["volatile", "stable", "immutable"]},
                "security_definer": {"type": "boolean"},
                "strict": {"type": "boolean"},
                "leakproof": {"type": "boolean"},
                "parallel": {"enum": ["safe", "restricted", "unsafe"]},
                "cost": {"type": "number", "exclusiveMinimum": 0},
                "rows": {"type": "number", "exclusiveMinimum": 0},
                "set": {
                    "type": "object",
                    "description": "SET name = value: a string is one literal, a list is "
                    "identifiers (search_path: [pg_catalog, public])",
                    "propertyNames": {
                        "pattern": "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$"
                    },
                    "additionalProperties": {
                        "oneOf": [
                            {"type": "string"},
                            {"type": "number"},
                            {"type": "array", "items": dict(base.NAME), "minItems": 1},
                        ]
                    },
                },
            },
            ["language", "body"],
        )
        # A map is one function; a list is the overloads of the name (if/then/else rather
        # than oneOf: a mistake inside either form is reported as that form's, at its key).
        overloads = {
            "type": "array",
            "items": one,
            "minItems": 1,
            "description": "the overloads of the name: one definition per argument type list",
        }
        return {
            "type": "object",
            "additionalProperties": {"if": {"type": "array"}, "then": overloads, "else": one},
            "propertyNames": {"minLength": 1},
        }

    def build(self, section: Any) -> tuple[Function, ...]:
        return tuple(
            Function(
                name=fname,
                arguments=tuple(
                    Argument(a.get("name"), str(a["type"]), sql_literal(a.get("default")))
                    for a in f.get("arguments") or ()
                ),
                returns=f.get("returns", ""),
                language=f["language"],
                body=f["body"],
                volatility=f.get("volatility"),
                security_definer=f.get("security_definer", False),
                strict=f.get("strict", False),
                leakproof=f.get("leakproof", False),
                parallel=None if f.get("parallel") in (None, "unsafe") else f["parallel"],
                cost=f.get("cost"),
                rows=f.get("rows"),
                procedure=f.get("kind") == "procedure",
                settings=tuple(
                    (k, tuple(v) if isinstance(v, list) else str(v))
                    for k, v in sorted((f.get("set") or {}).items())
                ),
            )
            for fname, entry in (section or {}).items()
            for f in (entry if isinstance(entry, list) else [entry])
        )

    def check(self, ctx: base.CheckContext) -> None:
        for name in dict.fromkeys(f.name for f in ctx.schema.functions):
            ctx.check_ident(("functions", name), name, "function")
            if name in ctx.schema.exclude.functions:
                ctx.err(
                    ("functions", name),
                    f"function '{name}' is both declared and excluded; remove it from one "
                    "of the two",
                    key=True,
                )
        seen: dict[tuple[str, Signature], base.PathKey] = {}
        for f, path in zip(ctx.schema.functions, paths(ctx.data), strict=True):
            signature = _signature(f)
            if signature is None:
                pass  # a type that does not parse: reported with the type's own check
            elif (f.name, signature) in seen:
                line = ctx.locate(seen[(f.name, signature)], False)[0]
                ctx.err(
                    path,
                    f"function '{f.identity}': the overload at line {line} has the same "
                    "argument types (PostgreSQL identifies a function by its name and "
                    "argument types); change the types or remove one of them",
                )
            else:
                seen[(f.name, signature)] = path
            _check_one(ctx, f, path)

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        from ..compile import DDL

        early, late = split(schema)
        return [
            (phase, DDL(function_sql(f, target_schema), f"function {f.identity}"))
            for phase, fs in ((base.ROUTINES, early), (base.LATE_ROUTINES, late))
            for f in fs
        ]

    catalog_sql = """
SELECT 'f', p.proname, NULL, NULL FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(schema)s"""
    catalog_tags = ("f",)

    def facts(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {"functions": frozenset(name for _, name, _, _ in rows)}

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import FUNCTION_CHANGE

        if rec.kind == "DropStmt" and rec.object_type == "function":
            return {FUNCTION_CHANGE}
        if rec.kind == "CreateFunctionStmt" and rec.name in facts.functions:
            return {FUNCTION_CHANGE}
        return set()

    def patch_migra_queries(self, obj: Any) -> None:
        """schemainspect reads a function's body and argument defaults only for its owner
        (what information_schema.routines does): for any other role each function would
        look changed. pg_proc.prosrc and pg_get_function_arg_default are readable by every
        role."""
        query = str(obj.FUNCTIONS_QUERY)
        if _OWNER_ONLY in query:
            obj.FUNCTIONS_QUERY = query.replace(_OWNER_ONLY, "true")

    def differ_exclude(self, i: Any, exclude: model.Exclude) -> None:
        names = set(exclude.functions)
        for attr in ("functions", "selectables"):
            d = getattr(i, attr)
            for k in [k for k, v in d.items() if _excluded(v, names)]:
                del d[k]

    def differ_equalize(self, i_from: Any, i_target: Any) -> None:
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

    def differ_order(self, records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
        new = {
            (f.schema, f.name)
            for key, f in i_target.functions.items()
            if key not in i_from.functions
        }
        records = records + _option_changes(records, i_from, i_target)
        return _function_drops_after_tables(_functions_before_tables(records, new))

    def inspect(self, state: base.InspectState) -> Any:
        return _inspect(state)


def _options(full_definition: str) -> Any:
    """A function's options as PostgreSQL's parser reads pg_get_functiondef's text, without
    its body and source positions (PARALLEL, SET, COST, ROWS, LEAKPROOF, ...)."""
    from pglast import ast, parse_sql

    stmt = parse_sql(full_definition)[0].stmt
    assert isinstance(stmt, ast.CreateFunctionStmt)
    opts = [o for o in stmt.options or () if o.defname != "as"]
    from .. import statements

    return sorted(str(statements.plain(o(skip_none=True))) for o in opts)


def _signature_of(create: str) -> Any:
    """The name and argument types of a CREATE FUNCTION, as the parser reads them (an
    overload's identity; argument names and defaults left out)."""
    from pglast import ast, parse_sql
    from pglast.enums import FunctionParameterMode

    from .. import statements

    stmt = parse_sql(create)[0].stmt
    assert isinstance(stmt, ast.CreateFunctionStmt)
    out_modes = (FunctionParameterMode.FUNC_PARAM_OUT, FunctionParameterMode.FUNC_PARAM_TABLE)
    types = [
        statements.plain(p.argType(skip_none=True))
        for p in stmt.parameters or ()
        if isinstance(p, ast.FunctionParameter)
        and p.argType is not None
        and p.mode not in out_modes
    ]
    return str((statements.strings(stmt.funcname)[-1], types))


def _option_changes(records: list[Record], i_from: Any, i_target: Any) -> list[Record]:
    """migra compares a function's body, result, language, volatility, strictness and
    security, not its PARALLEL, SET, COST, ROWS or LEAKPROOF: where only those differ,
    the target's CREATE OR REPLACE (pg_get_functiondef's text)."""
    from .. import statements

    replaced = {_signature_of(r.sql) for r in records if r.kind == "CreateFunctionStmt"}
    out: list[Record] = []
    for key, want in sorted(i_target.functions.items()):
        have = i_from.functions.get(key)
        if have is None or _signature_of(want.full_definition) in replaced:
            continue
        if _options(have.full_definition) != _options(want.full_definition):
            out.append(statements.parse(want.full_definition.strip() + ";", "CreateFunctionStmt"))
    return out


def _inspect(state: base.InspectState) -> dict[str, Any]:
    from ..introspect import FlowMap, clean_body, find_top_level, short_type, split_top_level

    warn = state.warn
    sqlbody = "p.prosqlbody IS NOT NULL" if state.version >= 140000 else "false"
    out: dict[str, Any] = {}
    for (
        name,
        kind,
        language,
        arguments,
        result,
        body,
        volatility,
        secdef,
        strict,
        config,
        nargs,
        argnames,
        argmodes,
        argtypes,
        has_sql_body,
        leakproof,
        parallel,
        identity,
        cost,
        rows,
        retset,
    ) in state.rows(_FUNCTIONS.format(sqlbody=sqlbody)):
        where = f"function {name}({identity})"
        if kind not in ("f", "p"):
            what = {"a": "aggregate", "w": "window function"}.get(kind, kind)
            warn(f"{what} {name}({identity}): not in the format; left out")
            continue
        if has_sql_body or language in ("c", "internal"):
            warn(
                f"{where}: a {'BEGIN ATOMIC' if has_sql_body else language} body is not in "
                "the format; left out"
            )
            continue
        modes = set(argmodes or ())
        if modes - {"i", "t"}:
            warn(f"{where}: OUT, INOUT and VARIADIC parameters are not in the format; left out")
            continue
        pieces = split_top_level(arguments) if arguments else []
        if len(pieces) != nargs:
            warn(f"{where}: could not read its argument list ({arguments}); left out")
            continue
        args: list[Any] = []
        for i in range(nargs):
            a: dict[str, Any] = {}
            if argnames and i < len(argnames) and argnames[i]:
                a["name"] = argnames[i]
            a["type"] = short_type(argtypes[i])
            at = find_top_level(pieces[i], " DEFAULT ")
            if at >= 0:
                a["default"] = pieces[i][at + len(" DEFAULT ") :].strip()
            args.append(FlowMap(a))
        # compile.py sets search_path to the target schema itself (--target-schema).
        own_path = {f"search_path={state.schema_name}", f'search_path="{state.schema_name}"'}
        config = [c for c in config or () if c not in own_path]
        f: dict[str, Any] = {}
        if args:
            f["arguments"] = args
        if kind == "p":
            f["kind"] = "procedure"
        else:
            f["returns"] = short_type(result)
        f["language"] = language
        if _VOLATILITY.get(volatility):
            f["volatility"] = _VOLATILITY[volatility]
        if secdef:
            f["security_definer"] = True
        if strict:
            f["strict"] = True
        if leakproof:
            f["leakproof"] = True
        if parallel in _PARALLEL:
            f["parallel"] = _PARALLEL[parallel]
        default_cost = 1 if language in ("c", "internal") else 100
        if cost is not None and cost != default_cost:
            f["cost"] = int(cost) if float(cost).is_integer() else cost
        if retset and rows is not None and rows != 1000:
            f["rows"] = int(rows) if float(rows).is_integer() else rows
        if config:
            f["set"] = {k: v for k, v in (_setting(c) for c in config)}
        f["body"] = clean_body(body)
        # overloads (ordered by their identity arguments) as a list; one function as a map
        if name not in out:
            out[name] = f
        elif isinstance(out[name], list):
            out[name].append(f)
        else:
            out[name] = [out[name], f]
    return out


KIND = Functions()
