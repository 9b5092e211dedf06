"""The output-format registry (formats.py): every --format of every report resolves to a
renderer, the CLI offers exactly the registry's formats, and an unknown format is refused.
No server needed."""

from __future__ import annotations

import importlib
import json

import click
import pytest

from bindu_schema import formats
from bindu_schema.check import Check
from bindu_schema.cli import cli
from bindu_schema.errors import BinduSchemaError
from bindu_schema.planned import Plan, Statement
from bindu_schema.tenant_report import RolloutReport, TenantReport
from bindu_schema.tenants import TenantResult, TenantState, TenantStatus

REGISTRIES = {
    "plan": formats.PLAN,
    "check": formats.CHECK,
    "tenants": formats.TENANTS,
    "rollout": formats.ROLLOUT,
}
# The commands that print each report, and the registry their --format must offer.
COMMANDS = {
    ("plan",): formats.PLAN,
    ("revision",): formats.PLAN,
    ("check",): formats.CHECK,
    ("tenants",): formats.TENANTS,
    ("apply",): formats.ROLLOUT,
}


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_every_renderer_resolves_to_a_function(name):
    reg = REGISTRIES[name]
    assert reg.default == "text" and {"text", "json", "markdown"} <= set(reg.names)
    for where in reg.renderers.values():
        module, function = where.split(":")
        assert callable(getattr(importlib.import_module(f"bindu_schema.{module}"), function))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_the_cli_offers_exactly_the_registry_formats(path):
    cmd: click.Command = cli
    for part in path:
        assert isinstance(cmd, click.Group)
        found = cmd.get_command(click.Context(cmd), part)
        if found is None:
            pytest.fail(f"no command {part}")
        cmd = found
    (opt,) = [p for p in cmd.params if p.name == "fmt"]
    assert isinstance(opt.type, click.Choice)
    assert tuple(opt.type.choices) == COMMANDS[path].names
    assert opt.default == COMMANDS[path].default


def test_an_unknown_format_is_refused_with_the_choices():
    with pytest.raises(BinduSchemaError, match="no such format; use one of text, json, markdown"):
        formats.CHECK.render("yaml", [])


PLAN = Plan(
    target="postgresql://app@db/app",
    source_sha256="ab" * 32,
    statements=(Statement.of('alter table "t" add column "c" integer;'),),
)
CHECKS = [Check("heads", True, "one head"), Check("live", False, "drift", ("drop table x;",))]


@pytest.mark.parametrize(
    ("reg", "value", "needle"),
    [
        (formats.PLAN, PLAN, 'alter table "t" add column "c" integer'),
        (formats.CHECK, CHECKS, "drop table x;"),
    ],
)
def test_each_format_renders_the_report(reg, value, needle):
    for fmt in reg.names:
        text = reg.render(fmt, value)
        if fmt == "json":
            text = json.dumps(json.loads(text), ensure_ascii=False).replace('\\"', '"')
        assert needle in text, (fmt, text)


def _status(name: str, heads: tuple[str, ...], drift: tuple[str, ...] | None, error: str = ""):
    return TenantStatus(TenantState(name, True, bool(heads), heads, 4), drift, error)


def test_the_tenant_report_in_every_format():
    rows = (
        _status("did_a", ("h2",), ()),
        _status("did_b|x", ("h1",), ("alter table t add column c int;",)),
        _status("did_c", (), None, "permission denied for schema did_c\nmore"),
    )
    report = TenantReport("postgresql://app@db/app", "h2", rows, True)
    text = formats.TENANTS.render("text", report).splitlines()
    assert text[0].split() == ["did_a", "h2", "(head)", "no", "drift"]
    assert text[2].endswith("error: permission denied for schema did_c")
    assert text[-1] == "3 tenant schema(s); head h2"
    doc = json.loads(formats.TENANTS.render("json", report))
    assert [(t["schema"], t["at_head"], t["drift"]) for t in doc["tenants"]] == [
        ("did_a", True, False),
        ("did_b|x", False, True),
        ("did_c", False, None),
    ]
    md = formats.TENANTS.render("markdown", report)
    assert "**2 not at head**, **1 drifted**, **1 failed**" in md
    assert "| `did_b\\|x` | h1 | drift: 1 statement(s) |" in md.splitlines()


def test_the_rollout_report_in_every_format():
    import jsonschema
    from conftest import ROOT

    results = (
        TenantResult("did_a", "MIGRATED", ("h1",), ("h2",), seconds=0.5),
        TenantResult("did_b", "CURRENT", ("h2",), ("h2",), seconds=0.1),
        TenantResult("did_c", "FAILED", ("h1",), (), 'relation "x" already exists', ("y;",), 1.0),
        TenantResult("did_d", "CONVERTED", (), ("h2",), "brought to head (3 statements)"),
    )
    report = RolloutReport("postgresql://app@db/app", "h2", results, 2.25, 4)
    doc = json.loads(formats.ROLLOUT.render("json", report))
    schema = json.loads((ROOT / "docs" / "tenant-rollout.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["counts"] == {"MIGRATED": 1, "CONVERTED": 1, "CURRENT": 1, "FAILED": 1, "SKIPPED": 0}
    by = {t["schema"]: t for t in doc["tenants"]}
    assert by["did_c"]["error"].startswith("relation") and by["did_c"]["drift"] == ["y;"]
    assert by["did_d"]["note"] == "brought to head (3 statements)" and by["did_a"]["error"] is None
    text = formats.ROLLOUT.render("text", report).splitlines()
    assert text[0] == "did_a: h1 -> h2" and text[2].startswith("FAILED did_c: relation")
    assert text[-1] == "failed: did_c"
    md = formats.ROLLOUT.render("markdown", report)
    assert "**1 failed**" in md and "| `did_c` | h1 | relation" in md
