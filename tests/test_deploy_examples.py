"""docs/examples: the GitHub Actions workflow and the Kubernetes Job are valid YAML with
the structure docs/deploy.md describes, and every bindu-schema command and option and
every make target they use exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml
from conftest import ROOT

from bindu_schema.cli import cli

WORKFLOW = ROOT / "docs" / "examples" / "github-workflow.yml"
JOB = ROOT / "docs" / "examples" / "k8s-job.yaml"
DEPLOY = ROOT / "docs" / "deploy.md"


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_workflow_structure() -> None:
    wf = _load(WORKFLOW)
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert set(on) == {"pull_request", "push"}
    assert on["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    assert set(jobs) == {"check", "apply"}
    for job in jobs.values():
        assert job["runs-on"] == "ubuntu-latest"
        assert job["steps"], "a job without steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step

    check = jobs["check"]
    assert "pull_request" in check["if"]
    assert check["permissions"]["pull-requests"] == "write"
    runs = _runs(check)
    assert "make check" in runs
    assert "bindu-schema plan --format markdown" in runs
    assert check["steps"][-1]["run"] == "make check"  # the gate comes last
    poster = [
        s for s in check["steps"] if str(s.get("uses", "")).startswith("actions/github-script@")
    ]
    assert len(poster) == 1
    assert "createComment" in poster[0]["with"]["script"]
    assert "plan.md" in poster[0]["with"]["script"]

    apply = jobs["apply"]
    assert apply["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    (step,) = [s for s in apply["steps"] if s.get("run") == "make apply"]
    assert step["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    assert apply["concurrency"]["cancel-in-progress"] is False


def test_kubernetes_job_structure() -> None:
    job = _load(JOB)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"][:2] == ["bindu-schema", "apply"]
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "bindu-postgres",
        "key": "url",
    }
    assert "alembic upgrade head" in JOB.read_text()  # the seed's equivalent is named


def _commands_used(text: str) -> list[tuple[str, list[str]]]:
    found = []
    # A command is followed by an option, a closing quote or backtick, or the line's end
    # (so prose such as "bindu-schema in GitHub Actions" is not read as a command).
    pattern = r"bindu-schema[ ]+([a-z]+)((?:[ ]+--[a-z-]+(?:[ ]+[a-z]+)?)*)(?=[ ]*(?:$|[`\"',)]))"
    for m in re.finditer(pattern, text, re.M):
        found.append((m.group(1), re.findall(r"--[a-z-]+", m.group(2))))
    return found


def test_every_command_and_option_named_exists() -> None:
    text = WORKFLOW.read_text() + JOB.read_text() + DEPLOY.read_text()
    used = _commands_used(text) + [("apply", ["--schema"])]
    assert ("plan", ["--format"]) in used and ("apply", ["--backup"]) in used
    ctx = click.Context(cli)
    for name, options in used:
        command = cli.get_command(ctx, name)
        assert command is not None, f"bindu-schema {name} does not exist"
        known = {o for p in command.params for o in getattr(p, "opts", [])}
        for option in options:
            assert option in known, f"bindu-schema {name} has no {option}"
    plan = cli.get_command(ctx, "plan")
    assert plan is not None
    fmt = next(p for p in plan.params if p.name == "fmt")
    assert "markdown" in fmt.type.choices  # type: ignore[attr-defined]


def test_make_targets_used_exist() -> None:
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    for text in (WORKFLOW.read_text(), DEPLOY.read_text()):
        for target in re.findall(r"\bmake(?:\s+-C\s+\S+)?\s+([a-z]+)", text):
            assert target in targets, f"make {target} is not a Makefile target"


def test_deploy_doc_links_the_examples() -> None:
    doc = DEPLOY.read_text()
    for needle in (
        "examples/github-workflow.yml",
        "examples/k8s-job.yaml",
        "bindu-schema apply --backup",
        "alembic upgrade head",
        "plan-output.schema.json",
    ):
        assert needle in doc
