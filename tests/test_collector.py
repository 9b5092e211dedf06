"""The CLI pauses Python's cyclic collector (collector.py); garbage made while compiling
is still collected, and the switch leaves the collector alone."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import atexit, gc, weakref
from bindu_schema import collector
# Registered first, so it runs last: after the collector's own exit handler.
atexit.register(lambda: print(gc.get_freeze_count() > 0))
collector.pause_for_command()
print(gc.isenabled())

class Node:
    pass

with collector.cycles_collected():
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the cyclic collector frees
    gone = weakref.ref(a)
    del a, b
print(gone() is None)
"""


def run_probe(**env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_the_cli_pauses_the_collector_and_collects_what_compiling_left():
    """... and at exit what is left is frozen (the final collection skips it)."""
    assert run_probe() == ["False", "True", "True"]


def test_the_switch_leaves_the_collector_on():
    on, _, frozen_at_exit = run_probe(BINDU_SCHEMA_GC_PAUSE="0")
    assert (on, frozen_at_exit) == ("True", "False")


def test_the_console_script_pauses_it():
    """main() (the bindu-schema script) pauses it before running the command."""
    code = (
        "import gc, sys\n"
        "from bindu_schema import cli\n"
        "cli.run = lambda argv: print(gc.isenabled()) or 0\n"
        "cli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["False"], done.stderr
