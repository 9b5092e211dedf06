"""Plan: the statements that take a live database to the desired schema.

A statement is data (sql + hazards), in the style of pg-schema-diff. Hazards are
filled in by hazards.py (a later issue); the field is here so the shape is stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

from . import (
    cache,
    catalog,
    differ,
    executor,
    hazards,
    lint,
    model,
    online,
    pgtools,
    renames,
    replica,
    server,
)
from . import compile as compiler
from .catalog import Facts
from .errors import BinduSchemaError
from .lint import Finding
from .settings import DatabaseURL


@dataclass(frozen=True)
class Statement:
    sql: str
    hazards: tuple[str, ...] = ()
    transactional: bool = True  # False for CONCURRENTLY: runs outside a transaction
    lint: tuple[Finding, ...] = ()


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
def desired_database(
    schema: model.Schema, dev: DatabaseURL, target_schema: str | None = None
) -> Iterator[DatabaseURL]:
    """A scratch database holding exactly the compiled YAML."""
    # Cloned from a cached template when the same DDL was loaded before (server.py).
    with server.scratch_with_ddl(dev, compiler.compile_schema(schema, target_schema)) as url:
        yield url


class PlanValidationError(BinduSchemaError):
    """The rehearsal of a plan on a copy of the database left differences behind."""

    def __init__(self, phase: str, leftover: list[str]) -> None:
        self.phase = phase
        self.leftover = leftover
        body = "\n".join(f"  {s}" for s in leftover)
        super().__init__(
            f"plan validation failed: after the {phase} the schema still differs; "
            f"nothing was written or applied. Remaining differences:\n{body}"
        )


def _statements(sqls: list[str], facts: Facts) -> tuple[Statement, ...]:
    return tuple(Statement(s, hazards.classify(s, facts), online.is_transactional(s)) for s in sqls)


def build(
    schema: model.Schema,
    live: DatabaseURL,
    dev: DatabaseURL,
    with_downgrade: bool = True,
    validate: bool = True,
    concurrently: bool = True,
    run_lint: bool = True,
    target_schema: str | None = None,
    desired: DatabaseURL | None = None,
) -> Plan:
    """Diff live -> YAML (and back), with renames, online DDL, hazards and a rehearsal.

    `desired`: a database already holding the compiled YAML (the caller's), so none is
    built here."""
    ns = target_schema or "public"
    ex = schema.exclude
    live_facts = catalog.read(live, ns)
    hints = renames.plan_renames(schema, live_facts, live.safe, target_schema)
    given = nullcontext(desired) if desired is not None else None
    with given or desired_database(schema, dev, target_schema) as desired:
        if hints:
            with replica.schema_copy(live, dev) as renamed:
                executor.run(renamed, [r.up for r in hints])
                up = [r.up for r in hints] + differ.diff(renamed, desired, ex, ns)
                down = (
                    (differ.diff(desired, renamed, ex, ns) + [r.down for r in reversed(hints)])
                    if with_downgrade
                    else []
                )
        else:
            up, down = differ.diff_both(live, desired, ex, ns, with_reverse=with_downgrade)
        desired_facts = catalog.read(desired, ns) if up else Facts()
        live_facts = hazards.without_dropped_tables(up, live_facts)
        if concurrently:
            up = online.rewrite(up, live_facts)
            down = online.rewrite(down, desired_facts)
        if validate and up:
            _rehearse(live, dev, desired, up, down, ex, ns)
    statements = _statements(up, live_facts)
    if run_lint:
        statements = _with_lint(statements)
    return Plan(
        statements=statements,
        downgrade=_statements(down, desired_facts),
        source_sha256=schema.source_sha256,
        target=live.safe,
    )


def _with_lint(statements: tuple[Statement, ...]) -> tuple[Statement, ...]:
    try:
        found = lint.lint([s.sql for s in statements], [s.transactional for s in statements])
    except lint.LintUnavailable as exc:
        raise BinduSchemaError(f"{exc}") from None
    return tuple(
        replace(s, lint=lint.merge(f, s.hazards)) for s, f in zip(statements, found, strict=True)
    )


# Statements per transaction in a rehearsal (a scratch copy needs no atomicity, and one
# transaction over a thousand-table plan runs out of max_locks_per_transaction).
REHEARSAL_BATCH = 200


def _rehearse(
    live: DatabaseURL,
    dev: DatabaseURL,
    desired: DatabaseURL,
    up: list[str],
    down: list[str],
    exclude: model.Exclude,
    ns: str = "public",
) -> None:
    """Apply up to a copy of live: must equal the YAML; then down: must equal live again.

    A rehearsal that passed is remembered (cache.py) under everything it depended on: the
    live schema as pg_dump prints it, both statement lists, the cached desired database
    (its DDL hash and the dev server's version) and the options. Failures are not kept."""
    dump = pgtools.dump_schema(live)
    token = server.immutable_token(desired)
    k = ""
    if token:
        parts = (pgtools.dump_identity(dump), "\0".join(up), "\0".join(down), repr(exclude), ns)
        k = cache.key("rehearsal", token, *parts)
        if cache.get("rehearsal", k) is True:
            return
    with replica.schema_copy(live, dev, dump) as copy:
        executor.run(copy, up, batch=REHEARSAL_BATCH)
        left = differ.diff(copy, desired, exclude, ns)
        if left:
            raise PlanValidationError("upgrade", left)
        if down:
            executor.run(copy, down, batch=REHEARSAL_BATCH)
            back = differ.diff(copy, live, exclude, ns)
            if back:
                raise PlanValidationError("downgrade", back)
    if k:
        cache.put("rehearsal", k, True)


def render_text(plan: Plan) -> str:
    if plan.empty:
        return f"-- No changes: {plan.target} matches the schema.\n"
    hazardous = sum(1 for s in plan.statements if s.hazards)
    lines = [
        f"-- Plan for {plan.target}: {len(plan.statements)} statement(s), {hazardous} with hazards",
        f"-- schema sha256 {plan.source_sha256}",
        "",
    ]
    for s in plan.statements:
        lines.append(s.sql.rstrip())
        for h in s.hazards:
            same = [f.rule for f in s.lint if f.same_as_hazard == h]
            also = f" [squawk: {', '.join(same)}]" if same else ""
            lines.append(f"--   hazard {h}: {hazards.EXPLANATIONS[h]}{also}")
        for f in s.lint:
            if f.same_as_hazard is None:
                lines.append(f"--   lint {f.text()}")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    """The documented JSON shape: docs/plan-output.schema.json (format_version 1)."""
    from .report import summary

    return (
        json.dumps(
            {
                "format_version": 1,
                "target": plan.target,
                "source_sha256": plan.source_sha256,
                "changes": not plan.empty,
                "summary": summary(plan.statements),
                "statements": [
                    {
                        "sql": s.sql,
                        "hazards": list(s.hazards),
                        "transactional": s.transactional,
                        "lint": [
                            {
                                "tool": "squawk",
                                "rule": f.rule,
                                "message": f.message,
                                "help": f.help,
                                "same_as_hazard": f.same_as_hazard,
                            }
                            for f in s.lint
                        ],
                    }
                    for s in plan.statements
                ],
            },
            indent=2,
        )
        + "\n"
    )
