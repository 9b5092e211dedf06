"""Split a change into revisions that a failed run can simply resume.

Alembic commits the transaction so far when a revision enters an autocommit block (for
CREATE INDEX CONCURRENTLY and VALIDATE CONSTRAINT). If the block then fails, the
transactional statements before it are committed but alembic_version is not moved, so
re-running `alembic upgrade head` repeats them ("column already exists"). A revision that
starts with its autocommit block has no such problem: the block is re-runnable (generated
revisions drop an index left behind by an interrupted build first) and what follows it
rolls back as a whole. So the change is split before every autocommit run that follows a
transactional statement; each part's version is committed before the next part's block.

Downgrades are assigned to the part whose upgrade first touches the same object (index,
constraint, column, table, by name, from each statement's parsed record); statements
naming nothing known go to the first part.
`revision` validates every step of the chain; if that fails it writes nothing (exit 1), never
one revision that mixes a transaction with CONCURRENTLY steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from .planned import Statement

Part = tuple[tuple[Statement, ...], tuple[Statement, ...]]  # (upgrade, downgrade)


def split(up: Sequence[Statement], down: Sequence[Statement]) -> list[Part]:
    """The parts, in order; one part (the whole change) when nothing needs splitting."""
    starts = [n for n in range(1, len(up)) if up[n - 1].transactional and not up[n].transactional]
    if not starts:
        return [(tuple(up), tuple(down))]
    bounds = [0, *starts, len(up)]
    ups = [tuple(up[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    first_touch: dict[str, int] = {}
    for k, part in enumerate(ups):
        for s in part:
            for key in s.record.keys:
                first_touch.setdefault(key, k)
    downs: list[list[Statement]] = [[] for _ in ups]
    for s in down:
        k = next((first_touch[key] for key in s.record.keys if key in first_touch), 0)
        downs[k].append(s)
    return [(u, tuple(d)) for u, d in zip(ups, downs, strict=True)]
