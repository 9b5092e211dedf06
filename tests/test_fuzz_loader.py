"""Hypothesis: generated YAML documents, valid and broken, through the loader and compiler.

Valid documents (tables, columns of many types with defaults, serial / identity, keys,
foreign keys, unique and check constraints, indexes of every method, enums, functions,
triggers, comments, names with quotes, spaces and non-ASCII letters) must load and their
DDL must load into PostgreSQL (one scratch database per example). Broken documents
(structural mutations of valid ones, and raw text damage) may only raise the tool's own
errors; if a mutation happens to stay valid, its DDL either loads or PostgreSQL's refusal
comes back as the tool's DatabaseError.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindu_schema import compile as compiler
from bindu_schema import loader, server
from bindu_schema.errors import BinduSchemaError
from bindu_schema.loader import SchemaValidationError
from bindu_schema.settings import DatabaseURL

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure is reproducible
)

NAME_CHARS = "abcxyzABCZ0189_ $\"'-.äÉ名"
WILD = st.text(alphabet=NAME_CHARS, min_size=1, max_size=12)
COMMENT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)

# type -> defaults PostgreSQL accepts for it; index methods that work with the default opclass
TYPES: dict[str, tuple[list[Any], list[str]]] = {
    "integer": ([None, "0", "-1", 7], ["btree", "hash", "brin"]),
    "bigint": ([None, "42"], ["btree", "hash", "brin"]),
    "smallint": ([None, "1"], ["btree"]),
    "text": ([None, "'x'", "''", "'it''s'"], ["btree", "hash"]),
    "varchar(50)": ([None, "'task'::character varying"], ["btree"]),
    "boolean": ([None, "true", False], ["btree"]),
    "uuid": ([None, "gen_random_uuid()"], ["btree", "hash"]),
    "jsonb": ([None, "'{}'::jsonb", "'[]'::jsonb"], ["gin", "btree"]),
    "timestamptz": ([None, "now()", "CURRENT_TIMESTAMP"], ["btree", "brin"]),
    "timestamp with time zone": ([None, "now()"], ["btree"]),
    "numeric(10,2)": ([None, "0", 1.5], ["btree"]),
    "text[]": ([None, "'{}'::text[]"], ["gin"]),
    "date": ([None, "CURRENT_DATE"], ["btree", "brin"]),
    "double precision": ([None, "0.5"], ["btree"]),
    "bytea": ([None], ["btree"]),
    "inet": ([None], ["btree"]),
    "interval": ([None, "'1 day'::interval"], ["btree"]),
    "int4range": ([None], ["gist", "btree"]),
    "tsvector": ([None], ["gin", "gist"]),
}
INT_TYPES = ["integer", "bigint", "smallint"]


def qi(name: str) -> str:
    """Quote an identifier for SQL written into the YAML (defaults, checks, WHERE)."""
    return '"' + name.replace('"', '""') + '"'


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    def name(prefix: str) -> str:
        # A unique prefix keeps explicit names apart from each other and from the names
        # PostgreSQL makes up (sequences, keys); the rest is wild.
        return f"{prefix}_{draw(WILD)}"

    doc: dict[str, Any] = {"version": 1}
    enums = {}
    for k in range(draw(st.integers(0, 2))):
        values = draw(
            st.lists(
                st.text(NAME_CHARS, min_size=1, max_size=8), min_size=1, max_size=4, unique=True
            )
        )
        enums[f"e{k}_" + draw(st.text("abcxyz", min_size=1, max_size=6))] = {"values": values}
    if enums:
        doc["enums"] = enums

    functions: dict[str, Any] = {}
    trigger_fn = None
    if draw(st.booleans()):
        trigger_fn = name("f0")
        functions[trigger_fn] = {
            "returns": "trigger",
            "language": "plpgsql",
            "body": "BEGIN\n    RETURN NEW;\nEND;\n",
        }
    if draw(st.booleans()):
        functions[name("f1")] = {
            "arguments": [{"name": "x", "type": "integer", "default": "1"}],
            "returns": "integer",
            "language": "sql",
            "volatility": draw(st.sampled_from(["immutable", "stable", "volatile"])),
            "body": "SELECT x + 1",
        }
    if functions:
        doc["functions"] = functions

    tables: dict[str, Any] = {}
    pk_of: dict[str, tuple[str, str]] = {}  # table -> (pk column, its type)
    for ti in range(draw(st.integers(1, 4))):
        tname = name(f"t{ti}")
        columns: dict[str, Any] = {}
        types: dict[str, str] = {}
        for ci in range(draw(st.integers(1, 6))):
            cname = name(f"c{ci}")
            typ = draw(st.sampled_from([*TYPES, *enums]))
            col: dict[str, Any] = {"type": typ}
            if typ in enums:
                if draw(st.booleans()):
                    v = enums[typ]["values"][0].replace("'", "''")
                    col["default"] = f"'{v}'::{qi(typ)}"
            elif typ in INT_TYPES and draw(st.integers(0, 3)) == 0:
                if draw(st.booleans()):
                    col["serial"] = True
                else:
                    col["identity"] = draw(st.sampled_from(["always", "by default"]))
            else:
                default = draw(st.sampled_from(TYPES[typ][0]))
                if default is not None:
                    col["default"] = default
            if draw(st.booleans()):
                # serial and identity columns are always NOT NULL: only false is valid there
                auto = "serial" in col or "identity" in col
                col["nullable"] = False if auto else draw(st.booleans())
            if draw(st.integers(0, 3)) == 0:
                col["comment"] = draw(COMMENT)
            columns[cname] = col
            types[cname] = typ
        table: dict[str, Any] = {"columns": columns}
        names = list(columns)
        sortable = [c for c in names if "btree" in TYPES.get(types[c], ([], ["btree"]))[1]]
        if sortable and draw(st.booleans()):
            pk_cols = draw(st.lists(st.sampled_from(sortable), min_size=1, max_size=2, unique=True))
            table["primary_key"] = {"columns": pk_cols}
            if draw(st.booleans()):
                table["primary_key"]["name"] = name(f"pk{ti}")
            if len(pk_cols) == 1:
                pk_of[tname] = (pk_cols[0], types[pk_cols[0]])
        # foreign keys to an earlier table's single-column primary key of the same type
        fks = {}
        for ref, (ref_col, ref_type) in pk_of.items():
            if ref == tname:
                continue
            local = [c for c in names if types[c] == ref_type]
            if local and draw(st.booleans()):
                fk: dict[str, Any] = {
                    "columns": [draw(st.sampled_from(local))],
                    "references": {"table": ref, "columns": [ref_col]},
                }
                for key in ("on_delete", "on_update"):
                    if draw(st.booleans()):
                        fk[key] = draw(
                            st.sampled_from(
                                ["cascade", "restrict", "no action", "set null", "set default"]
                            )
                        )
                if draw(st.booleans()):
                    fk["deferrable"] = True
                    fk["initially_deferred"] = draw(st.booleans())
                fks[name(f"fk{ti}x{len(fks)}")] = fk
        if fks:
            table["foreign_keys"] = fks
        if sortable and draw(st.booleans()):
            table["unique"] = {name(f"uq{ti}"): {"columns": [draw(st.sampled_from(sortable))]}}
        if draw(st.booleans()):
            c = draw(st.sampled_from(names))
            table["checks"] = {name(f"ck{ti}"): {"expression": f"{qi(c)} IS NOT NULL OR true"}}
        indexes = {}
        for ii in range(draw(st.integers(0, 3))):
            c = draw(st.sampled_from(names))
            methods = TYPES.get(types[c], ([], ["btree", "hash"]))[1]
            method = draw(st.sampled_from(methods))
            item: Any = c
            if method == "btree" and draw(st.booleans()):
                item = {"column": c}
                if draw(st.booleans()):
                    item["order"] = draw(st.sampled_from(["asc", "desc"]))
                if draw(st.booleans()):
                    item["nulls"] = draw(st.sampled_from(["first", "last"]))
            ix: dict[str, Any] = {"columns": [item]}
            if method != "btree":
                ix["method"] = method
            elif draw(st.integers(0, 3)) == 0:
                ix["unique"] = True
            if draw(st.integers(0, 3)) == 0:
                ix["where"] = f"{qi(draw(st.sampled_from(names)))} IS NOT NULL"
            if method == "btree" and len(names) > 1 and draw(st.integers(0, 3)) == 0:
                ix["include"] = [draw(st.sampled_from([n for n in names if n != c]))]
            if draw(st.integers(0, 4)) == 0:
                ix["comment"] = draw(COMMENT)
            indexes[name(f"ix{ti}x{ii}")] = ix
        if indexes:
            table["indexes"] = indexes
        if trigger_fn and draw(st.booleans()):
            for_each = draw(st.sampled_from(["row", "statement"]))
            allowed = ["insert", "update", "delete"] + (
                ["truncate"] if for_each == "statement" else []
            )
            events = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=3, unique=True))
            trig: dict[str, Any] = {
                "timing": draw(st.sampled_from(["before", "after"])),
                "events": events,
                "for_each": for_each,
                "function": trigger_fn,
            }
            if for_each == "row" and set(events) <= {"insert", "update"} and draw(st.booleans()):
                trig["when"] = f"NEW.{qi(draw(st.sampled_from(names)))} IS NOT NULL"
            table["triggers"] = {name(f"tg{ti}"): trig}
        if draw(st.integers(0, 2)) == 0:
            table["comment"] = draw(COMMENT)
        tables[tname] = table
    doc["tables"] = tables
    if draw(st.booleans()):
        doc["exclude"] = {"tables": [name("x")], "functions": [name("xf")]}
    return doc


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def load_into_scratch(dev: DatabaseURL, text: str) -> None:
    schema = loader.loads(text, "fuzz.yaml")
    ddl = compiler.compile_schema(schema)
    assert compiler.render(ddl) == compiler.render(compiler.compile_schema(schema))
    with server.scratch(dev) as db:
        server.load_ddl(db, ddl)


@SETTINGS
@given(doc=valid_documents())
def test_valid_documents_load_into_postgresql(dev_server: DatabaseURL, doc: dict[str, Any]) -> None:
    load_into_scratch(dev_server, dump(doc))


# --- broken documents -------------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def broken_documents(draw: st.DrawFn) -> str:
    doc = draw(valid_documents())
    kind = draw(st.sampled_from(["replace", "delete", "add_key", "rename_ref", "text"]))
    targets = paths(doc)[1:]
    if kind == "text":
        text = dump(doc)
        op = draw(st.sampled_from(["cut", "insert", "tab", "dup_line", "swap_indent"]))
        pos = draw(st.integers(0, len(text)))
        if op == "cut":
            return text[:pos]
        if op == "insert":
            return (
                text[:pos] + draw(st.sampled_from(list("{}[]:,-'\"&*!|>%@`#\t\n\x00"))) + text[pos:]
            )
        if op == "tab":
            return text[:pos] + "\t" + text[pos:]
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        if op == "dup_line":
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i][1:] if lines[i].startswith(" ") else " " + lines[i]
        return "".join(lines)
    path = draw(st.sampled_from(targets))
    parent, key = get(doc, path[:-1]), path[-1]
    if kind == "replace":
        parent[key] = draw(JUNK)
    elif kind == "delete":
        del parent[key]
    elif kind == "add_key":
        node = get(doc, path)
        target = node if isinstance(node, dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["nulable", "colums", "typ", "x", "on_delet"]))] = 1
    elif kind == "rename_ref" and isinstance(parent[key], str):
        parent[key] = parent[key] + "_missing"
    return dump(doc)


@settings(SETTINGS, max_examples=150)
@given(text=broken_documents())
def test_broken_documents_raise_only_our_errors(dev_server: DatabaseURL, text: str) -> None:
    try:
        schema = loader.loads(text, "fuzz.yaml")
    except SchemaValidationError as exc:
        assert exc.problems, "a validation error without a located problem"
        assert str(exc).startswith("fuzz.yaml:")
        return
    except BinduSchemaError:
        return
    ddl = compiler.compile_schema(schema)
    try:
        with server.scratch(dev_server) as db:
            server.load_ddl(db, ddl)
    except BinduSchemaError as exc:
        assert "PostgreSQL rejected the DDL for " in str(exc)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "~",
        "[]",
        "{}",
        "version: 1",
        "tables: {}",
        "version: 1\ntables: {}\n",
        "version: 1\ntables: []\n",
        "\ufeffversion: 1\ntables: {}\n",
        "version: !!binary aGk=\n",
    ],
)
def test_tiny_documents(text: str) -> None:
    try:
        schema = loader.loads(text, "tiny.yaml")
    except BinduSchemaError as exc:
        assert "tiny.yaml:" in str(exc)
        return
    assert compiler.compile_schema(schema) == []
