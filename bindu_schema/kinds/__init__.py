"""The registry of object kinds, in dependency order (docs/kinds.md).

Each kind is one module with a `KIND` (base.Kind); the orchestrators iterate over KINDS.
The published JSON Schema (schema/bindu-schema.json) is generated from the kinds'
fragments by json_schema(); `python -m bindu_schema.kinds > schema/bindu-schema.json`
(or `make schema-json`) writes it.
"""

from __future__ import annotations

import json
from typing import Any

from . import (
    base,
    composites,
    domains,
    enums,
    extensions,
    functions,
    grants,
    matviews,
    sequences,
    tables,
    views,
)

KINDS: tuple[base.Kind, ...] = (
    extensions.KIND,
    enums.KIND,
    domains.KIND,
    composites.KIND,
    functions.KIND,
    tables.KIND,
    views.KIND,
    sequences.KIND,
    matviews.KIND,
    grants.KIND,
)

EXCLUDE_KEY = "exclude"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the YAML file: the document keys and each kind's fragment."""
    properties: dict[str, Any] = {"version": {"const": 1}}
    for kind in KINDS:
        properties[kind.key] = kind.fragment()
    properties[EXCLUDE_KEY] = base.entry(
        {k.key: base.names_list(min_items=False) for k in KINDS if k.excludable}
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://bindu.invalid/bindu-schema.json",
        "title": "bindu-schema: declarative PostgreSQL schema for Bindu",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", *(k.key for k in KINDS if k.required)],
        "properties": properties,
    }


def json_schema_text() -> str:
    """json_schema() as committed in schema/bindu-schema.json."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def part_kinds() -> tuple[base.TablePart, ...]:
    """The parts of tables (columns, constraints, indexes, triggers)."""
    return tables.PARTS
