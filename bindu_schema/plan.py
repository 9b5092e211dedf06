"""Plan: the statements that take a live database to the desired schema.

A statement is data (sql + hazards), in the style of pg-schema-diff. Hazards are
filled in by hazards.py (a later issue); the field is here so the shape is stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import compile as compiler
from . import differ, model, server
from .settings import DatabaseURL


@dataclass(frozen=True)
class Statement:
    sql: str
    hazards: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    statements: tuple[Statement, ...]
    source_sha256: str
    target: str  # redacted URL
    downgrade: tuple[Statement, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.statements

    def sql(self) -> str:
        return "".join(s.sql.rstrip() + "\n\n" for s in self.statements)


@contextmanager
def desired_database(schema: model.Schema, dev: DatabaseURL,
                     target_schema: str | None = None) -> Iterator[DatabaseURL]:
    """A scratch database holding exactly the compiled YAML."""
    with server.scratch(dev) as url:
        server.load_ddl(url, compiler.compile_schema(schema, target_schema))
        yield url


def build(schema: model.Schema, live: DatabaseURL, dev: DatabaseURL,
          with_downgrade: bool = False) -> Plan:
    with desired_database(schema, dev) as desired:
        up = differ.diff(live, desired, schema.exclude)
        down = differ.diff(desired, live, schema.exclude) if with_downgrade else []
    return Plan(
        statements=tuple(Statement(s) for s in up),
        downgrade=tuple(Statement(s) for s in down),
        source_sha256=schema.source_sha256,
        target=live.safe,
    )


def render_text(plan: Plan) -> str:
    if plan.empty:
        return f"-- No changes: {plan.target} matches the schema.\n"
    lines = [f"-- Plan for {plan.target}: {len(plan.statements)} statement(s)",
             f"-- schema sha256 {plan.source_sha256}", ""]
    for s in plan.statements:
        for h in s.hazards:
            lines.append(f"-- hazard {h}")
        lines.append(s.sql.rstrip())
        lines.append("")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(
        {
            "format_version": 1,
            "target": plan.target,
            "source_sha256": plan.source_sha256,
            "changes": not plan.empty,
            "statements": [{"sql": s.sql, "hazards": list(s.hazards)} for s in plan.statements],
        },
        indent=2,
    ) + "\n"
