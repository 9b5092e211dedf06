"""The `tenants` listing as a report: every tenant schema with its revision and drift, in
each --format (text for a terminal, json for machines, markdown for a CI job log)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .formats import Options

if TYPE_CHECKING:
    from .tenants import TenantStatus


@dataclass(frozen=True)
class TenantReport:
    where: str  # the database, password hidden
    head: str | None  # the head of generated/
    rows: tuple[TenantStatus, ...]
    drift_checked: bool

    def at_head(self, s: TenantStatus) -> bool:
        return s.state.heads == ((self.head,) if self.head else ())


def _revision(r: TenantReport, s: TenantStatus) -> str:
    st = s.state
    if not st.exists:
        return "(unreadable)" if s.error else "(missing)"
    if not st.versioned:
        return f"(unversioned, {st.tables} tables)" if st.tables else "(empty)"
    return (", ".join(st.heads) or "(none)") + (" (head)" if r.head and r.at_head(s) else "")


def _drift(r: TenantReport, s: TenantStatus) -> str:
    if s.error:
        return f"error: {s.error.splitlines()[0]}"
    if s.drift is None:
        return "" if r.drift_checked else "drift not checked"
    return f"drift: {len(s.drift)} statement(s)" if s.drift else "no drift"


def render_text(r: TenantReport, options: Options | None = None) -> str:
    if not r.rows:
        return f"no tenant schemas in {r.where}\n"
    width = max(len(s.state.name) for s in r.rows)
    lines = [
        f"{s.state.name:<{width}}  {_revision(r, s):<30}  {_drift(r, s)}".rstrip() for s in r.rows
    ]
    lines.append(f"{len(r.rows)} tenant schema(s); head {r.head or '(none)'}")
    return "\n".join(lines) + "\n"


def render_json(r: TenantReport, options: Options | None = None) -> str:
    doc = [
        {
            "schema": s.state.name,
            "exists": s.state.exists,
            "revision": list(s.state.heads),
            "at_head": r.at_head(s),
            "tables": s.state.tables,
            "drift": None if s.drift is None else bool(s.drift),
            "statements": list(s.drift or ()),
            "error": s.error or None,
        }
        for s in r.rows
    ]
    return json.dumps({"head": r.head, "tenants": doc}, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def render_markdown(r: TenantReport, options: Options | None = None) -> str:
    """A summary for a CI job log or a pull request: counts first, then one row a tenant."""
    behind = sum(1 for s in r.rows if s.state.exists and not r.at_head(s))
    drifted = sum(1 for s in r.rows if s.drift)
    failed = sum(1 for s in r.rows if s.error)
    lines = [
        "### bindu-schema tenants",
        "",
        f"{len(r.rows)} tenant schema(s) in `{_cell(r.where)}`; head `{r.head or '(none)'}`: "
        f"**{behind} not at head**, **{drifted} drifted**, **{failed} failed**.",
    ]
    if r.rows:
        lines += ["", "| schema | revision | drift |", "| --- | --- | --- |"]
        lines += [
            f"| `{_cell(s.state.name)}` | {_cell(_revision(r, s))} | {_cell(_drift(r, s))} |"
            for s in r.rows
        ]
    return "\n".join(lines) + "\n"
