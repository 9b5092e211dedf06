"""Plan -> Alembic revision in generated/versions/, validated before it is written.

`generate` replays the revisions already in generated/ on a scratch database, diffs that
against the YAML with migra in both directions (upgrade and downgrade), writes the
revision into a temporary copy of the script directory, runs its upgrade and downgrade
through Alembic on another scratch database, and only when both re-diffs are empty writes
the file through Alembic's own ScriptDirectory.generate_revision.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.pool import NullPool

from . import (
    differ,
    fidelity,
    loader,
    model,
    policy,
    replayed,
    resumable,
    revfile,
    server,
    statements,
)
from . import plan as planner
from .errors import BinduSchemaError, DatabaseError
from .plan import desired_database
from .planned import Statement
from .settings import DatabaseURL, scrub

DEFAULT_CONFIG = "alembic.ini"
_REV_ID = re.compile(r"^(\d{8})_(\d{4})$")


class RevisionValidationError(BinduSchemaError):
    """The generated revision did not reproduce the YAML or the previous head."""


# --- Alembic plumbing (shared with apply.py) ----------------------------------------------


def alembic_config(
    ini: str | Path,
    url: DatabaseURL | None = None,
    schema_path: str | Path | None = None,
    stdout: IO[str] | None = None,
    script_location: Path | None = None,
    settings: Mapping[str, str] | None = None,
) -> Config:
    """An Alembic Config for our env.py: the URL and schema are passed as attributes."""
    path = Path(ini)
    if not path.is_file():
        raise BinduSchemaError(
            f"{ini}: no such Alembic config; run from the project root or pass --config"
        )
    kw: dict[str, Any] = {"stdout": stdout} if stdout is not None else {}
    # quiet: no "Generating ..." lines on sys.stdout; x: env.py reads -x arguments from here.
    cfg = Config(str(path), cmd_opts=argparse.Namespace(quiet=True, x=None), **kw)
    cfg.attributes["configure_logger"] = False
    if url is not None:
        cfg.attributes["bindu_schema.url"] = url.sqlalchemy
    if schema_path is not None:
        cfg.attributes["bindu_schema.schema"] = str(Path(schema_path).resolve())
    for name, value in (settings or {}).items():
        cfg.attributes[f"bindu_schema.{name}"] = value
    if script_location is not None:
        cfg.set_main_option("script_location", str(script_location).replace("%", "%%"))
    return cfg


def script_directory(cfg: Config) -> ScriptDirectory:
    try:
        return ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise BinduSchemaError(f"Alembic: {exc}") from None


def single_head(script: ScriptDirectory) -> str | None:
    heads = script.get_heads()
    if len(heads) > 1:
        raise BinduSchemaError(
            f"generated/ has several heads ({', '.join(sorted(heads))}); "
            "merge them first with `alembic merge heads -m merge`"
        )
    return heads[0] if heads else None


class _LogToStream(logging.Handler):
    def __init__(self, stream: IO[str], url: DatabaseURL | None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.url = url

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith(("Context impl", "Will assume")):
            return
        self.stream.write(scrub(msg, self.url) + "\n")
        self.stream.flush()


@contextmanager
def alembic_errors(url: DatabaseURL | None, log_to: IO[str] | None = None) -> Iterator[None]:
    """Alembic/SQLAlchemy failures become BinduSchemaError without passwords."""
    logger = logging.getLogger("alembic.runtime.migration")
    handler = _LogToStream(log_to, url) if log_to is not None else None
    old_level = logger.level
    if handler is not None:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    except CommandError as exc:
        raise BinduSchemaError(f"Alembic: {scrub(str(exc), url)}") from None
    except sa.exc.DBAPIError as exc:
        detail = str(exc.orig).strip() if exc.orig is not None else str(exc)
        if url is not None and not exc.statement and isinstance(exc, sa.exc.OperationalError):
            # a failed connection: say which database, from where (redacted)
            detail = f"cannot connect to {url.safe} ({url.source}): {detail}"
        statement = f"\nstatement:\n{exc.statement}" if exc.statement else ""
        raise DatabaseError(f"{scrub(detail, url)}{statement}") from None
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


def current_heads(url: DatabaseURL) -> tuple[str, ...]:
    """What alembic_version says (empty when the table is missing or empty)."""
    engine = sa.create_engine(url.sqlalchemy, poolclass=NullPool)
    try:
        with alembic_errors(url), engine.connect() as conn:
            return tuple(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


# Upgrades and downgrades compare nothing: env.py then neither loads the YAML nor builds
# its SQLAlchemy MetaData (0.4 s on 1,000 tables, for each Alembic command).
_NO_COMPARE = {"runtime": "1"}


def replay(
    cfg_ini: str | Path,
    url: DatabaseURL,
    schema_path: str | Path,
    script_location: Path | None = None,
) -> None:
    """Run every revision of the script directory on the database (upgrade head)."""
    cfg = alembic_config(
        cfg_ini, url, schema_path, script_location=script_location, settings=_NO_COMPARE
    )
    with alembic_errors(url):
        command.upgrade(cfg, "head")


# --- Revision ids and rendering -------------------------------------------------------------


def next_revision_id(script: ScriptDirectory, today: dt.date | None = None) -> str:
    """YYYYMMDD_NNNN: the next free number for today (UTC), as Bindu names revisions."""
    day = (today or dt.datetime.now(dt.UTC).date()).strftime("%Y%m%d")
    used = [
        int(m.group(2))
        for rev in script.walk_revisions()
        if (m := _REV_ID.match(rev.revision)) and m.group(1) == day
    ]
    return f"{day}_{max(used, default=0) + 1:04d}"


# --- generate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    path: Path | None  # None: no changes, nothing written
    revision: str | None
    down_revision: str | None
    upgrade: tuple[Statement, ...]
    downgrade: tuple[Statement, ...]
    # (upgrade, downgrade) per revision file: more than one when resumable.split split it
    parts: tuple[resumable.Part, ...] = ()
    paths: tuple[Path, ...] = ()
    revisions: tuple[str, ...] = ()  # the id of each part


def _source_name(schema_path: str | Path, ini: Path) -> str:
    p = Path(schema_path).resolve()
    try:
        return p.relative_to(ini.resolve().parent).as_posix()
    except ValueError:
        return Path(schema_path).as_posix()


def _copy_scripts(script: ScriptDirectory, dest: Path) -> Path:
    target = dest / "generated"
    shutil.copytree(script.dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _diff_text(statements: list[str]) -> str:
    return "\n".join(f"    {line}" for s in statements for line in s.splitlines()) or "    (empty)"


LOCKS_HINT = (
    "hint: Alembic runs a revision in one transaction, and this one takes more locks than "
    "the dev server's lock table holds (every table, index and sequence it creates or "
    "drops is one). A server applying it needs the same room: raise "
    "max_locks_per_transaction on the dev server (ALTER SYSTEM SET "
    "max_locks_per_transaction = 1024, then restart; `bindu-schema server stop` for the "
    "embedded one) and on the targets, or make the change in several smaller revisions."
)


def validate(
    ini: Path,
    scripts: Path,
    schema_path: str | Path,
    schema: model.Schema,
    dev: DatabaseURL,
    previous: DatabaseURL,
    desired: DatabaseURL,
    steps: int = 1,
    replay_into: Callable[[DatabaseURL], None] | None = None,
) -> None:
    """Upgrade the `steps` new revisions one at a time from the previous head and re-diff
    against the YAML; then downgrade one at a time, each step re-diffed against the state
    the upgrade passed through (the last against the previous head). Raises
    RevisionValidationError showing the differences.

    A single revision is validated in the kept previous head itself when it can be taken
    over (replayed.validate_in_place); when that fails in any way the head is replayed
    afresh (`replay_into`) and validated here in a copy, for the full report."""
    if steps == 1 and replay_into is not None:

        def check(url: DatabaseURL) -> bool:
            return _upgrade_checked(ini, url, scripts, schema_path, schema, desired)

        done = replayed.validate_in_place(dev, previous, check)
        if done is True:
            return
        if done is False:  # the kept head is gone: replay it for the report
            with server.scratch(dev) as fresh:
                replay_into(fresh)
                _validate_copy(ini, scripts, schema_path, schema, dev, fresh, desired, steps)
            return
    _validate_copy(ini, scripts, schema_path, schema, dev, previous, desired, steps)


def _upgrade_checked(
    ini: Path,
    url: DatabaseURL,
    scripts: Path,
    schema_path: str | Path,
    schema: model.Schema,
    desired: DatabaseURL,
) -> bool:
    """Upgrade url by the one new revision: equal to the YAML (migra and fidelity); then
    downgrade it. False on any difference or error (the caller then reports in full)."""
    cfg = alembic_config(ini, url, schema_path, script_location=scripts, settings=_NO_COMPARE)
    try:
        with alembic_errors(url):
            command.upgrade(cfg, "+1")
        if differ.diff(url, desired, schema.exclude):
            return False
        if fidelity.differences(url, desired, schema.exclude):
            return False
        with alembic_errors(url):
            command.downgrade(cfg, "-1")
    except BinduSchemaError:
        return False
    return True


def _validate_copy(
    ini: Path,
    scripts: Path,
    schema_path: str | Path,
    schema: model.Schema,
    dev: DatabaseURL,
    previous: DatabaseURL,
    desired: DatabaseURL,
    steps: int,
) -> None:
    """validate() in a scratch copy of the previous head."""
    url = replayed.copy(dev, previous)
    try:
        cfg = alembic_config(ini, url, schema_path, script_location=scripts, settings=_NO_COMPARE)
        problems: list[str] = []
        after_up: list[str] = []
        after_down: list[str] = []
        try:
            passed = []  # states after 1 .. steps-1 of the new revisions
            for step in range(steps):
                with alembic_errors(url):
                    command.upgrade(cfg, "+1")
                if step < steps - 1:
                    passed.append(differ.snapshot(url))
            # migra's comparison and catalog fidelity (fidelity.py: sequence options, ...)
            after_up = differ.diff(url, desired, schema.exclude)
            after_up += fidelity.differences(url, desired, schema.exclude)
            for step in reversed(range(steps)):
                with alembic_errors(url):
                    command.downgrade(cfg, "-1")
                if step:
                    left = differ.diff_snapshot(url, passed[step - 1], schema.exclude)
                    if left:
                        problems.append(
                            f"after downgrade of part {step + 1} of {steps}, still different "
                            f"from the state after part {step}:\n" + _diff_text(left)
                        )
                        break
            else:
                if not _same_catalog(url, previous):  # equal: nothing for migra to show
                    after_down = differ.diff(url, previous, schema.exclude)
                    after_down += fidelity.differences(url, previous, schema.exclude)
        except BinduSchemaError as exc:
            problems.append(str(exc))
        if any("max_locks_per_transaction" in p for p in problems):
            problems.append(LOCKS_HINT)
        if problems or after_up or after_down:
            raise RevisionValidationError(
                "the generated revision failed validation on a scratch database; "
                "nothing was written\n"
                + "".join(f"{p}\n" for p in problems)
                + "after upgrade, still different from the YAML:\n"
                + _diff_text(after_up)
                + "\nafter downgrade, still different from the previous head:\n"
                + _diff_text(after_down)
            )
    finally:
        server.drop_scratch(dev, url.database)


def _same_catalog(url: DatabaseURL, previous: DatabaseURL, ns: str = "public") -> bool:
    """The two schemas' catalog fingerprints (fingerprint.py: equal exactly when pg_dump
    --schema-only is, owners aside) are equal; the previous head's is kept (readcache).
    Both hold alembic_version, so a downgrade back to the previous head compares equal."""
    from . import fingerprint, readcache

    want = readcache.schema_fingerprint(previous, ns)
    return want is not None and fingerprint.of_schemas(url, [ns]).get(ns) == want


def _unqualified(todo: Sequence[Statement]) -> tuple[Statement, ...]:
    from dataclasses import replace

    return tuple(replace(s, record=statements.unqualify(s.record)) for s in todo)


def generate(
    message: str,
    schema_path: str | Path,
    dev: DatabaseURL,
    ini: str | Path = DEFAULT_CONFIG,
    rev_id: str | None = None,
    allowed_hazards: frozenset[str] = frozenset(),
    blocked_hazards: frozenset[str] | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Write the next revision (validated first). dry_run: validate, write nothing, and
    return the statements (Outcome.path is None) so they can be shown like a plan."""
    ini = Path(ini)
    schema = loader.load(schema_path)
    cfg = alembic_config(ini, schema_path=schema_path)
    with _exclusive(Path(script_directory(cfg).dir)):
        return _generate(
            message,
            schema,
            schema_path,
            dev,
            ini,
            cfg,
            rev_id,
            allowed_hazards,
            blocked_hazards,
            dry_run,
        )


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """flock on generated/ itself (no lock file in the repository): a second `revision`
    waits, then reads the chain the first one extended, so no two share an id."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BinduSchemaError(f"{folder}: cannot open: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _generate(
    message: str,
    schema: model.Schema,
    schema_path: str | Path,
    dev: DatabaseURL,
    ini: Path,
    cfg: Config,
    rev_id: str | None,
    allowed_hazards: frozenset[str],
    blocked_hazards: frozenset[str] | None,
    dry_run: bool,
) -> Outcome:
    script = script_directory(cfg)
    head = single_head(script)

    def replay_into(url: DatabaseURL) -> None:
        replay(ini, url, schema_path)

    scripts = Path(script.dir)
    with (
        desired_database(schema, dev) as desired,
        replayed.head(dev, Path(ini), scripts, replay_into) as previous,
    ):
        # The plan pipeline (renames, online DDL, hazards) with the replayed head as "live";
        # its rehearsal is replaced by the stronger check below: the file itself, run by
        # Alembic.
        p = planner.build(
            schema, previous, dev, with_downgrade=True, validate=False, desired=desired
        )
        # Schema-agnostic statements: the same file migrates public and every tenant
        # schema (env.py sets search_path to the schema being migrated).
        up, down = _unqualified(p.statements), _unqualified(p.downgrade)
        if not up:
            return Outcome(None, None, head, (), ())
        block = policy.blocked() if blocked_hazards is None else blocked_hazards
        bad = policy.refused([st.hazards for st in up], allowed_hazards, block)
        if bad and not dry_run:
            items = [(up[i].sql, up[i].hazards) for i in bad]
            raise policy.RefusedError(
                policy.refusal_message("the new revision", items, allowed_hazards, block)
            )
        source = _source_name(schema_path, ini)
        first = rev_id or next_revision_id(script)
        parts = resumable.split(up, down)

        def validated(parts: Sequence[resumable.Part]) -> list[tuple[str, str, dict[str, str]]]:
            return _validated(
                parts,
                first,
                message,
                source,
                schema,
                script,
                ini,
                schema_path,
                dev,
                previous,
                desired,
                replay_into,
            )

        try:
            files = validated(parts)
        except RevisionValidationError as exc:
            if len(parts) == 1:
                raise
            # No silent fallback to one mixed revision: a failed CONCURRENTLY step there
            # would leave the transactional part committed and the revision unrecorded.
            raise RevisionValidationError(
                f"the change mixes transactional statements with CONCURRENTLY steps, and its "
                f"split into {len(parts)} resumable revisions did not validate, so nothing "
                "was written. Make the change in two edits of the YAML (the new indexes "
                f"first, each edit its own `bindu-schema revision`). What failed:\n{exc}"
            ) from None
    revid = files[-1][0]
    if dry_run:
        return Outcome(None, revid, head, up, down, tuple(parts))
    paths = []
    for rid, msg, args in files:
        with alembic_errors(None):
            written = script.generate_revision(rid, msg, head="head", bindu=args)
        if written is None:
            raise BinduSchemaError(f"Alembic did not write revision {rid}")
        paths.append(Path(written.path))
    ids = tuple(f[0] for f in files)
    return Outcome(paths[-1], revid, head, up, down, tuple(parts), tuple(paths), ids)


def _ids(first: str, n: int) -> list[str]:
    """n consecutive revision ids from `first` (YYYYMMDD_NNNN counts on)."""
    m = _REV_ID.match(first)
    if m:
        return [f"{m.group(1)}_{int(m.group(2)) + k:04d}" for k in range(n)]
    return [first] + [f"{first}_{k}" for k in range(2, n + 1)]


def _validated(
    parts: Sequence[resumable.Part],
    first: str,
    message: str,
    source: str,
    schema: model.Schema,
    script: ScriptDirectory,
    ini: Path,
    schema_path: str | Path,
    dev: DatabaseURL,
    previous: DatabaseURL,
    desired: DatabaseURL,
    replay_into: Callable[[DatabaseURL], None] | None = None,
) -> list[tuple[str, str, dict[str, str]]]:
    """(revision id, message, template args) per part, once the chain passed validate()
    in a copy of the script directory."""
    n = len(parts)
    files = [
        (
            rid,
            message if n == 1 else f"{message} ({k} of {n})",
            revfile.template_args(source, schema, up, down, part=(k, n) if n > 1 else None),
        )
        for k, (rid, (up, down)) in enumerate(zip(_ids(first, n), parts, strict=True), 1)
    ]
    with tempfile.TemporaryDirectory(prefix="bindu-schema-revision-") as tmp:
        scripts = _copy_scripts(script, Path(tmp))
        tmp_cfg = alembic_config(ini, schema_path=schema_path, script_location=scripts)
        for rid, msg, args in files:
            with alembic_errors(None):
                script_directory(tmp_cfg).generate_revision(rid, msg, head="head", bindu=args)
        validate(ini, scripts, schema_path, schema, dev, previous, desired, n, replay_into)
    return files
