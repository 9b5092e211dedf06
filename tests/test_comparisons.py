"""comparisons.differences: migra's four ordered maps, each pair compared once per diff,
and once for both directions inside shared()."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import migra.util
from hypothesis import given
from hypothesis import strategies as st

from bindu_schema import comparisons


class Counted:
    """A value whose comparisons are counted (schemainspect's objects compare field by
    field; equality here is by `value`)."""

    calls = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        Counted.calls += 1
        return isinstance(other, Counted) and self.value == other.value

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


maps = st.dictionaries(st.text("abcde", max_size=2), st.integers(0, 2), max_size=12)


def counted(d: dict[str, int]) -> dict[str, Counted]:
    return {k: Counted(v) for k, v in d.items()}


def plain(out: tuple[Any, ...]) -> list[list[tuple[str, int]]]:
    return [[(k, v.value) for k, v in part.items()] for part in out]


@given(maps, maps)
def test_the_same_four_maps_as_migra(a: dict[str, int], b: dict[str, int]) -> None:
    x, y = counted(a), counted(b)
    assert plain(comparisons.differences(x, y)) == plain(migra.util.differences(x, y))
    with comparisons.shared():
        assert plain(comparisons.differences(x, y)) == plain(migra.util.differences(x, y))
        assert plain(comparisons.differences(y, x)) == plain(migra.util.differences(y, x))


@given(maps, maps)
def test_each_pair_compared_once_for_both_directions(a: dict[str, int], b: dict[str, int]) -> None:
    x, y = counted(a), counted(b)
    common = len(set(a) & set(b))
    Counted.calls = 0
    migra.util.differences(x, y)
    migra.util.differences(y, x)
    assert Counted.calls == 4 * common  # migra: != and == in each direction
    Counted.calls = 0
    comparisons.differences(x, y)
    assert Counted.calls == common
    Counted.calls = 0
    with comparisons.shared():
        comparisons.differences(x, y)
        comparisons.differences(y, x)
    assert Counted.calls == common


def test_installed_where_migra_looks_it_up_and_the_switch_leaves_migra_alone() -> None:
    probe = (
        "import migra.changes, migra.util\n"
        "from bindu_schema import differ, comparisons\n"
        "differ._import_migra()\n"
        "print(migra.changes.differences is comparisons.differences,"
        " migra.changes.differences is migra.util.differences)\n"
    )
    on = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    off = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, comparisons.SHARED_COMPARISONS_ENV: "0"},
    )
    assert on.stdout.split() == ["True", "False"], on.stderr
    assert off.stdout.split() == ["False", "True"], off.stderr
