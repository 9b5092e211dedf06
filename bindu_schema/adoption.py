"""Adoption from Bindu's own revisions: a database that Bindu's hand-written migrations left
at one of its revisions (resources.BINDU_REVISIONS), whose schema is exactly that
revision's, is brought to the head of generated/ by a plan (shown first, consent as for
any plan), proved on a scratch copy, then run and stamped in one transaction under the
migration advisory lock. A database that matches none is told which is closest and how it
differs. The schemas are pg_dumps of what Bindu's revisions create
(tests/fixtures/bindu_revisions/generate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from . import (
    catalog,
    differ,
    executor,
    hazards,
    model,
    pgtools,
    policy,
    resources,
    server,
    tenancy,
)
from .errors import BinduSchemaError
from .planned import Plan, Statement
from .settings import DatabaseURL
from .statements import Record


@dataclass(frozen=True)
class Closest:
    name: str  # a Bindu revision, or "head" (the head of generated/)
    diff: tuple[str, ...]  # statements from the database to it


def load_revision(url: DatabaseURL, revision: str) -> None:
    """Bindu's schema at `revision` into an empty (scratch) database."""
    pgtools.restore_sql(url, resources.bindu_revision_sql(revision))


def closest(
    live: DatabaseURL,
    dev: DatabaseURL,
    at_head: DatabaseURL,
    exclude: model.Exclude,
    stamped: Sequence[str],
) -> Closest:
    """The Bindu revision (or the head) with the fewest statements from live to it; a tie
    goes to what alembic_version says, then to the newer."""
    found = [Closest("head", tuple(differ.diff(live, at_head, exclude)))]
    for rev in reversed(resources.BINDU_REVISIONS):
        with server.scratch(dev) as db:
            load_revision(db, rev)
            found.append(Closest(rev, tuple(differ.diff(live, db, exclude))))
    return min(found, key=lambda c: (len(c.diff), c.name not in stamped))


def matches(live: DatabaseURL, revision_db: DatabaseURL, exclude: model.Exclude) -> bool:
    return not differ.diff(live, revision_db, exclude) and not differ.diff(
        revision_db, live, exclude
    )


def plan_to_head(live: DatabaseURL, records: Sequence[Record]) -> tuple[Statement, ...]:
    facts = catalog.read(live)
    return tuple(Statement(r, hazards.classify(r, facts)) for r in records)


def check_consent(
    plan: Sequence[Statement], allowed: frozenset[str], block: frozenset[str] | None
) -> None:
    block = policy.blocked() if block is None else block
    bad = policy.refused([s.hazards for s in plan], allowed, block)
    if bad:
        items = [(plan[i].sql, list(plan[i].hazards)) for i in bad]
        message = policy.refusal_message("the adoption plan", items, allowed, block)
        raise policy.RefusedError(message)


def prove(
    revision_db: DatabaseURL, at_head: DatabaseURL, plan: Sequence[Statement], ex: model.Exclude
) -> None:
    """Run the plan on the scratch copy of the revision: it must then equal the head."""
    executor.run(revision_db, [s.record for s in plan])
    left = differ.diff(revision_db, at_head, ex)
    if left:
        raise BinduSchemaError(
            "the adoption plan does not reach the head of generated/ on a scratch copy; "
            "nothing changed. Left over:\n" + "\n".join(left)
        )


def run_and_stamp(live: DatabaseURL, plan: Sequence[Statement], script: ScriptDirectory) -> None:
    """The statements and `stamp --purge head`, one transaction, under the lock of env.py."""
    engine = sa.create_engine(live.sqlalchemy, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": tenancy.PUBLIC_LOCK_KEY})
            conn.commit()
            try:
                with conn.begin():
                    for s in plan:
                        # transactional statements only: the plan is built without CONCURRENTLY
                        conn.exec_driver_sql(s.sql.replace("%", "%%"))
                    # stamp --purge: Bindu's revision id means nothing to generated/
                    conn.exec_driver_sql("DELETE FROM public.alembic_version")
                    MigrationContext.configure(conn).stamp(script, "head")
            finally:
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": tenancy.PUBLIC_LOCK_KEY}
                )
                conn.commit()
    finally:
        engine.dispose()


def from_bindu_revision(
    schema: model.Schema,
    live: DatabaseURL,
    dev: DatabaseURL,
    at_head: DatabaseURL,
    records: Sequence[Record],
    revision: str,
    script: ScriptDirectory,
    allowed: frozenset[str],
    block: frozenset[str] | None,
    show: Callable[[Plan], None] | None,
) -> tuple[Statement, ...] | None:
    """Adopt live, stamped `revision` (one of Bindu's): None when its schema is not that
    revision's; else the statements run (after showing the plan and checking consent)."""
    with server.scratch(dev) as revision_db:
        load_revision(revision_db, revision)
        if not matches(live, revision_db, schema.exclude):
            return None
        plan = plan_to_head(live, records)
        if show is not None:
            show(Plan(plan, schema.source_sha256, f"{live.safe} (Bindu's revision {revision})"))
        check_consent(plan, allowed, block)
        prove(revision_db, at_head, plan, schema.exclude)
    run_and_stamp(live, plan, script)
    return plan
