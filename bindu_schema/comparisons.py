"""migra's `differences`, with each pair of inspected objects compared once.

migra (migra/util.py) sorts two name -> object maps into added, removed, modified and
unmodified, comparing every common pair twice (`!=`, then `==`); a plan diffs both ways
(the upgrade and the downgrade), so each of a 1,000-table schema's ~30,000 pairs was
compared four times, each comparison walking every column (0.6 s of the first plan
after an edit). Here a pair is compared once per diff, and within `shared()` (one
forward and one reverse diff of the same two inspections) once for both: equality of
schemainspect's objects is symmetric (field by field), and nothing in a diff changes an
inspected object. The result is the same four ordered maps migra builds.

differ.py (the only module that imports migra) puts `differences` in migra's place;
BINDU_SCHEMA_SHARED_COMPARISONS=0 leaves migra's own function there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from . import switches

SHARED_COMPARISONS_ENV = "BINDU_SCHEMA_SHARED_COMPARISONS"

# (id(x), id(y)) -> (x, y, x == y); x and y are held so that their ids stay theirs.
_Memo = dict[tuple[int, int], tuple[Any, Any, bool]]
_memo: ContextVar[_Memo | None] = ContextVar("bindu_schema_comparisons", default=None)


def enabled() -> bool:
    return switches.on(SHARED_COMPARISONS_ENV)


def _equal(x: Any, y: Any, memo: _Memo | None) -> bool:
    if memo is None:
        return bool(x == y)
    hit = memo.get((id(x), id(y))) or memo.get((id(y), id(x)))
    if hit is not None and {id(hit[0]), id(hit[1])} == {id(x), id(y)}:
        return hit[2]
    same = bool(x == y)
    memo[(id(x), id(y))] = (x, y, same)
    return same


def differences(
    a: Mapping[Any, Any], b: Mapping[Any, Any], add_dependencies_for_modifications: bool = True
) -> tuple[OrderedDict[Any, Any], ...]:
    """migra.util.differences: (added, removed, modified, unmodified), each in key order;
    the last argument is accepted and unused, as in migra."""
    memo = _memo.get()
    a_keys, b_keys = set(a.keys()), set(b.keys())
    common = sorted(a_keys & b_keys)
    same = {k: _equal(a[k], b[k], memo) for k in common}
    return (
        OrderedDict((k, b[k]) for k in sorted(b_keys - a_keys)),
        OrderedDict((k, a[k]) for k in sorted(a_keys - b_keys)),
        OrderedDict((k, b[k]) for k in common if not same[k]),
        OrderedDict((k, b[k]) for k in common if same[k]),
    )


@contextmanager
def shared() -> Iterator[None]:
    """Diffs inside the block (of the same inspections, in this thread or context) compare
    each pair of objects once between them."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)
