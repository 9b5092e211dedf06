"""`bindu-schema check`: the CI gate. Each check is data (name, ok, message, diff).

1. the chain has one head;
2. the revisions replayed on a scratch database equal the YAML (no YAML edit without
   its revision);
3. every revision's downgrade returns the schema to the state before it;
4. no generated revision was edited by hand (its header records the statements' hash);
5. docs/schema.md's diagram is current (when the file exists);
6. with a target database: it is at head and has no drift from the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command

from . import differ, fidelity, model, revfile, server
from . import plan as planner
from .formats import Options
from .kinds import base
from .revision import (
    alembic_config,
    alembic_errors,
    current_heads,
    replay,
    script_directory,
)
from .settings import DatabaseURL


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    diff: tuple[str, ...] = field(default=())


def _hand_edits(script: Any) -> Check:
    edited: list[str] = []
    for rev in script.walk_revisions():
        path = Path(rev.path)
        found = revfile.read(path.read_text())
        if not found.generated or found.hand_edits_allowed:
            continue  # hand-written (alembic revision -m) or an accepted edit
        if found.statements_sha256 is None:
            edited.append(f"{path.name}: the header lost its statements sha256")
            continue
        try:
            up, down = revfile.recorded_statements(path)
        except revfile.NotPlainSQL as exc:
            edited.append(f"{path.name}: uses op.{exc} (not generated code)")
            continue
        if revfile.sql_sha256(up, down) != found.statements_sha256:
            edited.append(f"{path.name}: its statements differ from what was generated")
    if edited:
        return Check(
            "no hand edits",
            False,
            "revisions edited after generation (regenerate them with `bindu-schema revision`, "
            f"or add the line '{revfile.HAND_EDITS_ALLOWED}' to the docstring to accept the edit): "
            + "; ".join(edited),
        )
    return Check("no hand edits", True, "generated revisions match their recorded hashes")


def _heads(script: Any) -> Check:
    heads = sorted(script.get_heads())
    if len(heads) > 1:
        parents = {h: script.get_revision(h).down_revision for h in heads}
        detail = ", ".join(f"{h} (after {parents[h]})" for h in heads)
        return Check(
            "one head",
            False,
            f"generated/ has {len(heads)} heads: {detail}. Two branches each added a "
            "revision. Fix: delete the newer file(s) of your branch and run "
            "`bindu-schema revision -m ...` again on top of main, or run "
            "`alembic merge heads -m merge` if both must stay.",
        )
    return Check("one head", True, f"head {heads[0] if heads else '(no revisions)'}")


def _replay_matches_yaml(
    schema: model.Schema, schema_path: str | Path, ini: str | Path, dev: DatabaseURL
) -> Check:
    with server.scratch(dev) as replayed:
        replay(ini, replayed, schema_path)
        p = planner.build(
            schema,
            replayed,
            dev,
            with_downgrade=False,
            validate=False,
            run_lint=False,
            concurrently=False,
        )
    if p.statements or p.drift:
        return Check(
            "revisions match YAML",
            False,
            f"{schema_path} differs from the head of generated/ (a YAML edit without its "
            'revision?); run `make revision M="..."` and commit the file. The missing '
            "statements:",
            tuple(s.sql for s in p.statements) + p.drift,
        )
    return Check("revisions match YAML", True, "replaying generated/ gives the YAML")


def _downgrades(
    schema: model.Schema, schema_path: str | Path, ini: str | Path, dev: DatabaseURL
) -> Check:
    """Step through the chain: after upgrade k then downgrade -1, the schema equals k-1."""
    script = script_directory(alembic_config(ini))
    revs = list(reversed(list(script.walk_revisions())))
    with server.scratch(dev) as ref, server.scratch(dev) as probe:
        cfg_ref = alembic_config(ini, ref, schema_path)
        cfg_probe = alembic_config(ini, probe, schema_path)
        for rev in revs:
            with alembic_errors(probe):
                command.upgrade(cfg_probe, rev.revision)
                command.downgrade(cfg_probe, "-1")
            with base.declared(schema):  # kinds that compare only what the YAML declares
                left = differ.diff(probe, ref, schema.exclude) + fidelity.differences(
                    probe, ref, schema.exclude
                )
            if left:
                return Check(
                    "downgrades",
                    False,
                    f"the downgrade of {rev.revision} ({Path(rev.path).name}) does not return "
                    "the schema to the state before it; left behind:",
                    tuple(left),
                )
            with alembic_errors(probe):
                command.upgrade(cfg_probe, rev.revision)
                command.upgrade(cfg_ref, rev.revision)
    return Check(
        "downgrades", True, f"{len(revs)} revision(s): each downgrade restores the previous schema"
    )


def _diagram(schema: model.Schema, doc: Path) -> Check | None:
    if not doc.is_file():
        return None
    from . import diagram

    reason = diagram.check_doc(doc, schema)
    if reason:
        return Check(
            "diagram", False, f"{doc} is out of date ({reason}); run `bindu-schema diagram --write`"
        )
    return Check("diagram", True, f"{doc} is current")


def _live(
    schema: model.Schema,
    schema_path: str | Path,
    ini: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    script: Any,
) -> list[Check]:
    out = []
    heads = set(script.get_heads())
    current = set(current_heads(live))
    if current != heads:
        out.append(
            Check(
                "live at head",
                False,
                f"{live.safe} is at {', '.join(sorted(current)) or '(no revision)'}, head is "
                f"{', '.join(sorted(heads)) or '(none)'}; run `bindu-schema apply`",
            )
        )
    else:
        out.append(Check("live at head", True, f"{live.safe} is at head"))
    p = planner.build(
        schema, live, dev, with_downgrade=False, validate=False, run_lint=False, concurrently=False
    )
    if p.statements or p.drift:
        out.append(
            Check(
                "live has no drift",
                False,
                f"{live.safe} differs from {schema_path}:",
                tuple(s.sql for s in p.statements) + p.drift,
            )
        )
    else:
        out.append(Check("live has no drift", True, f"{live.safe} matches {schema_path}"))
    return out


def run_checks(
    schema: model.Schema,
    schema_path: str | Path,
    dev: DatabaseURL,
    ini: str | Path = "alembic.ini",
    live: DatabaseURL | None = None,
    doc: Path | None = Path("docs/schema.md"),
) -> list[Check]:
    script = script_directory(alembic_config(ini))
    checks = [_heads(script)]
    if checks[0].ok:
        checks.append(_replay_matches_yaml(schema, schema_path, ini, dev))
        checks.append(_downgrades(schema, schema_path, ini, dev))
    checks.append(_hand_edits(script))
    if doc is not None:
        d = _diagram(schema, doc)
        if d is not None:
            checks.append(d)
    if live is not None:
        checks.extend(_live(schema, schema_path, ini, live, dev, script))
    return checks


def render_text(checks: list[Check], options: Options | None = None) -> str:
    lines = []
    for c in checks:
        lines.append(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.message}")
        lines.extend(f"       {line}" for s in c.diff for line in s.splitlines())
    failed = sum(1 for c in checks if not c.ok)
    lines.append(f"{len(checks) - failed} of {len(checks)} checks passed")
    return "\n".join(lines) + "\n"


def render_json(checks: list[Check], options: Options | None = None) -> str:
    import json

    return (
        json.dumps(
            {
                "format_version": 1,
                "ok": all(c.ok for c in checks),
                "checks": [
                    {"name": c.name, "ok": c.ok, "message": c.message, "diff": list(c.diff)}
                    for c in checks
                ],
            },
            indent=2,
        )
        + "\n"
    )


def render_markdown(checks: list[Check], options: Options | None = None) -> str:
    lines = ["### bindu-schema check", "", "| check | result |", "|---|---|"]
    for c in checks:
        lines.append(f"| {c.name} | {'✅' if c.ok else '❌ ' + c.message.replace('|', '/')} |")
    for c in checks:
        if c.diff:
            lines += ["", f"**{c.name}**", "", "```sql", *c.diff, "```"]
    return "\n".join(lines) + "\n"
