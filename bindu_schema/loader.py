"""YAML -> model.Schema. All validation of the YAML file lives here.

Errors carry file:line:column. The YAML is composed into nodes (which keep their
marks) so that every key and value can be located; the structural rules come from
the JSON Schema shipped in the package (the same one editors use), the semantic
rules (references, duplicates, identifier length) are checked below.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from . import cache, fragments, limits, model, statements

if TYPE_CHECKING:
    import jsonschema
from .errors import BinduSchemaError

MAX_IDENT_BYTES = 63

Loc = tuple[int, int]  # 1-based line, column
PathKey = tuple[str | int, ...]


@dataclass
class LocatedError:
    line: int
    column: int
    message: str


class SchemaValidationError(BinduSchemaError):
    """One or more problems in the YAML file; each names file:line:column."""

    def __init__(self, path: str, problems: list[LocatedError]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.message))
        lines = [f"{path}:{p.line}:{p.column}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))


_SCALARS = yaml.SafeLoader("")


def _compose(text: str) -> yaml.Node | None:
    """Compose with libyaml when it is there (3-4x faster on big schemas); a document it
    rejects is composed again in pure Python, whose error messages the corpus is tuned to."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError as exc:
            first = exc
            if getattr(exc, "problem", None) == "exceeded maximum nesting depth":
                raise  # the pure-Python scanner is quadratic in flow depth: no second pass
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except RecursionError:  # the pure-Python composer recurses per nesting level
            raise first from None
    return yaml.compose(text, Loader=yaml.SafeLoader)


def json_schema() -> dict[str, Any]:
    text = resources.files("bindu_schema").joinpath("bindu-schema.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


class _Converter:
    """Turns composed YAML nodes into plain Python, remembering where each path is."""

    def __init__(self) -> None:
        self.key_locs: dict[PathKey, Loc] = {}
        self.value_locs: dict[PathKey, Loc] = {}
        self.problems: list[LocatedError] = []

    @staticmethod
    def _loc(node: yaml.Node) -> Loc:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def convert(self, node: yaml.Node, path: PathKey) -> Any:
        self.value_locs[path] = self._loc(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    line, col = self._loc(key_node)
                    self.problems.append(
                        LocatedError(
                            line, col, "keys must be plain strings; write the key as a plain name"
                        )
                    )
                    continue
                key = str(key_node.value)
                if key == "<<":
                    line, col = self._loc(key_node)
                    self.problems.append(
                        LocatedError(
                            line,
                            col,
                            "merge keys (<<) are not supported; write the keys out in full",
                        )
                    )
                    continue
                if key in out:
                    line, col = self._loc(key_node)
                    first = self.key_locs[(*path, key)]
                    self.problems.append(
                        LocatedError(
                            line,
                            col,
                            f"duplicate key '{key}' (first defined at line {first[0]}); "
                            "remove or rename one of them",
                        )
                    )
                    continue
                self.key_locs[(*path, key)] = self._loc(key_node)
                out[key] = self.convert(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return _SCALARS.construct_object(node, deep=True)  # ints, bools, nulls as safe_load

    def locate(self, path: PathKey, key: bool = False) -> Loc:
        """Best location for a path: the key itself, or the nearest located ancestor."""
        table = self.key_locs if key else self.value_locs
        p = path
        while p:
            if p in table:
                return table[p]
            if p in self.value_locs:
                return self.value_locs[p]
            p = p[:-1]
        return self.value_locs.get((), (1, 1))


def _suggest(word: str, choices: list[str]) -> str | None:
    """The closest choice to a misspelt word, if one is close enough."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _schema_messages(err: jsonschema.ValidationError) -> list[tuple[PathKey, str, bool]]:
    """Readable messages for a JSON Schema error: (path, message, point at the key?)."""
    path: PathKey = tuple(err.absolute_path)
    where = "/".join(str(p) for p in path) or "the document"
    v = err.validator
    if v == "additionalProperties":
        sub = err.schema if isinstance(err.schema, dict) else {}
        allowed = sorted(sub.get("properties", {}))
        out: list[tuple[PathKey, str, bool]] = []
        instance: dict[str, Any] = err.instance if isinstance(err.instance, dict) else {}
        for key in [k for k in instance if k not in allowed]:
            guess = _suggest(str(key), allowed)
            if guess:
                todo = f"did you mean '{guess}'?"
            else:
                todo = f"remove it or use one of: {', '.join(allowed)}"
            if ")" in str(key) or "(" in str(key):
                todo += (
                    " (inside {...} a comma separates entries: put a value that contains a "
                    'comma in quotes, e.g. type: "numeric(12,2)")'
                )
            out.append(((*path, key), f"unknown key '{key}' in {where}; {todo}", True))
        return out
    if v == "required":
        missing = err.message.replace(" is a required property", "").strip("'")
        if not path and missing == "version":
            todo = "add 'version: 1' as the first line"
        elif not path and missing == "tables":
            todo = "add a 'tables:' map (it may be empty: 'tables: {}')"
        else:
            todo = f"add '{missing}:' (see docs/schema-format.md)"
        return [(path, f"{where}: required key '{missing}' is missing; {todo}", False)]
    if v == "type":
        want = err.validator_value
        msg = f"{where}: expected {_type_name(want)}, got {_type_name_of(err.instance)}"
        if want == "string" and isinstance(err.instance, (bool, int, float)):
            msg += "; put the value in quotes"
        elif want == "boolean" and isinstance(err.instance, str):
            msg += "; write true or false without quotes"
        elif want == "object" and err.instance is None:
            msg += "; give it its keys, or remove the empty entry"
        elif want == "object" and isinstance(err.instance, list) and not path:
            msg += "; the file is a map that starts with 'version: 1' and 'tables:'"
        elif want == "object" and not path:
            msg += "; the file is a map that starts with 'version: 1' and 'tables:'"
        elif want == "object" and isinstance(err.instance, list):
            msg += "; write one 'name: {...}' entry per item instead of '- ...' items"
        elif want == "array" and isinstance(err.instance, (str, int, float, bool)):
            msg += f"; write a list, e.g. [{err.instance}]"
        elif path and path[-1] in ("default", "expression", "where", "when"):
            msg += "; write the SQL expression as a string"
        return [(path, msg, False)]
    if v == "enum":
        choices = [str(c) for c in cast(list[Any], err.validator_value)]
        guess = _suggest(str(err.instance), choices)
        todo = f"did you mean '{guess}'?" if guess else "use one of the listed values"
        listed = ", ".join(repr(c) for c in choices)
        return [(path, f"{where}: {err.instance!r} is not one of {listed}; {todo}", False)]
    if v == "const":
        return [
            (path, f"{where}: must be {err.validator_value!r} (the only format version)", False)
        ]
    if v == "oneOf":
        return [(path, f"{where}: expected a name or a map with the documented keys", False)]
    if v == "minProperties" or v == "minItems":
        return [
            (path, f"{where}: must not be empty; add at least one entry or remove the key", False)
        ]
    if v == "minLength":
        return [(path, f"{where}: must not be an empty string", False)]
    if v == "uniqueItems":
        return [(path, f"{where}: has a repeated item; list each item once", False)]
    if v == "propertyNames":
        return [(path, f"{where}: names must not be empty", False)]
    if v == "pattern" and path and path[-1] == "opclass":
        msg = (
            f"{where}: {err.instance!r} is not an operator class name (letters, digits, _ "
            'and $, or a "quoted" name, optionally schema-qualified); order and nulls '
            "have keys of their own"
        )
        return [(path, msg, False)]
    if v == "pattern":
        return [
            (path, f"{where}: {err.instance!r} is not a plain name (letters, digits, _)", False)
        ]
    return [(path, f"{where}: {err.message}", False)]


def _type_name(want: Any) -> str:
    names = {
        "object": "a map",
        "array": "a list",
        "string": "a string",
        "boolean": "true or false",
        "integer": "an integer",
        "number": "a number",
        "null": "nothing",
    }
    if isinstance(want, list):
        return " or ".join(names.get(w, str(w)) for w in want)
    return names.get(want, str(want))


def _type_name_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"a string ({value!r})"


def load(path: str | Path) -> model.Schema:
    """Read, validate and convert a schema file. Raises SchemaValidationError."""
    p = Path(path)
    try:
        raw = limits.read_bounded(p)
    except limits.LimitError as exc:
        problem = LocatedError(exc.line, exc.column, exc.message)
        raise SchemaValidationError(str(p), [problem]) from None
    except OSError as exc:
        raise BinduSchemaError(f"{p}: cannot read the schema file: {exc.strerror}") from None
    # Validation and conversion are a pure function of the bytes: a file seen before is
    # not validated again (only valid files are cached, so errors always come fresh).
    k = cache.key("schema", raw)
    hit = cache.get("schema", k)
    if isinstance(hit, model.Schema):
        return hit
    schema = loads(raw, str(p))
    cache.put("schema", k, schema)
    return schema


def _count_problems(data: Any, conv: _Converter) -> list[LocatedError]:
    """Object counts beyond limits.py (PostgreSQL itself caps columns per table)."""
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict):
        return []
    out: list[LocatedError] = []
    if len(tables) > limits.MAX_TABLES:
        line, col = conv.locate(("tables",), key=True)
        msg = f"{len(tables):,} tables (at most {limits.MAX_TABLES:,}); split the schema"
        out.append(LocatedError(line, col, msg))
    for name, table in tables.items():
        columns = table.get("columns") if isinstance(table, dict) else None
        if isinstance(columns, dict) and len(columns) > limits.MAX_COLUMNS:
            line, col = conv.locate(("tables", name, "columns"), key=True)
            msg = (
                f"table {name}: {len(columns):,} columns; PostgreSQL allows at most "
                f"{limits.MAX_COLUMNS:,}"
            )
            out.append(LocatedError(line, col, msg))
    return out


def loads(raw: bytes | str, filename: str = "<string>") -> model.Schema:
    data_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        limits.read_stream(io.BytesIO(data_bytes))
    except limits.LimitError as exc:
        problem = LocatedError(exc.line, exc.column, exc.message)
        raise SchemaValidationError(filename, [problem]) from None
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data_bytes[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise SchemaValidationError(
            filename,
            [
                LocatedError(
                    line,
                    col,
                    f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8",
                )
            ],
        ) from None
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise SchemaValidationError(filename, [_syntax_error(exc)]) from None
    except yaml.YAMLError as exc:
        raise SchemaValidationError(filename, [LocatedError(1, 1, f"YAML error: {exc}")]) from None
    except RecursionError:
        raise SchemaValidationError(
            filename, [LocatedError(1, 1, "nested too deeply to read; a schema needs 6 levels")]
        ) from None
    if node is None:
        raise SchemaValidationError(
            filename,
            [LocatedError(1, 1, "the file is empty; start with 'version: 1' and a 'tables:' map")],
        )
    try:
        limits.check_nodes(node)
    except limits.LimitError as exc:
        raise SchemaValidationError(
            filename, [LocatedError(exc.line, exc.column, exc.message)]
        ) from None
    conv = _Converter()
    try:
        data = conv.convert(node, ())
    except yaml.YAMLError as exc:
        raise SchemaValidationError(filename, [LocatedError(1, 1, f"YAML error: {exc}")]) from None
    if conv.problems:
        raise SchemaValidationError(filename, conv.problems)
    too_many = _count_problems(data, conv)
    if too_many:
        raise SchemaValidationError(filename, too_many)

    import jsonschema  # only when the file is not in the cache: 0.05 s of imports

    validator = jsonschema.Draft202012Validator(json_schema())
    problems: list[LocatedError] = []
    for err in validator.iter_errors(data):
        # oneOf errors hide the precise cause; prefer the deepest sub-error when it is clear.
        best = jsonschema.exceptions.best_match([err])
        for epath, msg, at_key in _schema_messages(best):
            line, col = conv.locate(epath, key=at_key)
            problems.append(LocatedError(line, col, msg))
    if problems:
        raise SchemaValidationError(filename, _dedupe(_drop_explained(problems)))

    schema = _build(data)
    semantic = _check(schema, data, conv)
    if semantic:
        raise SchemaValidationError(filename, semantic)
    digest = hashlib.sha256(data_bytes).hexdigest()
    return model.Schema(
        tables=schema.tables,
        functions=schema.functions,
        enums=schema.enums,
        extensions=schema.extensions,
        exclude=schema.exclude,
        source_sha256=digest,
    )


def _syntax_error(exc: yaml.MarkedYAMLError) -> LocatedError:
    """A YAML syntax error at the problem's position, with where the construct began and
    what to do about the common causes."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = str(exc.problem or exc.context or "invalid YAML")
    msg = f"YAML syntax error: {problem}"
    ctx = exc.context_mark
    if exc.context and ctx is not None and (ctx.line, ctx.column) != (line - 1, col - 1):
        msg += f" ({exc.context} started at line {ctx.line + 1}, column {ctx.column + 1})"
    if "'\\t'" in problem or "\t" in problem:
        todo = "YAML indentation must use spaces, not tabs: replace the tab with spaces"
    elif "another document" in problem:
        todo = "the schema is one YAML document: remove the '---' line and what follows"
    elif exc.context and "quoted scalar" in exc.context:
        todo = "close the quote"
    elif exc.context and "flow mapping" in exc.context:
        todo = "close the '{' with '}' on the line where it was opened"
    elif exc.context and "flow sequence" in exc.context:
        todo = "close the '[' with ']' on the line where it was opened"
    elif "block end" in problem or "mapping values are not allowed" in problem:
        todo = "check the indentation of this line against the lines above"
    else:
        todo = "see https://yaml.org/spec/1.2.2/ or compare with schema/bindu.yaml"
    return LocatedError(line, col, f"{msg}; {todo}")


def _drop_explained(problems: list[LocatedError]) -> list[LocatedError]:
    """Drop "required key 'x' is missing" where an unknown key right there suggests 'x':
    the misspelt key is the one thing to fix."""
    suggested = {
        (p.line, m.group(1))
        for p in problems
        if (m := re.search(r"did you mean '([^']+)'\?", p.message)) and "unknown key" in p.message
    }
    out = []
    for p in problems:
        m = re.search(r"required key '([^']+)' is missing", p.message)
        if m and any(key == m.group(1) and line >= p.line for line, key in suggested):
            continue
        out.append(p)
    return out


def _dedupe(problems: list[LocatedError]) -> list[LocatedError]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for p in problems:
        k = (p.line, p.column, p.message)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _sql_literal(value: Any) -> str | None:
    """A default as SQL text: YAML's `default: 0` / `default: false` mean those literals."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _build(data: dict[str, Any]) -> model.Schema:
    tables = []
    for tname, t in (data.get("tables") or {}).items():
        columns = tuple(
            model.Column(
                name=cname,
                type=str(c["type"]),
                nullable=c.get("nullable", True),
                default=_sql_literal(c.get("default")),
                serial=c.get("serial", False),
                identity=c.get("identity"),
                comment=c.get("comment"),
                renamed_from=c.get("renamed_from"),
            )
            for cname, c in t["columns"].items()
        )
        pk = t.get("primary_key")
        indexes = []
        for iname, i in (t.get("indexes") or {}).items():
            items = []
            for it in i["columns"]:
                if isinstance(it, str):
                    items.append(model.IndexItem(column=it))
                else:
                    items.append(
                        model.IndexItem(
                            column=it.get("column"),
                            expression=it.get("expression"),
                            order=it.get("order"),
                            nulls=it.get("nulls"),
                            opclass=it.get("opclass"),
                        )
                    )
            indexes.append(
                model.Index(
                    name=iname,
                    items=tuple(items),
                    method=i.get("method", "btree"),
                    unique=i.get("unique", False),
                    where=i.get("where"),
                    include=tuple(i.get("include") or ()),
                    comment=i.get("comment"),
                    renamed_from=i.get("renamed_from"),
                )
            )
        tables.append(
            model.Table(
                name=tname,
                columns=columns,
                comment=t.get("comment"),
                primary_key=model.PrimaryKey(pk.get("name"), tuple(pk["columns"])) if pk else None,
                foreign_keys=tuple(
                    model.ForeignKey(
                        name=fname,
                        columns=tuple(f["columns"]),
                        ref_table=f["references"]["table"],
                        ref_columns=tuple(f["references"]["columns"]),
                        on_delete=f.get("on_delete"),
                        on_update=f.get("on_update"),
                        deferrable=f.get("deferrable", False),
                        initially_deferred=f.get("initially_deferred", False),
                        renamed_from=f.get("renamed_from"),
                    )
                    for fname, f in (t.get("foreign_keys") or {}).items()
                ),
                uniques=tuple(
                    model.Unique(uname, tuple(u["columns"]), u.get("renamed_from"))
                    for uname, u in (t.get("unique") or {}).items()
                ),
                checks=tuple(
                    model.Check(cname, c["expression"], c.get("renamed_from"))
                    for cname, c in (t.get("checks") or {}).items()
                ),
                renamed_from=t.get("renamed_from"),
                indexes=tuple(indexes),
                triggers=tuple(
                    model.Trigger(
                        name=trname,
                        timing=tr["timing"],
                        events=tuple(tr["events"]),
                        function=tr["function"],
                        for_each=tr.get("for_each", "row"),
                        when=tr.get("when"),
                        renamed_from=tr.get("renamed_from"),
                    )
                    for trname, tr in (t.get("triggers") or {}).items()
                ),
            )
        )
    functions = tuple(
        model.Function(
            name=fname,
            arguments=tuple(
                model.Argument(a.get("name"), str(a["type"]), _sql_literal(a.get("default")))
                for a in f.get("arguments") or ()
            ),
            returns=f["returns"],
            language=f["language"],
            body=f["body"],
            volatility=f.get("volatility"),
            security_definer=f.get("security_definer", False),
        )
        for fname, f in (data.get("functions") or {}).items()
    )
    enums = tuple(
        model.Enum(ename, tuple(str(v) for v in e["values"]))
        for ename, e in (data.get("enums") or {}).items()
    )
    extensions = tuple(
        model.Extension(e) if isinstance(e, str) else model.Extension(e["name"], e.get("schema"))
        for e in data.get("extensions") or ()
    )
    ex = data.get("exclude") or {}
    exclude = model.Exclude(tuple(ex.get("tables") or ()), tuple(ex.get("functions") or ()))
    return model.Schema(
        tables=tuple(tables),
        functions=functions,
        enums=enums,
        extensions=extensions,
        exclude=exclude,
    )


def _check(schema: model.Schema, data: dict[str, Any], conv: _Converter) -> list[LocatedError]:
    """Semantic rules the JSON Schema cannot express. Each message says what to change."""
    problems: list[LocatedError] = []

    def err(path: PathKey, msg: str, key: bool = False) -> None:
        line, col = conv.locate(path, key=key)
        problems.append(LocatedError(line, col, msg))

    # SQL fragments (defaults, expressions, types, opclasses): each exactly one of its kind.
    for fpath, msg in fragments.problems(schema):
        err(fpath, msg)

    def check_ident(path: PathKey, name: str, what: str) -> None:
        size = len(name.encode())
        if size > MAX_IDENT_BYTES:
            err(
                path,
                f"{what} name '{name[:20]}...' is {size} bytes; PostgreSQL truncates names to "
                f"{MAX_IDENT_BYTES} bytes (UTF-8), use a shorter name",
                key=True,
            )
        if "\x00" in name:
            err(path, f"{what} name contains a NUL character; remove it", key=True)

    def did_you_mean(word: str, choices: list[str]) -> str:
        guess = _suggest(word, choices)
        return f"did you mean '{guess}'?" if guess and guess != word else ""

    # Relation-level names share one namespace per schema in PostgreSQL.
    relation_names: dict[str, PathKey] = {}
    constraint_names: dict[tuple[str, str], PathKey] = {}

    def clash(name: str, path: PathKey, first_path: PathKey, what: str, scope: str) -> None:
        # Report at the later of the two, pointing back at the earlier one.
        first, here = conv.locate(first_path, key=True), conv.locate(path, key=True)
        if here < first:
            path, first = first_path, here
        err(
            path,
            f"{what} name '{name}' is already used at line {first[0]} ({scope}); "
            "rename one of them",
            key=True,
        )

    def claim(name: str, path: PathKey, what: str) -> None:
        if name in relation_names:
            clash(
                name,
                path,
                relation_names[name],
                what,
                "tables, indexes, sequences and key constraints share one namespace",
            )
        else:
            relation_names[name] = path

    def claim_constraint(table: str, name: str, path: PathKey, what: str) -> None:
        key = (table, name)
        if key in constraint_names:
            clash(
                name,
                path,
                constraint_names[key],
                what,
                f"constraint names are unique per table, here '{table}'",
            )
        else:
            constraint_names[key] = path

    fn_names = [f.name for f in schema.functions]
    table_names = [t.name for t in schema.tables]
    for f in schema.functions:
        check_ident(("functions", f.name), f.name, "function")
        if f.name in schema.exclude.functions:
            err(
                ("functions", f.name),
                f"function '{f.name}' is both declared and excluded; remove it from one of the two",
                key=True,
            )

    for e in schema.enums:
        check_ident(("enums", e.name), e.name, "enum")

    serial_types = ("integer", "int", "int4", "bigint", "int8", "smallint", "int2")
    for t in schema.tables:
        tp: PathKey = ("tables", t.name)
        check_ident(tp, t.name, "table")
        claim(t.name, tp, "table")
        if t.name in schema.exclude.tables:
            err(
                tp,
                f"table '{t.name}' is both declared and excluded; remove it from one of the two",
                key=True,
            )
        if t.name == "alembic_version":
            err(
                tp,
                "'alembic_version' belongs to Alembic and cannot be declared; remove this "
                "table (Alembic creates and updates it)",
                key=True,
            )
        column_names = [c.name for c in t.columns]
        for c in t.columns:
            cp: PathKey = (*tp, "columns", c.name)
            what = f"column '{t.name}.{c.name}'"
            check_ident(cp, c.name, "column")
            if c.serial and c.identity:
                err(cp, f"{what}: choose serial or identity, not both; remove one of them")
            explicit = data["tables"][t.name]["columns"][c.name].get("nullable")
            if (c.serial or c.identity) and explicit is True:
                err(
                    (*cp, "nullable"),
                    f"{what}: serial and identity columns are always NOT NULL; remove "
                    "'nullable: true'",
                )
            if (c.serial or c.identity) and c.default is not None:
                err(
                    (*cp, "default"),
                    f"{what}: a serial or identity column takes no default; remove the default",
                )
            if c.serial and " ".join(c.type.lower().split()) not in serial_types:
                err(
                    (*cp, "type"),
                    f"{what}: serial needs type integer, bigint or smallint; "
                    "change the type or remove 'serial: true'",
                )
            if c.identity and " ".join(c.type.lower().split()) not in serial_types:
                err(
                    (*cp, "type"),
                    f"{what}: identity needs type integer, bigint or smallint; "
                    "change the type or remove 'identity'",
                )
            if c.type.strip().lower() in (
                "serial",
                "bigserial",
                "smallserial",
                "serial4",
                "serial8",
                "serial2",
            ):
                err(
                    (*cp, "type"),
                    f"{what}: write the integer type and 'serial: true' instead of type '{c.type}'",
                )

        def need_cols(
            path: PathKey, names: tuple[str, ...], what: str, table: model.Table = t
        ) -> None:
            known = [c.name for c in table.columns]
            for i, n in enumerate(names):
                if table.column(n) is None:
                    hint = did_you_mean(n, known) or f"known columns: {', '.join(known)}"
                    err(
                        (*path, i),
                        f"{what}: column '{n}' does not exist in table '{table.name}'; {hint}",
                    )
            if len(set(names)) != len(names):
                err(path, f"{what}: a column is listed twice; list each column once")

        if t.primary_key:
            pkp: PathKey = (*tp, "primary_key")
            need_cols((*pkp, "columns"), t.primary_key.columns, f"primary key of '{t.name}'")
            if t.primary_key.name:
                check_ident((*pkp, "name"), t.primary_key.name, "primary key")
                claim(t.primary_key.name, (*pkp, "name"), "primary key")
        for fk in t.foreign_keys:
            fp: PathKey = (*tp, "foreign_keys", fk.name)
            check_ident(fp, fk.name, "foreign key")
            claim_constraint(t.name, fk.name, fp, "foreign key")
            need_cols((*fp, "columns"), fk.columns, f"foreign key '{fk.name}'")
            ref = schema.table(fk.ref_table)
            if ref is None:
                hint = did_you_mean(fk.ref_table, table_names) or (
                    "declare it under 'tables' or fix the name; declared tables: "
                    + ", ".join(table_names)
                )
                err(
                    (*fp, "references", "table"),
                    f"foreign key '{fk.name}' references table '{fk.ref_table}', which is not "
                    f"declared; {hint}",
                )
            else:
                need_cols(
                    (*fp, "references", "columns"),
                    fk.ref_columns,
                    f"foreign key '{fk.name}' reference",
                    table=ref,
                )
            if len(fk.ref_columns) != len(fk.columns):
                err(
                    (*fp, "references", "columns"),
                    f"foreign key '{fk.name}' has {len(fk.columns)} column(s) but references "
                    f"{len(fk.ref_columns)}; list one referenced column per column",
                )
            if fk.initially_deferred and not fk.deferrable:
                err(
                    (*fp, "initially_deferred"),
                    f"foreign key '{fk.name}': initially_deferred needs 'deferrable: true'",
                )
        for u in t.uniques:
            up: PathKey = (*tp, "unique", u.name)
            check_ident(up, u.name, "unique constraint")
            claim(u.name, up, "unique constraint")
            claim_constraint(t.name, u.name, up, "unique constraint")
            need_cols((*up, "columns"), u.columns, f"unique constraint '{u.name}'")
        for ch in t.checks:
            chp: PathKey = (*tp, "checks", ch.name)
            check_ident(chp, ch.name, "check constraint")
            claim_constraint(t.name, ch.name, chp, "check constraint")
        if t.primary_key and t.primary_key.name:
            claim_constraint(
                t.name, t.primary_key.name, (*tp, "primary_key", "name"), "primary key"
            )
        for ix in t.indexes:
            ip: PathKey = (*tp, "indexes", ix.name)
            check_ident(ip, ix.name, "index")
            claim(ix.name, ip, "index")
            for n, item in enumerate(ix.items):
                ipath: PathKey = (*ip, "columns", n)
                if (item.column is None) == (item.expression is None):
                    err(
                        ipath,
                        f"index '{ix.name}': each key needs exactly one of 'column' or "
                        "'expression'; keep one of them",
                    )
                elif item.column is not None and t.column(item.column) is None:
                    hint = did_you_mean(item.column, column_names) or (
                        f"known columns: {', '.join(column_names)}"
                    )
                    err(
                        ipath,
                        f"index '{ix.name}': column '{item.column}' does not exist in "
                        f"table '{t.name}'; {hint}",
                    )
                if (item.order or item.nulls) and ix.method != "btree":
                    err(
                        ipath,
                        f"index '{ix.name}': ASC/DESC and NULLS order need method btree; "
                        "remove 'order' and 'nulls' or use method btree",
                    )
            if ix.include:
                need_cols((*ip, "include"), ix.include, f"index '{ix.name}' INCLUDE")
                if ix.method not in ("btree", "gist", "spgist"):
                    err(
                        (*ip, "include"),
                        f"index '{ix.name}': INCLUDE needs method btree, gist "
                        "or spgist; remove 'include' or change the method",
                    )
            if ix.unique and ix.method != "btree":
                err(
                    (*ip, "unique"),
                    f"index '{ix.name}': only btree indexes can be unique; "
                    "remove 'unique' or use method btree",
                )
        for tr in t.triggers:
            trp: PathKey = (*tp, "triggers", tr.name)
            check_ident(trp, tr.name, "trigger")
            if tr.function not in fn_names:
                hint = did_you_mean(tr.function, fn_names) or (
                    "declare it under 'functions' (returns: trigger) or fix the name"
                )
                err(
                    (*trp, "function"),
                    f"trigger '{tr.name}' calls function '{tr.function}', which is not declared; "
                    f"{hint}",
                )
            else:
                fn = schema.function(tr.function)
                if fn is not None and fn.returns.strip().lower() != "trigger":
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' "
                        "must be declared with 'returns: trigger'",
                    )
                if fn is not None and fn.arguments:
                    err(
                        (*trp, "function"),
                        f"trigger '{tr.name}': function '{tr.function}' "
                        "must take no arguments (a trigger function reads "
                        "TG_ARGV instead)",
                    )
            if tr.timing == "instead of" and tr.for_each != "row":
                err(
                    trp,
                    f"trigger '{tr.name}': INSTEAD OF triggers must be FOR EACH ROW; set "
                    "'for_each: row'",
                )
            if tr.for_each == "statement" and tr.when and statements.refers_to_row(tr.when):
                err(
                    (*trp, "when"),
                    f"trigger '{tr.name}': a FOR EACH STATEMENT trigger cannot "
                    "refer to OLD or NEW in 'when'; use 'for_each: row'",
                )
    return problems
