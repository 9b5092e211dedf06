"""Plans for people: the pull-request markdown, the summary of what changes, colored text.

- `summary(statements)` counts statements per object type and action, read from each
  statement's parsed record (statements.py). It is part of the JSON output
  (docs/plan-output.schema.json) and of the markdown table.
- `render_markdown(plan, schema)` is a pull-request comment: title, summary table,
  hazards first, the SQL in a fenced block, then a Mermaid diagram of the tables the plan
  touches with the changed columns marked.
- `render_text(plan, color)` is `plain_text` with hazard lines colored (red for
  DELETES_DATA, yellow for the others) and the SQL left plain; `use_color` decides from
  --color, NO_COLOR, TERM=dumb and whether the stream is a terminal.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from . import diagram, formats, hazards, model, statements
from .formats import Options
from .statements import Record

if TYPE_CHECKING:
    from .lint import Finding
    from .planned import Plan, Statement

OBJECT_TYPES = statements.OBJECT_TYPES
ACTIONS = statements.ACTIONS


@dataclass(frozen=True)
class Change:
    """What one statement does: object type, action, and the table/column it touches."""

    object_type: str
    action: str
    table: str | None = None
    column: str | None = None
    note: str | None = None  # for columns: added / changed / renamed / comment / dropped


def classify(rec: Record, index_tables: Mapping[str, str] | None = None) -> Change:
    """The object type and action of one parsed statement (and the table and column it
    touches). `index_tables` maps the names of objects whose statements do not name their
    table (DROP/ALTER INDEX, index comments) to the table (kinds' owners())."""
    from . import kinds

    owners = index_tables or {}
    otype = rec.object_type if rec.object_type in OBJECT_TYPES else "other"
    for kind in kinds.KINDS:
        found = kind.change(rec, otype, owners)
        if found is not None:
            return Change(*found)
    return Change(otype, rec.action)


def summary(
    statements: Iterable[Statement], index_tables: Mapping[str, str] | None = None
) -> dict[str, dict[str, int]]:
    """{object type: {create: n, alter: n, drop: n}} for every object type (zeros included,
    so the shape is stable)."""
    out = {t: dict.fromkeys(ACTIONS, 0) for t in OBJECT_TYPES}
    for s in statements:
        c = classify(s.record, index_tables)
        out[c.object_type][c.action] += 1
    return out


def _index_tables(schema: model.Schema | None) -> dict[str, str]:
    """{object name: table} for the objects whose statements do not name their table."""
    from . import kinds

    if schema is None:
        return {}
    return {k: v for kind in kinds.KINDS for k, v in kind.owners(schema).items()}


# -------------------------------------------------------------------------------- markdown


def _strip_comments(sql: str) -> str:
    lines = [ln for ln in sql.strip().splitlines() if not ln.lstrip().startswith("--")]
    return "\n".join(lines).strip()


def _longest_run(text: str, ch: str) -> int:
    return max((len(list(g)) for k, g in itertools.groupby(text) if k == ch), default=0)


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    longest = _longest_run(text, "`")
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(text: str, lang: str) -> str:
    longest = max(_longest_run(text, "`"), 2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}\n"


def _first_line(sql: str, limit: int = 120) -> str:
    text = " ".join(_strip_comments(sql).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _md_escape(text: str) -> str:
    """Keep explanations and squawk messages from turning into HTML, links or emphasis
    (their `code` spans are kept: squawk writes markdown)."""
    return re.sub(r"([\\*<>|\[\]])", r"\\\1", text)


def _hazard_notes(s: Statement) -> list[tuple[str, list[str]]]:
    """Each hazard of a statement with the squawk rules that say the same thing."""
    return [(h, [f.rule for f in s.lint if f.same_as_hazard == h]) for h in s.hazards]


def _own_lint(s: Statement) -> list[Finding]:
    """The squawk findings that no hazard already names."""
    return [f for f in s.lint if f.same_as_hazard is None]


def render_markdown(
    plan: Plan, schema: model.Schema | None = None, diagram_of_touched_tables: bool = True
) -> str:
    """A pull-request comment for the plan (GitHub-flavoured markdown)."""
    head = "### bindu-schema plan"
    target = _code(plan.target)
    sha = _code(plan.source_sha256[:12]) if plan.source_sha256 else "(none)"
    if plan.clean:
        return f"{head}\n\nNo changes: {target} matches the schema (sha256 {sha}).\n"
    if plan.empty:
        return "\n".join([head, "", *_md_findings(plan)]).rstrip("\n") + "\n"
    stmts = plan.statements
    risky = [(n, s) for n, s in enumerate(stmts, 1) if s.hazards]
    linted = [(n, s) for n, s in enumerate(stmts, 1) if not s.hazards and _own_lint(s)]
    out = [
        head,
        "",
        f"Target {target}, schema sha256 {sha}: **{len(stmts)} statement(s)**, "
        f"**{len(risky)} with hazards**.",
        "",
        "| Object | Create | Alter | Drop |",
        "| --- | ---: | ---: | ---: |",
    ]
    index_tables = _index_tables(schema)
    counts = summary(stmts, index_tables)
    for otype in OBJECT_TYPES:
        row = counts[otype]
        if any(row.values()):
            out.append(f"| {otype} | {row['create']} | {row['alter']} | {row['drop']} |")
    out.append("")
    if risky:
        out += [f"#### Hazards ({len(risky)} statement(s))", ""]
        for n, s in risky:
            out.append(f"**Statement {n}**: {_code(_first_line(s.sql))}")
            out.append("")
            for h, same in _hazard_notes(s):
                also = f" (squawk: {', '.join(_code(r) for r in same)})" if same else ""
                out.append(f"- **{h}**: {_md_escape(hazards.EXPLANATIONS.get(h, h))}{also}")
            for f in _own_lint(s):
                out.append(f"- squawk {_code(f.rule)}: {_md_escape(f.message)}")
            out.append("")
    else:
        out += ["No hazards.", ""]
    if linted:
        out += ["#### Lint", ""]
        for n, s in linted:
            out.append(f"**Statement {n}**: {_code(_first_line(s.sql))}")
            out.append("")
            for f in _own_lint(s):
                help_text = f" {_md_escape(f.help)}" if f.help else ""
                out.append(f"- squawk {_code(f.rule)}: {_md_escape(f.message)}{help_text}")
            out.append("")
    out += _md_findings(plan)
    out += ["#### SQL", "", _fence(_numbered_sql(stmts), "sql")]
    if diagram_of_touched_tables and schema is not None:
        out += _touched_diagram(stmts, schema, index_tables)
    return "\n".join(out).rstrip("\n") + "\n"


def _md_findings(plan: Plan) -> list[str]:
    """Drift (needs a human) and notes (fidelity.py), when there are any."""
    out: list[str] = []
    for title, lines in (("Drift the schema cannot declare", plan.drift), ("Notes", plan.notes)):
        if lines:
            out += [f"#### {title} ({len(lines)})", ""]
            out += [f"- {_md_escape(line)}" for line in lines]
            out.append("")
    return out


def _numbered_sql(stmts: Iterable[Statement]) -> str:
    parts = []
    for n, s in enumerate(stmts, 1):
        notes = []
        if s.hazards:
            notes.append("hazards: " + ", ".join(s.hazards))
        if not s.transactional:
            notes.append("runs outside a transaction")
        label = f"-- {n}" + (f" ({'; '.join(notes)})" if notes else "")
        body = s.sql.rstrip()
        parts.append(f"{label}\n{body if body.endswith(';') else body + ';'}")
    return "\n\n".join(parts)


def touched(
    stmts: Iterable[Statement], schema: model.Schema, index_tables: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, dict[str, str]], list[str], list[str], list[str]]:
    """(tables in the YAML the plan touches, column marks, new tables, dropped tables,
    dropped columns as table.column)."""
    in_yaml = {t.name for t in schema.tables}
    tables: list[str] = []
    marks: dict[str, dict[str, str]] = {}
    new: list[str] = []
    dropped: list[str] = []
    dropped_cols: list[str] = []
    for s in stmts:
        c = classify(s.record, index_tables)
        if c.table is None:
            continue
        if c.object_type == "table" and c.action == "drop":
            if c.table not in in_yaml and c.table not in dropped:
                dropped.append(c.table)
            continue
        if c.object_type == "table" and c.action == "create" and c.table not in new:
            new.append(c.table)
        if c.column and c.note == "dropped":
            dropped_cols.append(f"{c.table}.{c.column}")
        elif c.column and c.note:
            marks.setdefault(c.table, {}).setdefault(c.column, c.note)
        if c.table in in_yaml and c.table not in tables:
            tables.append(c.table)
    order = [t.name for t in schema.tables if t.name in tables]
    return order, marks, new, dropped, dropped_cols


def _touched_diagram(
    stmts: tuple[Statement, ...], schema: model.Schema, index_tables: Mapping[str, str]
) -> list[str]:
    tables, marks, new, dropped, dropped_cols = touched(stmts, schema, index_tables)
    out: list[str] = []
    if tables:
        out += [
            "#### Tables touched",
            "",
            diagram.fenced(diagram.render(schema, tables, marks)).rstrip("\n"),
            "",
        ]
    notes = [
        (label, items)
        for label, items in (
            ("New tables", new),
            ("Dropped tables", dropped),
            ("Dropped columns", dropped_cols),
        )
        if items
    ]
    for label, items in notes:
        out.append(f"{label}: {', '.join(_code(i) for i in items)}.")
    if notes:
        out.append("")
    return out


# ------------------------------------------------------------------------------ color text

RESET = "\033[0m"
RED = "\033[31m"
YELLOW = "\033[33m"
GREEN = "\033[32m"
DIM = "\033[2m"
BOLD_RED = "\033[1;31m"


def use_color(mode: str, stream: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """--color always|never|auto; auto is on only for a terminal without NO_COLOR or
    TERM=dumb (https://no-color.org: any non-empty NO_COLOR turns color off)."""
    env = os.environ if environ is None else environ
    if mode == "always":
        return True
    if mode == "never":
        return False
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colorize(text: str) -> str:
    """Color the comment lines of plain_text's output; SQL lines stay plain."""
    out = []
    for line in text.split("\n"):
        if line.startswith(f"--   hazard {hazards.DELETES_DATA}"):
            out.append(f"{BOLD_RED}{line}{RESET}")
        elif line.startswith("--   hazard "):
            out.append(f"{YELLOW}{line}{RESET}")
        elif line.startswith("--   lint "):
            out.append(f"{YELLOW}{line}{RESET}")
        elif line.startswith("-- No changes"):
            out.append(f"{GREEN}{line}{RESET}")
        elif line.startswith("-- Plan for ") or line.startswith("-- schema sha256"):
            out.append(f"{DIM}{line}{RESET}")
        else:
            out.append(line)
    return "\n".join(out)


def plain_text(plan: Plan) -> str:
    """The plan as SQL with its hazards and lint findings as comments."""
    findings = [f"-- drift: {d}" for d in plan.drift] + [f"-- note: {n}" for n in plan.notes]
    if plan.clean:
        return "\n".join([f"-- No changes: {plan.target} matches the schema.", *findings]) + "\n"
    if plan.empty:
        return "\n".join([f"-- Drift in {plan.target}, for a human:", *findings]) + "\n"
    hazardous = sum(1 for s in plan.statements if s.hazards)
    lines = [
        f"-- Plan for {plan.target}: {len(plan.statements)} statement(s), {hazardous} with hazards",
        f"-- schema sha256 {plan.source_sha256}",
        *findings,
        "",
    ]
    for s in plan.statements:
        lines.append(s.sql.rstrip())
        for h, same in _hazard_notes(s):
            also = f" [squawk: {', '.join(same)}]" if same else ""
            lines.append(f"--   hazard {h}: {hazards.EXPLANATIONS[h]}{also}")
        lines += [f"--   lint {f.text()}" for f in _own_lint(s)]
        lines.append("")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    """The documented JSON shape: docs/plan-output.schema.json (format_version 1)."""
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
                "drift": list(plan.drift),
                "notes": list(plan.notes),
            },
            indent=2,
        )
        + "\n"
    )


def render_text(plan: Plan, color: bool = False) -> str:
    """plain_text, colored when asked."""
    text = plain_text(plan)
    return colorize(text) if color else text


# The plan's renderers as formats.PLAN names them: (plan, Options) -> text.
def as_text(plan: Plan, o: Options) -> str:
    return render_text(plan, color=o.color)


def as_json(plan: Plan, o: Options) -> str:
    return render_json(plan)


def as_markdown(plan: Plan, o: Options) -> str:
    return render_markdown(plan, o.schema)


def render(plan: Plan, schema: model.Schema, fmt: str, color: bool = False) -> str:
    """The plan in the --format the user chose: json, markdown or (colored) text."""
    return formats.PLAN.render(fmt, plan, Options(schema, color))
