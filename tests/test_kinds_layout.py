"""The object-kind layout (docs/kinds.md): one module per kind, orchestrators that know
no kind by name. Pure: reads the sources and the registry, no server.

An orchestrator that names a kind (`t.triggers`, `model.Index`, "functions", an import
of bindu_schema.kinds.triggers) fails here: that code belongs in the kind's module.
Tables are the one kind orchestrators may name (`schema.tables`, `exclude.tables`): the
diagram, the touched-tables report and migra's relations are about tables; their parts
(columns, constraints, indexes, triggers) are not to be named.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from bindu_schema import kinds, model
from bindu_schema.kinds import base

PACKAGE = Path(kinds.__file__).resolve().parent.parent
ORCHESTRATORS = (
    "loader",
    "compile",
    "differ",
    "catalog",
    "report",
    "hazards",
    "renames",
    "introspect",
    "diagram",
)
ALLOWED_MODEL = {"Schema", "Exclude"}


def _forbidden_words() -> set[str]:
    """Every YAML key, model field and singular word of a kind other than tables, and of
    every table part. Columns are left out: every relation has them (migra's relations,
    statements' `column`), and a `column` is also a position in the YAML text."""
    words: set[str] = set()
    for kind in kinds.KINDS:
        if kind.key != "tables":
            words |= {kind.key, kind.word}
    table_fields = {f.name for f in dataclasses.fields(model.Table)}
    words |= table_fields - {"name", "renamed_from", "comment", "columns"}
    for part in kinds.part_kinds():
        words |= set(part.fragments()) - {"columns"}
    words |= {"trigger", "index", "function", "extension", "constraint"}
    # "enum" is also a JSON Schema keyword (the loader's messages name validators)
    return words - {"enum"}


# SQL that creates, changes or drops an object of a kind other than tables.
SQL = re.compile(
    r"(?i)\b(create|drop|alter|comment\s+on)\s+(or\s+replace\s+)?(unique\s+)?"
    r"(trigger|index|function|type|extension|constraint)\b"
)


FORBIDDEN = _forbidden_words()
# Libraries' own names that happen to hold a kind's word (PyYAML's YAML sequences).
LIBRARY_ATTRIBUTES = frozenset({"represent_sequence"})
KIND_CLASSES = {
    name
    for name in model.__all__
    if isinstance(getattr(model, name), type)
    and getattr(model, name).__module__.startswith("bindu_schema.kinds.")
}


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the Constant nodes that are docstrings."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                out.add(id(body[0].value))
    return out


def violations(source: str) -> list[str]:
    """What in the source names a kind: model classes, attributes, string words, imports."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute):
            if (
                isinstance(node.value, ast.Name)
                and node.value.id == "model"
                and node.attr not in ALLOWED_MODEL
            ):
                found.append(f"{where}: model.{node.attr}")
            elif (
                set(node.attr.lower().split("_")) & FORBIDDEN
                and not (isinstance(node.value, ast.Name) and node.value.id == "psycopg2")
                and node.attr not in LIBRARY_ATTRIBUTES
            ):
                found.append(f"{where}: .{node.attr}")
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            # A string that is a kind's key or word (a YAML key, an inspection attribute),
            # or SQL for a kind's object; prose (messages, explanations) may say "index".
            if node.value.strip().lower() in FORBIDDEN or SQL.search(node.value):
                found.append(f"{where}: {node.value[:40]!r}")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.startswith("kinds.") and mod != "kinds.base":
                found.append(f"{where}: imports {mod}")
            for alias in node.names:
                if alias.name in KIND_CLASSES:
                    found.append(f"{where}: imports {alias.name}")
    return found


@pytest.mark.parametrize("name", ORCHESTRATORS)
def test_orchestrator_knows_no_kind(name: str) -> None:
    found = violations((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    assert not found, f"{name}.py names a kind; move it into bindu_schema/kinds/: {found}"


def test_the_scan_catches_kind_specific_code() -> None:
    """The scan is not vacuous: each way of naming a kind is caught."""
    assert violations("x = t.triggers\n")
    assert violations("pair = statements.parse_trigger_with_state(sql)\n")
    assert violations("x = model.Trigger\n")
    assert violations("x = data['functions']\n")
    assert violations("from .kinds.triggers import trigger_sql\n")
    assert violations("from .model import Index\n")
    assert violations("sql = 'DROP TRIGGER x'\n")
    assert not violations("x = schema.tables\n")
    assert not violations('def f():\n    """About triggers."""\n')


def test_every_kind_class_lives_in_one_kind_module() -> None:
    for name in KIND_CLASSES:
        module = getattr(model, name).__module__
        assert module.startswith("bindu_schema.kinds."), name
        assert not hasattr(model, "_" + name)


def test_registry_is_ordered_and_complete() -> None:
    keys = [k.key for k in kinds.KINDS]
    assert len(keys) == len(set(keys))
    # Dependencies: types before the functions and tables that use them.
    assert keys.index("enums") < keys.index("functions") < keys.index("tables")
    assert all(isinstance(k, base.Kind) for k in kinds.KINDS)
    assert all(isinstance(p, base.TablePart) for p in kinds.part_kinds())
    # Every kind's key is in the published JSON Schema, and nothing else besides the
    # document keys.
    props = set(kinds.json_schema()["properties"])
    assert props == {"version", kinds.EXCLUDE_KEY, *keys}


def test_every_kind_module_is_registered() -> None:
    """A module under kinds/ with a KIND or PART that the registry does not list would be
    silently ignored by every orchestrator. A module of a kind's own helpers says whose
    they are (HELPS: the module name of a registered kind or part)."""
    registered = {id(k) for k in (*kinds.KINDS, *kinds.part_kinds())}
    import importlib

    for path in sorted((PACKAGE / "kinds").glob("*.py")):
        if path.stem in ("__init__", "__main__", "base"):
            continue
        module = importlib.import_module(f"bindu_schema.kinds.{path.stem}")
        helps = getattr(module, "HELPS", None)
        if helps is not None:
            module = importlib.import_module(f"bindu_schema.kinds.{helps}")
        obj = getattr(module, "KIND", None) or getattr(module, "PART", None)
        assert obj is not None, f"kinds/{path.name} defines neither KIND nor PART"
        assert id(obj) in registered, f"kinds/{path.name} is not in the registry"
