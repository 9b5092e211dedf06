"""On/off switches read from the environment.

Every optimization of the edit loop has one (docs/performance.md lists them) so that a
bench ablation row or a user who suspects it can turn it off; all read the same way here.
"""

from __future__ import annotations

import os

OFF = ("0", "false", "no", "off")


def on(name: str) -> bool:
    """False when the variable `name` says 0, false, no or off (any case, spaces around
    ignored); true otherwise, unset included."""
    return os.environ.get(name, "1").strip().lower() not in OFF
