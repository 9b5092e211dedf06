"""apply (alembic upgrade head + drift check, optional pg_dump backup) and adopt.

The advisory lock and the lock_timeout / statement_timeout settings live in
generated/env.py, so `bindu-schema apply` and a plain `alembic upgrade head` behave the
same. Defaults (docs/revisions.md): lock_timeout 5s, statement_timeout 15min,
advisory_lock_timeout 10min.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alembic import command

from . import differ, fidelity, model, pgtools, policy, resources, retry, revfile, server
from . import plan as planner
from .errors import BinduSchemaError, DatabaseError
from .kinds import base
from .planned import Plan, Statement
from .revision import (
    DEFAULT_CONFIG,
    alembic_config,
    alembic_errors,
    current_heads,
    replay,
    script_directory,
    single_head,
)
from .settings import DatabaseURL

HEADS_AT_LOCK = "bindu_schema.heads_at_lock"  # set by generated/env.py


def dump(url: DatabaseURL, file: Path) -> Path:
    """pg_dump the database to file with the wheel's pg_dump (the password goes through
    PGPASSWORD only)."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BinduSchemaError(f"--backup {file}: {exc.strerror}; nothing was applied") from None
    try:
        pgtools.run("pg_dump", ["--format=plain", "--file", str(file)], url)
    except DatabaseError as exc:
        raise BinduSchemaError(f"{exc}; nothing was applied") from None
    return file


@dataclass(frozen=True)
class ApplyResult:
    before: str | None
    after: str | None
    drift: tuple[str, ...]  # statements from the live database to the YAML; empty = none
    backup: Path | None


def _one(heads: tuple[str, ...]) -> str | None:
    return ", ".join(heads) if heads else None


def check_known(heads: tuple[str, ...], ini: str | Path, url: DatabaseURL) -> None:
    script = script_directory(alembic_config(ini))
    known = {r.revision for r in script.walk_revisions()}
    unknown = [h for h in heads if h not in known]
    if unknown:
        bindu = [h for h in unknown if h in resources.BINDU_REVISIONS]
        todo = (
            f"{', '.join(bindu)} is Bindu's own revision: run `bindu-schema adopt` once (it "
            "shows the plan to head, runs it and stamps; docs/integrating-bindu.md), then apply"
            if bindu
            else "if the database was built by Bindu's migrations, run `bindu-schema adopt` "
            "(it says which of Bindu's revisions the schema is closest to); otherwise check "
            "--database-url and generated/"
        )
        raise BinduSchemaError(
            f"{url.safe}: alembic_version holds {', '.join(unknown)}, a revision unknown to "
            f"generated/; {todo}"
        )


def pending_revisions(heads: tuple[str, ...], ini: str | Path) -> list[Any]:
    """Revisions `upgrade head` would run, oldest first (the chain has one head)."""
    script = script_directory(alembic_config(ini))
    done: set[str] = set()
    for h in heads:
        done |= {r.revision for r in script.iterate_revisions(h, "base")}
    pending = [r for r in script.iterate_revisions("heads", "base") if r.revision not in done]
    return list(reversed(pending))


def check_consent(
    heads: tuple[str, ...],
    ini: str | Path,
    allowed: frozenset[str],
    block: frozenset[str] | None = None,
) -> None:
    """Refuse (exit 3) when a pending revision carries a blocked hazard not allowed."""
    block = policy.blocked() if block is None else block
    items: list[tuple[str, list[str]]] = []
    for rev in pending_revisions(heads, ini):
        for sql, names in revfile.read(Path(rev.path).read_text()).hazards:
            items.append((f"-- revision {rev.revision}\n{sql}", list(names)))
    bad = policy.refused([hs for _, hs in items], allowed, block)
    if bad:
        raise policy.RefusedError(
            policy.refusal_message("the pending revisions", [items[i] for i in bad], allowed, block)
        )


def apply(
    schema: model.Schema,
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    ini: str | Path = DEFAULT_CONFIG,
    backup: Path | None = None,
    log: IO[str] | None = None,
    allowed_hazards: frozenset[str] = frozenset(),
    blocked_hazards: frozenset[str] | None = None,
    lock_tries: int = retry.DEFAULT_TRIES,
    **timeouts: str,
) -> ApplyResult:
    """`alembic upgrade head` on live (env.py: advisory lock + timeouts), then drift check.
    A run that fails on lock_timeout is rolled back and tried again (retry.py)."""
    before = current_heads(live)
    check_known(before, ini, live)
    check_consent(before, ini, allowed_hazards, blocked_hazards)
    written = dump(live, backup) if backup is not None else None
    cfg = alembic_config(ini, live, schema_path, settings=timeouts)
    first_heads: list[tuple[str, ...]] = []

    def upgrade() -> None:
        try:
            command.upgrade(cfg, "head")
        finally:  # where the first try started, even when it was rolled back and retried
            if HEADS_AT_LOCK in cfg.attributes and not first_heads:
                first_heads.append(tuple(cfg.attributes[HEADS_AT_LOCK]))

    def say(message: str) -> None:
        if log is not None:
            log.write(message + "\n")
            log.flush()

    with alembic_errors(live, log_to=log):
        retry.run(upgrade, retry.Backoff(tries=lock_tries), say)
    # env.py records where the run started once it held the advisory lock: when another
    # apply ran first, that is where it left the database, not what was read above.
    before = first_heads[0] if first_heads else before
    after = current_heads(live)
    drift = planner.build(schema, live, dev, with_downgrade=False, validate=False, run_lint=False)
    found = tuple(s.sql for s in drift.statements) + drift.drift
    return ApplyResult(_one(before), _one(after), found, written)


@dataclass(frozen=True)
class AdoptResult:
    adopted: bool
    before: tuple[str, ...]
    head: str | None
    diff: tuple[str, ...]
    message: str
    # From one of Bindu's revisions: the statements run before the stamp.
    ran: tuple[Statement, ...] = ()
    # Not adopted: what `diff` leads to ("head", or the closest of Bindu's revisions).
    diff_to: str = "head"


def adopt(
    schema_path: str | Path,
    live: DatabaseURL,
    dev: DatabaseURL,
    ini: str | Path = DEFAULT_CONFIG,
    allowed_hazards: frozenset[str] = frozenset(),
    blocked_hazards: frozenset[str] | None = None,
    show: Callable[[Plan], None] | None = None,
) -> AdoptResult:
    """Stamp head (purging a foreign alembic_version) if live equals the head of generated/;
    from one of Bindu's revisions whose schema it has, run the plan to head and stamp
    (adoption.py); else say which of them is closest and what differs."""
    from . import adoption, loader

    schema = loader.load(schema_path)
    script = script_directory(alembic_config(ini))
    head = single_head(script)
    if head is None:
        raise BinduSchemaError("generated/ has no revisions; run `bindu-schema revision` first")
    before = current_heads(live)
    known = {r.revision for r in script.walk_revisions()}
    if before and all(h in known for h in before):
        where = "at head" if before == (head,) else f"at {', '.join(before)}"
        return AdoptResult(
            False,
            before,
            head,
            (),
            f"already managed by generated/ ({where}); nothing to adopt, use `bindu-schema apply`",
        )
    with server.scratch(dev) as at_head:
        replay(ini, at_head, schema_path)
        with base.declared(schema):  # kinds that compare only what the YAML declares
            records = differ.diff_records(live, at_head, schema.exclude)
        unseen = tuple(fidelity.differences(live, at_head, schema.exclude))  # migra's blind spots
        if not records and unseen:
            return AdoptResult(
                False,
                before,
                head,
                unseen,
                f"its schema differs from the head of generated/ ({head}) where migra does not "
                "look (catalog fidelity, docs/fidelity.md); make it match, then rerun "
                "`bindu-schema adopt`",
            )
        if not records:
            cfg = alembic_config(ini, live, schema_path)
            with alembic_errors(live):
                command.stamp(cfg, "head", purge=True)
            return AdoptResult(True, before, head, (), "adopted")
        if len(before) == 1 and before[0] in resources.BINDU_REVISIONS:
            ran = adoption.from_bindu_revision(
                schema,
                live,
                dev,
                at_head,
                records,
                before[0],
                script,
                allowed_hazards,
                blocked_hazards,
                show,
            )
            if ran is not None:
                return AdoptResult(True, before, head, (), "adopted", ran)
        near = adoption.closest(live, dev, at_head, schema.exclude, before)
    stamped = ", ".join(before) or "nothing"
    if near.name == "head":
        what = f"its schema differs from the head of generated/ ({head}), the closest"
    else:
        what = (
            f"its schema (alembic_version: {stamped}) matches none of Bindu's revisions "
            f"({', '.join(resources.BINDU_REVISIONS)}) nor the head of generated/; closest: "
            f"Bindu's revision {near.name}"
        )
    return AdoptResult(
        False,
        before,
        head,
        near.diff,
        f"{what} ({len(near.diff)} statement(s) apart). Make the database match it (the "
        f"statements below), `alembic stamp {near.name if near.name != 'head' else head}` "
        "if alembic_version disagrees, then rerun `bindu-schema adopt`",
        diff_to=near.name,
    )
