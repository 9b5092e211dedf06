"""Tenant reports in each --format (text for a terminal, json for machines, markdown for a
CI job log): the `tenants` listing (revision and drift of each schema) and the rollout of
`apply --target-schema/--all-tenants` (what happened to each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .formats import Options
from .tenants import CONVERTED, CURRENT, FAILED, MIGRATED, SKIPPED, STATUSES

if TYPE_CHECKING:
    from .tenants import TenantResult, TenantStatus


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


# --------------------------------------------------------------- apply --all-tenants


@dataclass(frozen=True)
class RolloutReport:
    """What `apply --target-schema/--all-tenants` did, tenant by tenant."""

    database: str  # password hidden
    head: str | None
    results: tuple[TenantResult, ...]
    seconds: float
    jobs: int
    databases: tuple[tuple[str, str, int], ...] = ()  # (name, database, jobs) of each target

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.count(SKIPPED)


def rollout_line(r: TenantResult) -> str:
    """One tenant's line as `apply` prints it while the rollout runs."""
    before = ", ".join(r.before) or "(none)"
    after = ", ".join(r.after) or "(none)"
    if r.status == FAILED:
        text = f"FAILED {r.name}: {r.message}"
        return text + "".join(f"\n    {s}" for s in r.drift)
    if r.status == CURRENT:
        return f"{r.name}: already at head {after}"
    if r.status == SKIPPED:
        return f"{r.name}: skipped, {r.message} (still at {before})"
    extra = f" ({r.message})" if r.message else ""
    return f"{r.name}: {before} -> {after}{extra}"


def rollout_summary(r: RolloutReport) -> str:
    ok = r.count(MIGRATED) + r.count(CONVERTED)
    text = (
        f"tenants: {len(r.results)}; succeeded {ok} (migrated {r.count(MIGRATED)}, converted "
        f"{r.count(CONVERTED)}), failed {r.count(FAILED)}, already current "
        f"{r.count(CURRENT)}, skipped {r.count(SKIPPED)} [{r.seconds:.1f}s, {r.jobs} job(s)]"
    )
    return text + (f"\nfailed: {', '.join(r.failed)}" if r.failed else "")


def rollout_text(r: RolloutReport, options: Options | None = None) -> str:
    """Every tenant's line, then the summary (what `apply` streams, in one piece)."""
    return "\n".join([*(rollout_line(t) for t in r.results), rollout_summary(r)]) + "\n"


def rollout_json(r: RolloutReport, options: Options | None = None) -> str:
    """docs/tenant-rollout.schema.json (format_version 1)."""
    doc = {
        "format_version": 1,
        "database": r.database,
        "head": r.head,
        "seconds": round(r.seconds, 3),
        "jobs": r.jobs,
        "databases": [
            {
                "name": name,
                "database": db,
                "jobs": jobs,
                "tenants": sum(1 for t in r.results if t.database == db),
            }
            for name, db, jobs in r.databases
        ],
        "counts": {s: r.count(s) for s in STATUSES},
        "drift_checks": {
            how: sum(1 for t in r.results if t.drift_check == how)
            for how in ("fingerprint", "full")
        },
        "tenants": [
            {
                "database": t.database or r.database,
                "schema": t.name,
                "before": list(t.before),
                "after": list(t.after),
                "status": t.status,
                "seconds": t.seconds,
                "error": t.message if t.status == FAILED else None,
                "note": t.message if t.status != FAILED and t.message else None,
                "drift": list(t.drift),
                "drift_check": t.drift_check,
            }
            for t in r.results
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def rollout_markdown(r: RolloutReport, options: Options | None = None) -> str:
    """A summary for a CI job log: the counts, then the failed tenants with their errors."""
    lines = [
        "### bindu-schema apply (tenants)",
        "",
        f"`{_cell(r.database)}`, head `{r.head or '(none)'}`: {len(r.results)} tenant(s); "
        f"**{r.count(MIGRATED)} migrated**, **{r.count(CONVERTED)} converted**, "
        f"{r.count(CURRENT)} already current, **{r.count(FAILED)} failed**, "
        f"{r.count(SKIPPED)} skipped "
        f"({r.seconds:.1f} s, {r.jobs} job(s)).",
    ]
    if len(r.databases) > 1:
        lines += ["", "| database | jobs | tenants | failed | skipped |", "|" + " --- |" * 5]
        for name, db, jobs in r.databases:
            mine = [t for t in r.results if t.database == db]
            lines.append(
                f"| `{_cell(name)}` | {jobs} | {len(mine)} | "
                f"{sum(t.status == FAILED for t in mine)} | "
                f"{sum(t.status == SKIPPED for t in mine)} |"
            )
    failed = [t for t in r.results if t.status == FAILED]
    if failed:
        several = len(r.databases) > 1  # then each row names its database
        columns = ["database"] * several + ["schema", "before", "error"]
        lines += ["", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        lines += [
            (f"| {_cell(t.database)} " if several else "")
            + f"| `{_cell(t.name)}` | {_cell(', '.join(t.before) or '(none)')} | "
            f"{_cell(t.message.splitlines()[0] if t.message else '')} |"
            for t in failed
        ]
    return "\n".join(lines) + "\n"
