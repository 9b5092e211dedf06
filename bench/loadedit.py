"""`loader.loads` after a one-table edit (issue 18), old code against new in one script.

    .venv/bin/python bench/loadedit.py [--tables 1000] [--runs 5] [--old ../main]
        [--ablate BINDU_SCHEMA_ENTRY_CACHE=0 ...] [--profile]

Each run is a fresh process, as the first `plan` after an edit is (with the CLI's GC
pause, collector.py, where the code has one): a process loads the previous YAML (warming
the on-disk caches, in a private BINDU_SCHEMA_HOME), then another imports the loader and
times `loads` of the YAML one column ahead (--profile: cProfile of it instead). With --old
(another checkout, e.g. main) and each --ablate (ours with one switch set), the same runs
alternate with ours, so the ratios are same-run ones. Timings only: nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import schemagen
from bindu_schema import cache, loader, server
import jsonschema, pglast
cache.tool_fingerprint()  # what `plan` does before loads() (load(): the file's cache key)
try:  # what cli.main does (BINDU_SCHEMA_GC_PAUSE), where the code has it
    from bindu_schema import collector
    collector.pause_for_command()
except ImportError:
    pass
n, step, profile = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
text = schemagen.edited(n, "column", step)
if profile:
    import cProfile, pstats
    pr = cProfile.Profile(); pr.enable(); loader.loads(text); pr.disable()
    pstats.Stats(pr, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    print(json.dumps(0.0))
else:
    t = time.perf_counter(); loader.loads(text); print(json.dumps(time.perf_counter() - t))
"""


def run(root: Path, n: int, step: int, home: Path, profile: bool, env: dict[str, str]) -> float:
    """Load step - 1 (the caches the previous edit left), then time step, in two processes."""
    py = str(root / ".venv" / "bin" / "python")
    if not Path(py).exists():
        py = sys.executable
    e = {**os.environ, **env, "BINDU_SCHEMA_HOME": str(home)}
    args = [py, "-c", _CHILD, str(root), str(HERE)]
    subprocess.run([*args, str(n), str(step - 1), "0"], env=e, check=True, capture_output=True)
    out = subprocess.run(
        [*args, str(n), str(step), "1" if profile else "0"],
        env=e,
        check=True,
        stdout=subprocess.PIPE,
        stderr=None if profile else subprocess.PIPE,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--old", type=Path, help="another checkout to compare with (e.g. main)")
    ap.add_argument("--profile", action="store_true", help="print cProfile of one run each")
    ap.add_argument(
        "--ablate", action="append", default=[], help="VAR=VALUE: ours with it, alternated"
    )
    a = ap.parse_args()
    ours = HERE.parent
    codes: list[tuple[str, Path, dict[str, str]]] = [("ours", ours, {})]
    for kv in a.ablate:
        var, _, value = kv.partition("=")
        codes.append((kv, ours, {var: value}))
    if a.old:
        codes.append(("old", a.old.resolve(), {}))
    times: dict[str, list[float]] = {label: [] for label, _, _ in codes}
    with tempfile.TemporaryDirectory(prefix="bindu-loadedit-") as tmp:
        for step in range(1, a.runs + 1):
            for n, (label, root, e) in enumerate(codes):
                home = Path(tmp) / str(n)
                times[label].append(run(root, a.tables, step, home, a.profile, e))
    print(f"{a.tables} tables, loads() after a one-column edit, {a.runs} runs each:")
    base = statistics.median(times["ours"])
    for label, ts in times.items():
        med = statistics.median(ts)
        print(
            f"  {label:32s} median {med:.3f} s, min {min(ts):.3f} s, ours / this {base / med:.2f} x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
