"""A live database -> YAML in our format (`bindu-schema inspect`).

Everything is read from the catalogs of one schema (default public), with search_path set
to that schema so names and types come back unqualified. The result is plain data in the
key order of schema/bindu.yaml, dumped by a YAML dumper that keeps that order, writes short
entries as flow maps (`{type: uuid, nullable: false}`) and multi-line bodies as block
literals.

Each kind reads its own objects (kinds/, in registry order); this module holds the
connection, the text helpers and the YAML dumper. Ordering: columns keep their attnum
order; every other object is sorted by name. Objects the format cannot express
(partitions, domains, OUT parameters, trigger arguments, ...) are left out, each with a
warning, so the output always loads with loader.py.

Normalizations (all are whitespace or spelling only; PostgreSQL sees the same objects):
- types use the short names of the format: varchar(n), char(n), timestamptz, timetz,
  timestamp, time, varbit (format_type spells them out);
- a function body drops leading blank lines, the common indentation and trailing
  whitespace (the differ compares bodies modulo whitespace, too);
- check expressions, index expressions, index predicates and trigger WHEN conditions are
  PostgreSQL's pretty-printed text with one redundant pair of outer parentheses removed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions
import yaml

from . import server, statements
from .settings import DatabaseURL


@dataclass
class Inspection:
    """The YAML data (plain dicts and lists, in output order) and what was left out."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    schema_name: str = "public"


# --------------------------------------------------------------------------- text helpers


def strip_outer_parens(text: str) -> str:
    """'(a > 0)' -> 'a > 0', but '(a) AND (b)' stays: only a pair that encloses everything."""
    s = text.strip()
    while s.startswith("(") and s.endswith(")") and _matching_paren(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    return s


def _matching_paren(s: str, start: int) -> int:
    """Index of the parenthesis closing the one at s[start], skipping quoted text; -1 if none."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(s):
        ch = s[i]
        if quote:
            if ch == quote:
                if i + 1 < len(s) and s[i + 1] == quote:
                    i += 1  # doubled quote inside a literal or identifier
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at separators outside parentheses, brackets and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    current.append(text[i + 1])
                    i += 1
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
            current.append(ch)
        elif ch in "([":
            depth += 1
            current.append(ch)
        elif ch in ")]":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def find_top_level(text: str, word: str) -> int:
    """Index of ` word ` outside quotes and parentheses, or -1."""
    depth = 0
    quote: str | None = None
    upper = text.upper()
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and upper.startswith(word, i):
            return i
    return -1


# The format's short spelling of format_type's long ones, by the parser's internal name.
_SHORT = {
    "varchar": "varchar",
    "bpchar": "char",
    "varbit": "varbit",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "timetz": "timetz",
    "time": "time",
}


def short_type(formatted: str, enums: set[str] | None = None) -> str:
    """format_type's spelling -> the format's short spelling ('character varying(20)[]' ->
    'varchar(20)[]'); a quoted enum name is unquoted when it names one of our enums."""
    try:
        t = statements.parse_type(formatted)
    except statements.StatementError:
        return formatted
    dims = "[]" * t.dims
    if t.schema == "pg_catalog" and t.name in _SHORT and not t.other_mods:
        mods = f"({','.join(map(str, t.mods))})" if t.mods else ""
        return _SHORT[t.name] + mods + dims
    if enums and t.schema is None and t.name in enums:
        return t.name + dims
    return formatted


def clean_body(body: str) -> str:
    """Leading blank lines, common indentation and trailing whitespace removed; one final
    newline for multi-line bodies (a block literal), none for one-line bodies."""
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    lines = [_expand_leading_tabs(line) for line in lines]
    text = textwrap.dedent("\n".join(lines))
    return text + "\n" if "\n" in text else text


def _expand_leading_tabs(line: str) -> str:
    stripped = line.lstrip(" \t")
    return line[: len(line) - len(stripped)].expandtabs(4) + stripped


# ------------------------------------------------------------------------------ inspection


class _Reader:
    def __init__(self, conn: psycopg2.extensions.connection, ns: int) -> None:
        self.conn = conn
        self.ns = ns

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(query, {"ns": self.ns})
            return list(cur.fetchall())


def inspect(url: DatabaseURL, schema_name: str = "public") -> Inspection:
    """Read one schema of the database at url into our YAML data."""
    conn = server.connect(url)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (schema_name,))
            found = cur.fetchone()
            if found is None:
                from .errors import BinduSchemaError

                raise BinduSchemaError(f"{url.safe}: there is no schema '{schema_name}'")
            cur.execute("SELECT set_config('search_path', quote_ident(%s), false)", (schema_name,))
            cur.execute("SHOW server_version_num")
            row = cur.fetchone()
            version = int(row[0]) if row else 0
        return _inspect(_Reader(conn, int(found[0])), schema_name, version)
    finally:
        conn.rollback()
        conn.close()


def _inspect(r: _Reader, schema_name: str, version: int) -> Inspection:
    """Each kind reads its objects, in registry order (a later kind may look at an
    earlier kind's section: triggers at the inspected functions)."""
    from . import kinds

    out = Inspection(data={}, schema_name=schema_name)
    state = kinds.base.InspectState(r.rows, schema_name, version, out.warnings.append)
    for kind in kinds.KINDS:
        state.sections[kind.key] = kind.inspect(state)
    data: dict[str, Any] = {"version": 1}
    for kind in kinds.KINDS:
        section = state.sections[kind.key]
        if section or kind.required:
            data[kind.key] = section or {}
    out.data = data
    return out


def compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A flow map when it fits on a line and has no multi-line text."""
    text = ", ".join(f"{k}: {v}" for k, v in entry.items())
    if "\n" in text or len(text) > 72:
        return entry
    return FlowMap(entry)


# ------------------------------------------------------------------------------------ YAML


class FlowMap(dict[str, Any]):
    """A mapping written in flow style: {type: uuid, nullable: false}."""


class FlowList(list[Any]):
    """A sequence written in flow style: [a, b]."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent block sequences under their key, as schema/bindu.yaml does.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif "'" in value:
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow_map(dumper: yaml.SafeDumper, value: FlowMap) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, value: FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(FlowMap, _represent_flow_map)
_Dumper.add_representer(FlowList, _represent_flow_list)
_Dumper.add_representer(dict, _represent_dict)


def dump(data: dict[str, Any]) -> str:
    """YAML text in the given key order; short entries as flow maps, bodies as literals."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )
    # Blank lines between top-level sections and between tables, as in schema/bindu.yaml.
    lines = text.splitlines()
    out: list[str] = []
    in_tables = False
    for line in lines:
        top = bool(line) and not line.startswith(" ")
        if top and out:
            out.append("")
        if top:
            in_tables = line.startswith("tables:")
        elif in_tables and re.match(r"^  \S", line) and not out[-1].endswith("tables:"):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def to_yaml(inspection: Inspection) -> str:
    header = (
        "# yaml-language-server: $schema=./bindu-schema.json\n"
        "#\n"
        f"# Generated by `bindu-schema inspect` from schema {inspection.schema_name}.\n"
        "# Review it before committing: see docs/schema-format.md for the format.\n"
    )
    if inspection.warnings:
        header += "#\n# Left out or changed (not expressible in the format):\n"
        header += "".join(f"#   - {' '.join(w.split())}\n" for w in inspection.warnings)
    return header + dump(inspection.data)
