"""A Mermaid `erDiagram` of the YAML (`bindu-schema diagram`), and docs/schema.md.

GitHub renders ```mermaid blocks in READMEs, docs and pull-request comments. The diagram
is deterministic: tables in YAML order, columns in YAML order, one relationship per
foreign key in YAML order.

- every column is listed with its type; key columns are marked PK, FK and UK (a
  single-column unique constraint or unique index);
- a foreign key is a relationship from the referenced table to the referencing one:
  the referenced side is `||` (exactly one) when every FK column is NOT NULL, else `|o`
  (zero or one); the referencing side is `o|` (at most one) when the FK columns are
  unique in their table (primary key, unique constraint or unique index on exactly those
  columns), else `o{` (any number). The line is `--` (identifying) when the FK columns
  are part of the referencing table's primary key, else `..`;
- Mermaid attribute words allow only letters, digits, `_`, `-`, `[]` and `()`, so types
  are written with `_` for spaces and commas (`double_precision`, `numeric(12_2)`), and
  other characters in names become `_`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from . import model

DOC_PATH = "docs/schema.md"
BEGIN = "<!-- bindu-schema diagram: begin (written by `bindu-schema diagram --write`) -->"
END = "<!-- bindu-schema diagram: end -->"

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def entity(name: str) -> str:
    return name if _WORD.match(name) else '"' + name.replace('"', "'") + '"'


def attr_name(name: str) -> str:
    word = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return word if re.match(r"^[A-Za-z_]", word) else "_" + word


def attr_type(spec: str) -> str:
    word = re.sub(r"\s*,\s*", "_", spec.strip())
    word = re.sub(r"\s+", "_", word)
    word = re.sub(r"[^A-Za-z0-9_\-\[\]()]", "_", word)
    return word if re.match(r"^[A-Za-z_]", word) else "_" + word


def render(
    schema: model.Schema,
    tables: Iterable[str] | None = None,
    marks: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The erDiagram text. `tables` limits it to those tables (relationships among them);
    `marks` adds a quoted note to columns: {table: {column: "added"}}. Each kind draws its
    own objects (kinds/), in registry order."""
    from . import kinds

    wanted = set(tables) if tables is not None else None
    lines = ["erDiagram"]
    for kind in kinds.KINDS:
        lines += kind.diagram(schema, wanted, marks)
    return "\n".join(lines) + "\n"


def fenced(text: str) -> str:
    return "```mermaid\n" + text.rstrip("\n") + "\n```\n"


def _block(schema: model.Schema) -> str:
    return f"{BEGIN}\n{fenced(render(schema))}{END}\n"


def _new_document(schema: model.Schema, schema_path: str) -> str:
    return (
        "# Bindu's PostgreSQL schema\n\n"
        f"The tables of `{schema_path}`, drawn by `bindu-schema diagram` (GitHub renders the\n"
        "Mermaid block below). Columns are listed with their types; PK marks the primary key,\n"
        "FK a foreign key column, UK a single-column unique key. A relationship line is solid\n"
        "when the foreign key is part of the child's primary key, and its ends say how many\n"
        "rows are on each side (`||` exactly one, `|o` zero or one, `o{` any number).\n\n"
        "Do not edit the block by hand: `bindu-schema diagram --write` refreshes it, and\n"
        "`bindu-schema check` fails when it is out of date.\n\n" + _block(schema)
    )


def _split(text: str) -> tuple[str, str, str] | None:
    """(before, block, after) around the markers, or None when they are missing."""
    start = text.find(BEGIN)
    end = text.find(END, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        return None
    after = end + len(END)
    if text[after : after + 1] == "\n":
        after += 1
    return text[:start], text[start:after], text[after:]


def check_doc(path: str | Path, schema: model.Schema) -> str | None:
    """None when the diagram in the document matches the schema, else the reason (with a
    diff of the Mermaid lines) and how to fix it."""
    p = Path(path)
    fix = "run `bindu-schema diagram --write` and commit the result"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{p} is missing; {fix}"
    parts = _split(text)
    if parts is None:
        return f"{p} has no diagram markers ({BEGIN!r} ... {END!r}); {fix}"
    want = _block(schema)
    if parts[1] == want:
        return None
    diff = "".join(
        difflib.unified_diff(
            parts[1].splitlines(keepends=True),
            want.splitlines(keepends=True),
            fromfile=f"{p} (committed)",
            tofile=f"{p} (from the YAML)",
            n=1,
        )
    )
    return f"{p} is out of date with the YAML; {fix}\n{diff}"


def write_doc(path: str | Path, schema: model.Schema, schema_path: str) -> bool:
    """Refresh the diagram between the markers (or write a new document); True if it
    changed the file."""
    p = Path(path)
    try:
        old: str | None = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    parts = _split(old) if old is not None else None
    if parts is None:
        if old is not None:
            new = old.rstrip("\n") + "\n\n" + _block(schema)
        else:
            new = _new_document(schema, schema_path)
    else:
        new = parts[0] + _block(schema) + parts[2]
    if new == old:
        return False
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(new, encoding="utf-8")
    return True
