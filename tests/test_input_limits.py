"""Hostile schema files (issue 14, item 2): each stops at a limit of bindu_schema/limits.py
with file:line:column and exit 1, no traceback, and a small peak memory (the process's
own maximum resident set, read from the kernel: no timing).

The child runs under an address-space cap and a timeout only so that a regression fails
this test instead of taking the machine down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from bindu_schema import limits

PEAK_MB = 200
MEASURE = """\
import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\nPEAK_KB={peak_kb}\\n")
sys.exit(p.returncode)
"""


def billion_laughs(levels: int = 10) -> str:
    lines = ["version: 1", "tables: {}", 'l0: &l0 ["lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*l{i - 1}"] * 10)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "version: 1\ntables: " + "[" * depth + "]" * depth + "\n"


def long_number(digits: int) -> str:
    return (
        "version: 1\ntables:\n  t:\n    columns:\n"
        f"      id: {{type: numeric, default: {'9' * digits}}}\n"
    )


def many_columns(n: int) -> str:
    cols = "".join(f"      c{i}: {{type: integer}}\n" for i in range(n))
    return "version: 1\ntables:\n  t:\n    columns:\n" + cols


CASES: dict[str, tuple[str | None, str, str]] = {
    # name: (file text, or None for /dev/zero; expected line:col; message fragment)
    "dev_zero": (None, f"1:{limits.MAX_FILE_BYTES + 1}", "larger than 8 MB"),
    "billion_laughs": (billion_laughs(), "9:5", "expands to more than"),
    "nested_900": (nested(900), f"2:{8 + limits.MAX_DEPTH}", "nested more than 64 levels"),
    "nested_5000": (nested(5000), "2:", "nesting depth"),
    "recursive_alias": ("version: 1\ntables: {}\nx: &a [*a]\n", "3:4", "contains it"),
    "number_5000_digits": (long_number(5000), "5:36", "a number of 5,000 characters"),
    "too_many_columns": (many_columns(limits.MAX_COLUMNS + 1), "4:5", "at most 1,600"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused_small_and_located(tmp_path: Path, case: str) -> None:
    text, where, fragment = CASES[case]
    if text is None:
        path = Path("/dev/zero")
    else:
        path = tmp_path / f"{case}.yaml"
        path.write_text(text)
    argv = [sys.executable, "-m", "bindu_schema", "render", "--schema", str(path)]
    p = subprocess.run(
        [sys.executable, "-c", MEASURE, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BINDU_SCHEMA_CACHE": "0"},
    )
    err, _, peak = p.stderr.rpartition("PEAK_KB=")
    assert p.returncode == 1, p.stdout[:2000] + err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    assert err.startswith(f"error: {path}:{where}"), err[:2000]
    assert fragment in err, err[:2000]
    assert p.stdout == ""
    peak_mb = int(peak.strip()) / 1024
    assert peak_mb < PEAK_MB, f"{case}: peak {peak_mb:.0f} MB"


def test_limits_leave_room_for_a_real_schema() -> None:
    """The limits stay an order of magnitude above Bindu's own schema."""
    own = (ROOT / "schema" / "bindu.yaml").read_bytes()
    assert len(own) * 100 < limits.MAX_FILE_BYTES
    assert limits.MAX_COLUMNS == 1600
