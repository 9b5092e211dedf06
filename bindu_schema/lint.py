"""squawk (the `squawk-cli` wheel) on the upgrade SQL of a plan; findings join our hazards.

A squawk rule that says what one of the statement's hazards already says is dropped, so
every risk is shown once. Rules about things our runner already does (lock_timeout and
statement_timeout are set by env.py / apply; statements are not meant to be rerun) are
excluded rather than reported as noise.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import cache, hazards

EXCLUDED_RULES = ("prefer-robust-stmts", "require-lock-timeout", "require-statement-timeout")

# squawk rule -> the hazard that says the same thing.
SAME_AS_HAZARD: dict[str, str] = {
    "require-concurrent-index-creation": hazards.INDEX_BUILD,
    "adding-required-field": hazards.NOT_NULL_SCAN,
    "adding-not-nullable-field": hazards.NOT_NULL_SCAN,
    "ban-drop-column": hazards.DELETES_DATA,
    "ban-drop-table": hazards.DELETES_DATA,
    "changing-column-type": hazards.TABLE_REWRITE,
    "adding-field-with-default": hazards.TABLE_REWRITE,
    "constraint-missing-not-valid": hazards.CONSTRAINT_VALIDATION,
    "adding-foreign-key-constraint": hazards.CONSTRAINT_VALIDATION,
    "require-concurrent-index-deletion": hazards.ACQUIRES_ACCESS_EXCLUSIVE_LOCK,
    "disallowed-unique-constraint": hazards.INDEX_BUILD,
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    help: str = ""
    same_as_hazard: str | None = None  # set when a hazard of the statement says the same

    def text(self) -> str:
        return f"squawk {self.rule}: {self.message}" + (f" ({self.help})" if self.help else "")


class LintUnavailable(Exception):
    pass


def squawk_binary() -> str:
    local = Path(sys.prefix) / "bin" / "squawk"
    if local.exists():
        return str(local)
    found = shutil.which("squawk")
    if not found:
        raise LintUnavailable("squawk not found: pip install squawk-cli, or pass --no-lint")
    return found


def lint(statements: list[str], transactional: list[bool] | None = None) -> list[list[Finding]]:
    """Findings per statement (same order), before de-duplication against hazards.

    Transactional statements are linted together as one transaction (so squawk knows which
    tables are new); CONCURRENTLY statements, which run outside it, separately.
    """
    flags = transactional if transactional is not None else [True] * len(statements)
    per: list[list[Finding]] = [[] for _ in statements]
    for in_tx in (True, False):
        idx = [i for i, t in enumerate(flags) if t is in_tx]
        if idx:
            for i, found in zip(idx, _squawk([statements[i] for i in idx], in_tx), strict=True):
                per[i] = found
    return per


def _squawk(statements: list[str], in_transaction: bool) -> list[list[Finding]]:
    text_parts: list[str] = []
    starts: list[int] = []  # 0-based first line of each statement
    line = 0
    for sql in statements:
        body = sql.strip()
        if not body.endswith(";"):
            body += ";"
        starts.append(line)
        text_parts.append(body)
        line += body.count("\n") + 2
    args = [
        squawk_binary(),
        "--reporter",
        "json",
        "--stdin-filepath",
        "plan.sql",
        "--exclude",
        ",".join(EXCLUDED_RULES),
    ]
    if in_transaction:
        args.append("--assume-in-transaction")
    text = "\n\n".join(text_parts) + "\n"
    # squawk's verdict is a pure function of its binary, its arguments and the text.
    st = os.stat(args[0])
    k = cache.key("lint", f"{args[0]}:{st.st_size}:{st.st_mtime_ns}", "\0".join(args), text)
    out = cache.get("lint", k)
    if not isinstance(out, str):
        proc = subprocess.run(args, input=text, capture_output=True, text=True)
        out = proc.stdout.strip()
        if proc.returncode not in (0, 1) or not out.startswith("["):
            raise LintUnavailable(f"squawk failed: {proc.stderr.strip() or out[:200]}")
        cache.put("lint", k, out)
    per: list[list[Finding]] = [[] for _ in statements]
    for item in json.loads(out):
        ln = int(item.get("line", 0))
        idx = max(0, bisect.bisect_right(starts, ln) - 1)
        f = Finding(
            str(item.get("rule_name", "")),
            str(item.get("message", "")),
            str(item.get("help") or ""),
        )
        if f not in per[idx]:
            per[idx].append(f)
    return per


def merge(findings: list[Finding], statement_hazards: tuple[str, ...]) -> tuple[Finding, ...]:
    """Mark findings that repeat one of the statement's hazards (shown once, on the hazard)."""
    out = []
    for f in findings:
        same = SAME_AS_HAZARD.get(f.rule)
        out.append(Finding(f.rule, f.message, f.help, same if same in statement_hazards else None))
    return tuple(out)
