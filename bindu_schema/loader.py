"""YAML -> model.Schema. All validation of the YAML file lives here.

Errors carry file:line:column. The YAML is composed into nodes (which keep their
marks) so that every key and value can be located; the structural rules come from
the JSON Schema shipped in the package (the same one editors use), the semantic
rules (references, duplicates, identifier length) are checked below.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import model
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
                    self.problems.append(LocatedError(line, col, "keys must be plain strings"))
                    continue
                key = str(key_node.value)
                if key == "<<":
                    line, col = self._loc(key_node)
                    self.problems.append(LocatedError(line, col, "merge keys (<<) are not supported"))
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
        return yaml.SafeLoader(
            ""
        ).construct_object(node, deep=True)  # resolves ints, bools, nulls like safe_load

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


def _schema_message(err: jsonschema.ValidationError) -> tuple[PathKey, str, bool]:
    """A readable message for a JSON Schema error, its path and whether to point at the key."""
    path: PathKey = tuple(err.absolute_path)
    where = "/".join(str(p) for p in path) or "the document"
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        key = extra[0] if extra else ""
        hint = f"allowed keys: {', '.join(allowed)}" if allowed else ""
        return (*path, key), f"unknown key '{key}' in {where}; {hint}", True
    if v == "required":
        return path, f"{where}: {err.message.replace(' is a required property', '')} is required", False
    if v == "type":
        want = err.validator_value
        return path, f"{where}: expected {_type_name(want)}, got {_type_name_of(err.instance)}", False
    if v == "enum":
        choices = ", ".join(repr(c) for c in err.validator_value)
        return path, f"{where}: {err.instance!r} is not one of {choices}", False
    if v == "const":
        return path, f"{where}: must be {err.validator_value!r}", False
    if v == "oneOf":
        return path, f"{where}: expected a name or a map with the documented keys", False
    if v == "minProperties" or v == "minItems":
        return path, f"{where}: must not be empty", False
    if v == "minLength":
        return path, f"{where}: must not be an empty string", False
    if v == "uniqueItems":
        return path, f"{where}: has a repeated item", False
    if v == "propertyNames":
        return path, f"{where}: names must not be empty", False
    return path, f"{where}: {err.message}", False


def _type_name(want: Any) -> str:
    names = {"object": "a map", "array": "a list", "string": "a string", "boolean": "true or false",
             "integer": "an integer", "number": "a number", "null": "nothing"}
    if isinstance(want, list):
        return " or ".join(names.get(w, w) for w in want)
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
        raw = p.read_bytes()
    except OSError as exc:
        raise BinduSchemaError(f"{p}: cannot read the schema file: {exc.strerror}") from None
    return loads(raw, str(p))


def loads(raw: bytes | str, filename: str = "<string>") -> model.Schema:
    data_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaValidationError(
            filename, [LocatedError(1, 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        if "\t" in text and "tab" in str(exc.problem):
            msg += " (YAML indentation must use spaces, not tabs)"
        raise SchemaValidationError(filename, [LocatedError(line, col, msg)]) from None
    except yaml.YAMLError as exc:
        raise SchemaValidationError(filename, [LocatedError(1, 1, f"YAML error: {exc}")]) from None
    if node is None:
        raise SchemaValidationError(
            filename,
            [LocatedError(1, 1, "the file is empty; start with 'version: 1' and a 'tables:' map")],
        )
    conv = _Converter()
    try:
        data = conv.convert(node, ())
    except yaml.YAMLError as exc:
        raise SchemaValidationError(filename, [LocatedError(1, 1, f"YAML error: {exc}")]) from None
    if conv.problems:
        raise SchemaValidationError(filename, conv.problems)

    validator = jsonschema.Draft202012Validator(json_schema())
    problems: list[LocatedError] = []
    for err in validator.iter_errors(data):
        # oneOf errors hide the precise cause; prefer the deepest sub-error when it is clear.
        best = jsonschema.exceptions.best_match([err])
        epath, msg, at_key = _schema_message(best)
        line, col = conv.locate(epath, key=at_key)
        problems.append(LocatedError(line, col, msg))
    if problems:
        raise SchemaValidationError(filename, _dedupe(problems))

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
    tables = []
    for tname, t in (data.get("tables") or {}).items():
        columns = tuple(
            model.Column(
                name=cname,
                type=str(c["type"]),
                nullable=c.get("nullable", True),
                default=c.get("default"),
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
                model.Argument(a.get("name"), str(a["type"]), a.get("default"))
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
    return model.Schema(tables=tuple(tables), functions=functions, enums=enums,
                        extensions=extensions, exclude=exclude)


def _check(schema: model.Schema, data: dict[str, Any], conv: _Converter) -> list[LocatedError]:
    """Semantic rules the JSON Schema cannot express."""
    problems: list[LocatedError] = []

    def err(path: PathKey, msg: str, key: bool = False) -> None:
        line, col = conv.locate(path, key=key)
        problems.append(LocatedError(line, col, msg))

    def check_ident(path: PathKey, name: str, what: str) -> None:
        if len(name.encode()) > MAX_IDENT_BYTES:
            err(path, f"{what} name '{name[:20]}...' is {len(name.encode())} bytes; "
                      f"PostgreSQL truncates names to {MAX_IDENT_BYTES} bytes, use a shorter name",
                key=True)
        if "\x00" in name:
            err(path, f"{what} name contains a NUL character", key=True)

    # Relation-level names share one namespace per schema in PostgreSQL.
    relation_names: dict[str, PathKey] = {}
    constraint_names: dict[tuple[str, str], PathKey] = {}

    def claim(name: str, path: PathKey, what: str) -> None:
        if name in relation_names:
            first = conv.locate(relation_names[name], key=True)
            err(path, f"{what} name '{name}' is already used at line {first[0]} "
                      "(tables, indexes, sequences and key constraints share one namespace)",
                key=True)
        else:
            relation_names[name] = path

    fn_names = {f.name for f in schema.functions}
    for f in schema.functions:
        check_ident(("functions", f.name), f.name, "function")
        if f.name in schema.exclude.functions:
            err(("functions", f.name), f"function '{f.name}' is both declared and excluded", key=True)

    for e in schema.enums:
        check_ident(("enums", e.name), e.name, "enum")

    for t in schema.tables:
        tp: PathKey = ("tables", t.name)
        check_ident(tp, t.name, "table")
        claim(t.name, tp, "table")
        if t.name in schema.exclude.tables:
            err(tp, f"table '{t.name}' is both declared and excluded", key=True)
        if t.name == "alembic_version":
            err(tp, "'alembic_version' belongs to Alembic and cannot be declared", key=True)
        cols = {c.name for c in t.columns}
        for c in t.columns:
            cp: PathKey = (*tp, "columns", c.name)
            check_ident(cp, c.name, "column")
            if c.serial and c.identity:
                err(cp, f"column '{t.name}.{c.name}': choose serial or identity, not both")
            if (c.serial or c.identity) and c.default is not None:
                err(cp, f"column '{t.name}.{c.name}': a serial or identity column takes no default")
            if c.serial and c.type.lower() not in ("integer", "int", "int4", "bigint", "int8",
                                                   "smallint", "int2"):
                err((*cp, "type"), f"column '{t.name}.{c.name}': serial needs type integer, "
                                   "bigint or smallint")
            if c.type.strip().lower() in ("serial", "bigserial", "smallserial", "serial4",
                                          "serial8", "serial2"):
                err((*cp, "type"), f"column '{t.name}.{c.name}': write the integer type and "
                                   f"'serial: true' instead of type '{c.type}'")

        def need_cols(path: PathKey, names: tuple[str, ...], what: str,
                      table: model.Table = t) -> None:
            for i, n in enumerate(names):
                if table.column(n) is None:
                    err((*path, i), f"{what}: column '{n}' does not exist in table '{table.name}'"
                                    f"; known columns: {', '.join(c.name for c in table.columns)}")
            if len(set(names)) != len(names):
                err(path, f"{what}: a column is listed twice")

        if t.primary_key:
            pkp: PathKey = (*tp, "primary_key")
            need_cols((*pkp, "columns"), t.primary_key.columns, f"primary key of '{t.name}'")
            if t.primary_key.name:
                check_ident((*pkp, "name"), t.primary_key.name, "primary key")
                claim(t.primary_key.name, (*pkp, "name"), "primary key")
        for fk in t.foreign_keys:
            fp: PathKey = (*tp, "foreign_keys", fk.name)
            check_ident(fp, fk.name, "foreign key")
            _claim_constraint(constraint_names, t.name, fk.name, fp, err, conv)
            need_cols((*fp, "columns"), fk.columns, f"foreign key '{fk.name}'")
            ref = schema.table(fk.ref_table)
            if ref is None:
                err((*fp, "references", "table"),
                    f"foreign key '{fk.name}' references table '{fk.ref_table}', which is not "
                    f"declared; declared tables: {', '.join(x.name for x in schema.tables)}")
            else:
                need_cols((*fp, "references", "columns"), fk.ref_columns,
                          f"foreign key '{fk.name}' reference", table=ref)
            if len(fk.ref_columns) != len(fk.columns):
                err((*fp, "references", "columns"),
                    f"foreign key '{fk.name}' has {len(fk.columns)} column(s) but references "
                    f"{len(fk.ref_columns)}")
        for u in t.uniques:
            up: PathKey = (*tp, "unique", u.name)
            check_ident(up, u.name, "unique constraint")
            claim(u.name, up, "unique constraint")
            need_cols((*up, "columns"), u.columns, f"unique constraint '{u.name}'")
        for ch in t.checks:
            chp: PathKey = (*tp, "checks", ch.name)
            check_ident(chp, ch.name, "check constraint")
            _claim_constraint(constraint_names, t.name, ch.name, chp, err, conv)
        for ix in t.indexes:
            ip: PathKey = (*tp, "indexes", ix.name)
            check_ident(ip, ix.name, "index")
            claim(ix.name, ip, "index")
            for n, item in enumerate(ix.items):
                ipath: PathKey = (*ip, "columns", n)
                if (item.column is None) == (item.expression is None):
                    err(ipath, f"index '{ix.name}': each key needs exactly one of 'column' or "
                               "'expression'")
                elif item.column is not None and t.column(item.column) is None:
                    err(ipath, f"index '{ix.name}': column '{item.column}' does not exist in "
                               f"table '{t.name}'")
                if (item.order or item.nulls) and ix.method != "btree":
                    err(ipath, f"index '{ix.name}': ASC/DESC and NULLS order need method btree")
            if ix.include:
                need_cols((*ip, "include"), ix.include, f"index '{ix.name}' INCLUDE")
            if ix.unique and ix.method not in ("btree",):
                err((*ip, "unique"), f"index '{ix.name}': only btree indexes can be unique")
        for tr in t.triggers:
            trp: PathKey = (*tp, "triggers", tr.name)
            check_ident(trp, tr.name, "trigger")
            if tr.function not in fn_names:
                err((*trp, "function"),
                    f"trigger '{tr.name}' calls function '{tr.function}', which is not declared "
                    "under 'functions'")
            else:
                f = schema.function(tr.function)
                if f is not None and f.returns.strip().lower() != "trigger":
                    err((*trp, "function"), f"trigger '{tr.name}': function '{tr.function}' "
                                            "must return trigger")
            if tr.timing == "instead of" and tr.for_each != "row":
                err(trp, f"trigger '{tr.name}': INSTEAD OF triggers must be FOR EACH ROW")
    return problems


def _claim_constraint(seen: dict[tuple[str, str], PathKey], table: str, name: str,
                      path: PathKey, err: Any, conv: _Converter) -> None:
    key = (table, name)
    if key in seen:
        first = conv.locate(seen[key], key=True)
        err(path, f"constraint name '{name}' is already used on table '{table}' at line "
                  f"{first[0]}", True)
    else:
        seen[key] = path
