"""Output formats: one registry per kind of report (plan, check, tenants).

Each registry maps a `--format` name to the function that renders the report in it, and the
CLI takes its `--format` choices from the registry, so a format is added in one place and
every command that prints that report offers it. Renderers are named "module:function" and
imported on first use: the CLI builds its options from this leaf module without importing
the planner, the checker or the tenant code (command start-up stays fast).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BinduSchemaError

if TYPE_CHECKING:
    from .model import Schema


@dataclass(frozen=True)
class Options:
    """What a renderer may use beside the report itself."""

    schema: Schema | None = None  # the YAML's model: the plan's diagram and summary
    color: bool = False  # ANSI colors (text format on a terminal)


@dataclass(frozen=True)
class Formats:
    """The renderers of one kind of report, by --format name; the first is the default.
    Each renderer is a function (report, Options) -> str, named "module:function"."""

    report: str  # what is rendered, for messages: "plan", "check", "tenants"
    renderers: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.renderers)

    @property
    def default(self) -> str:
        return self.names[0]

    def render(self, fmt: str, value: Any, options: Options | None = None) -> str:
        try:
            where = self.renderers[fmt]
        except KeyError:
            raise BinduSchemaError(
                f"--format {fmt}: the {self.report} report has no such format; "
                f"use one of {', '.join(self.names)}"
            ) from None
        module, function = where.split(":")
        renderer = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        text: str = renderer(value, options or Options())
        return text


# plan and revision --dry-run: a Plan
PLAN = Formats(
    "plan",
    {"text": "report:as_text", "json": "report:as_json", "markdown": "report:as_markdown"},
)
# check and tenants check: a list of check.Check
CHECK = Formats(
    "check",
    {"text": "check:render_text", "json": "check:render_json", "markdown": "check:render_markdown"},
)
# tenants: a tenant_report.TenantReport
TENANTS = Formats(
    "tenants",
    {
        "text": "tenant_report:render_text",
        "json": "tenant_report:render_json",
        "markdown": "tenant_report:render_markdown",
    },
)
# apply --target-schema / --all-tenants: a tenant_report.RolloutReport
ROLLOUT = Formats(
    "apply (tenants)",
    {
        "text": "tenant_report:rollout_text",
        "json": "tenant_report:rollout_json",
        "markdown": "tenant_report:rollout_markdown",
    },
)
