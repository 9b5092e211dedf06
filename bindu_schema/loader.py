"""YAML -> model.Schema. All validation of the YAML file lives here.

Errors carry file:line:column. The YAML is composed into nodes (which keep their
marks) so that every key and value can be located; the structural rules come from
the JSON Schema generated from the kinds' fragments (kinds.json_schema(), the same one
editors use), the semantic rules (references, duplicates, identifier length) from each
kind's check().
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from . import cache, entry_cache, fragments, limits, model
from .kinds import base

if TYPE_CHECKING:
    import jsonschema
from .errors import BinduSchemaError

MAX_IDENT_BYTES = base.MAX_IDENT_BYTES

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


_STR_TAG = "tag:yaml.org,2002:str"


_CSafeLoader: Any = getattr(yaml, "CSafeLoader", None)


if _CSafeLoader is not None:

    class _MemoLoader(_CSafeLoader):  # type: ignore[misc]
        """libyaml's loader with each scalar's tag resolved once per distinct (value,
        implicit) pair: the resolver is a pure function of them (SafeLoader has no path
        resolvers), and a 1,000-table file resolves ~110,000 scalars, most of them the
        same few keys and types, each through Python regular expressions."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._tags: dict[tuple[str, tuple[bool, bool]], str] = {}

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not yaml.ScalarNode:
                return super().resolve(kind, value, implicit)
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = super().resolve(kind, value, implicit)
            return tag


def _compose(text: str) -> yaml.Node | None:
    """Compose with libyaml when it is there (3-4x faster on big schemas); a document it
    rejects is composed again in pure Python, whose error messages the corpus is tuned to."""
    if _CSafeLoader is not None:
        try:
            return yaml.compose(text, Loader=_MemoLoader)
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
    """The JSON Schema the file is validated with: generated from the kinds' fragments."""
    from . import kinds

    return kinds.json_schema()


class _Converter:
    """Turns composed YAML nodes into plain Python, remembering where each path is."""

    def __init__(self) -> None:
        self.key_locs: dict[PathKey, Loc] = {}
        self.value_locs: dict[PathKey, Loc] = {}
        self.problems: list[LocatedError] = []
        # ints, bools, nulls as safe_load makes them; one per load, as the constructor
        # remembers every node it built (a shared one kept every file's nodes alive)
        self._scalars = yaml.SafeLoader("")

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
        if node.tag == _STR_TAG:  # most scalars: what construct_yaml_str returns, sooner
            return node.value
        return self._scalars.construct_object(node, deep=True)

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
    return base.suggest(word, choices)


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
        # a word or a map (identity, replica_identity, ...): a misspelt word gets the words
        words = [e for e in err.context or () if e.validator == "enum"]
        if words and isinstance(err.instance, str):
            return _schema_messages(words[0])
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


def _context(schema: model.Schema, data: Any, conv: _Converter) -> base.CheckContext:
    return base.CheckContext(schema, data, lambda path, key: conv.locate(path, key=key))


def _problems(ctx: base.CheckContext) -> list[LocatedError]:
    return [LocatedError(line, col, msg) for line, col, msg in ctx.problems]


def _count_problems(data: Any, conv: _Converter) -> list[LocatedError]:
    """Object counts beyond limits.py (PostgreSQL itself caps columns per table)."""
    from . import kinds

    if not isinstance(data, dict):
        return []
    ctx = _context(model.Schema(tables=()), data, conv)
    for kind in kinds.KINDS:
        if kind.key in data:
            kind.count_problems(data[kind.key], ctx)
    return _problems(ctx)


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

    problems = _structure_problems(data, conv)
    if problems:
        raise SchemaValidationError(filename, _dedupe(_drop_explained(problems)))

    schema = _build(data)
    semantic = _check(schema, data, conv)
    if semantic:
        raise SchemaValidationError(filename, semantic)
    digest = hashlib.sha256(data_bytes).hexdigest()
    return dataclasses.replace(schema, source_sha256=digest)


_TABLES = "tables"  # the section whose entries entry_cache knows (tables.KIND.key)
# While one validation runs: the tables map it validates and the names of the entries in it
# that entry_cache already found valid.
_SKIP: contextvars.ContextVar[tuple[dict[str, Any], frozenset[str]] | None] = (
    contextvars.ContextVar("bindu_schema_known_valid", default=None)
)


def _additional_properties(
    validator: Any, extra: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """jsonschema's additionalProperties, except that in the tables map (every key an entry,
    each validated against the same subschema) the entries known valid are not descended
    into; every other entry is validated exactly as jsonschema's own would."""
    import jsonschema

    skip = _SKIP.get()
    plain = "properties" not in schema and "patternProperties" not in schema
    if skip is not None and instance is skip[0] and plain and isinstance(extra, dict):
        entries, known = skip
        for name in entries:
            if name not in known:
                yield from validator.descend(entries[name], extra, path=name)
        return
    yield from jsonschema.Draft202012Validator.VALIDATORS["additionalProperties"](
        validator, extra, instance, schema
    )


@functools.lru_cache(maxsize=1)
def _validator_class() -> Any:
    """Draft 2020-12 with _additional_properties for its additionalProperties keyword."""
    import jsonschema

    return jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"additionalProperties": _additional_properties}
    )


def _structure_problems(data: Any, conv: _Converter) -> list[LocatedError]:
    """The JSON Schema's verdict, each error at its line:column; table entries entry_cache
    knows valid are skipped, and those found valid now are added to it."""
    import jsonschema  # only when the file is not in the cache: 0.05 s of imports

    tables = data.get(_TABLES) if isinstance(data, dict) else None
    cached = isinstance(tables, dict) and entry_cache.enabled()
    known = entry_cache.ValidEntries() if cached else None
    digests: dict[str, bytes | None] = {}
    token = None
    if known is not None:
        assert isinstance(tables, dict)
        digests = {name: entry_cache.digest(entry) for name, entry in tables.items()}
        skip = frozenset(name for name, d in digests.items() if d in known)
        token = _SKIP.set((tables, skip))
    problems: list[LocatedError] = []
    failed: set[str | int] = set()
    try:
        validator: jsonschema.protocols.Validator = _validator_class()(json_schema())
        for err in validator.iter_errors(data):
            epath = tuple(err.absolute_path)
            if len(epath) >= 2 and epath[0] == _TABLES:
                failed.add(epath[1])  # this entry (or one deeper inside) is not valid
            # oneOf errors hide the precise cause; prefer the deepest sub-error when clear.
            best = jsonschema.exceptions.best_match([err])
            for mpath, msg, at_key in _schema_messages(best):
                line, col = conv.locate(mpath, key=at_key)
                problems.append(LocatedError(line, col, msg))
    finally:
        if token is not None:
            _SKIP.reset(token)
    if known is not None:
        known.save(d for name, d in digests.items() if d is not None and name not in failed)
    return problems


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


def _build(data: dict[str, Any]) -> model.Schema:
    """The model: each kind builds its objects from its section of the YAML."""
    from . import kinds

    own = {f.name for f in dataclasses.fields(model.Schema)}
    fields: dict[str, Any] = {}
    others: list[tuple[str, tuple[Any, ...]]] = []
    for kind in kinds.KINDS:
        objects = kind.build(data.get(kind.key))
        if kind.key in own:
            fields[kind.key] = objects
        else:
            others.append((kind.key, objects))
    ex = data.get(kinds.EXCLUDE_KEY) or {}
    exclude = model.Exclude(
        **{k.key: tuple(ex.get(k.key) or ()) for k in kinds.KINDS if k.excludable}
    )
    return model.Schema(**fields, exclude=exclude, others=tuple(others))


def _check(schema: model.Schema, data: dict[str, Any], conv: _Converter) -> list[LocatedError]:
    """Semantic rules the JSON Schema cannot express. Each message says what to change."""
    from . import kinds

    ctx = _context(schema, data, conv)
    # SQL fragments (defaults, expressions, types, opclasses): each exactly one of its kind.
    for fpath, msg in fragments.problems(schema, data):
        ctx.err(fpath, msg)
    for kind in kinds.KINDS:
        kind.check(ctx)
    return _problems(ctx)
