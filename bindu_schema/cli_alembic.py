"""The Alembic commands: revision, apply, adopt (registered on the `cli` group).

Exit codes as everywhere: 0 success / nothing to do, 1 error (including drift after
apply, a failed revision validation, and a database adopt refuses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from . import formats, policy, retry
from .cli import (
    _echo,
    cli,
    db_options,
    format_option,
    load_schema,
    resolve_databases,
    resolve_dev,
    schema_option,
)
from .errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, BinduSchemaError
from .settings import scrub


def config_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "-c",
        "--config",
        "config_path",
        default="alembic.ini",
        show_default=True,
        type=click.Path(dir_okay=False),
        callback=_packaged_ini_if_absent,
        help="The Alembic config (script_location = generated; outside a checkout: the "
        "installed package's revisions).",
    )(f)


def _packaged_ini_if_absent(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value == "alembic.ini" and not Path(value).is_file():
        from . import resources

        try:
            return str(resources.packaged_ini())
        except BinduSchemaError:
            return value
    return value


def allow_hazards_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--allow-hazards",
        "allow_hazards",
        multiple=True,
        metavar="TYPES",
        help="Accept these blocked hazard types (comma list, repeatable), e.g. DELETES_DATA.",
    )(f)


@cli.command()
@schema_option
@db_options
@config_option
@click.option("-m", "--message", required=True, help="The revision message (file name slug).")
@click.option("--rev-id", default=None, help="Revision id (default: YYYYMMDD_NNNN, next free).")
@allow_hazards_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and show the revision's statements like a plan; write nothing "
    "(exit 2 when a revision would be written, 0 when there is nothing to do).",
)
@format_option(formats.PLAN, "Output of --dry-run.")
@click.pass_context
def revision(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    message: str,
    rev_id: str | None,
    allow_hazards: tuple[str, ...],
    dry_run: bool,
    fmt: str,
) -> int:
    """Write generated/versions/<YYYYMMDD>_<NNNN>_<slug>.py from the YAML.

    Diffs the YAML against the head of generated/ (replayed on a scratch database, so
    --database-url is never read), validates upgrade and downgrade on scratch databases,
    then writes the file. No changes: writes nothing, exit 0.
    """
    from . import revision as rev

    load_schema(schema_path)  # YAML errors first, before any server starts
    dev = resolve_dev(dev_url)
    outcome = rev.generate(
        message,
        schema_path,
        dev,
        ini=config_path,
        rev_id=rev_id,
        allowed_hazards=policy.parse_allowed(allow_hazards),
        dry_run=dry_run,
    )
    if dry_run and outcome.upgrade:
        return _show_dry_run(ctx, schema_path, outcome, fmt)
    if outcome.path is None:
        at = f"head {outcome.down_revision}" if outcome.down_revision else "no revisions"
        _echo(ctx, f"No changes: generated/ ({at}) already matches {schema_path}; nothing written.")
        return EXIT_OK
    paths = outcome.paths or (outcome.path,)
    parts = outcome.parts or ((outcome.upgrade, outcome.downgrade),)
    revisions = outcome.revisions or (outcome.revision,)
    down_revision = outcome.down_revision
    for path, revision, (up, down) in zip(paths, revisions, parts, strict=True):
        try:
            shown = path.resolve().relative_to(Path.cwd())
        except ValueError:
            shown = path
        _echo(
            ctx,
            f"wrote {shown}\n"
            f"  revision {revision} (down_revision {down_revision}): "
            f"{len(up)} upgrade, {len(down)} downgrade statement(s)"
            "; validated on a scratch database. Review it before merging.",
        )
        down_revision = revision
    if len(paths) > 1:
        _echo(
            ctx,
            f"The change is split into {len(paths)} revisions so that a failed CONCURRENTLY "
            "step leaves no half-applied revision: re-running `alembic upgrade head` resumes.",
        )
    return EXIT_OK


@cli.command()
@schema_option
@db_options
@config_option
@click.option(
    "--backup",
    "backup_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write a pg_dump of the target database to FILE first.",
)
@click.option(
    "--lock-timeout",
    default=None,
    metavar="DURATION",
    help="Per-statement wait for table locks (default 5s).",
)
@click.option(
    "--statement-timeout",
    default=None,
    metavar="DURATION",
    help="Per-statement run time limit (default 15min).",
)
@click.option(
    "--advisory-lock-timeout",
    default=None,
    metavar="DURATION",
    help="Wait for a concurrent migration run to finish (default 10min).",
)
@click.option(
    "--lock-retries",
    default=None,
    type=click.IntRange(1, 100),
    metavar="N",
    help="Tries of a run that fails on lock_timeout, with backoff "
    "(default: [tool.bindu-schema] lock_retries, else 5).",
)
@allow_hazards_option
@click.option(
    "--target-schema",
    default=None,
    metavar="NAME",
    help="Migrate this tenant schema instead of public (docs/tenants.md).",
)
@click.option(
    "--all-tenants", is_flag=True, help="Migrate every tenant schema (see `bindu-schema tenants`)."
)
@click.option(
    "--pattern", "tenant_patterns", multiple=True, metavar="LIKE", help="With --all-tenants."
)
@click.option("--schema-list", default=None, metavar="A,B,...", help="With --all-tenants.")
@click.option(
    "--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Tenants at once."
)
@click.option(
    "--canary",
    default=0,
    type=click.IntRange(0),
    metavar="N",
    help="With --all-tenants: migrate the first N tenants first; stop if one fails.",
)
@click.option(
    "--max-failures",
    default=None,
    type=click.IntRange(1),
    metavar="K",
    help="With --all-tenants: start no new tenant after K failures.",
)
@click.option(
    "--order",
    type=click.Choice(["name", "list", "size"]),
    default="name",
    show_default=True,
    help="With --all-tenants: by schema name, as given in --schema-list, or by size "
    "(smallest first).",
)
@click.option(
    "--targets",
    "targets_path",
    default=None,
    metavar="FILE",
    help="With --all-tenants: the databases of a fleet (YAML; docs/tenants.md).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --all-tenants: list what would run, in order; change nothing.",
)
@format_option(formats.ROLLOUT, "With --target-schema/--all-tenants: the report's format.")
@click.pass_context
def apply(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    backup_path: str | None,
    lock_timeout: str | None,
    statement_timeout: str | None,
    advisory_lock_timeout: str | None,
    lock_retries: int | None,
    allow_hazards: tuple[str, ...],
    target_schema: str | None = None,
    all_tenants: bool = False,
    tenant_patterns: tuple[str, ...] = (),
    schema_list: str | None = None,
    jobs: int = 4,
    canary: int = 0,
    max_failures: int | None = None,
    order: str = "name",
    dry_run: bool = False,
    fmt: str = "text",
    targets_path: str | None = None,
) -> int:
    """Upgrade the target database to the head of generated/, then check for drift.

    The same as `alembic upgrade head` (under the advisory lock and timeouts of env.py),
    followed by a migra diff against the YAML: any difference is exit 1 with the diff.
    """
    from . import apply as applier

    schema = load_schema(schema_path)
    timeouts = {
        k: v
        for k, v in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
            ("advisory_lock_timeout", advisory_lock_timeout),
        )
        if v
    }
    if target_schema or all_tenants or schema_list or targets_path:
        from .cli_tenants import Stages, apply_tenants

        return apply_tenants(
            ctx,
            schema_path,
            database_url,
            dev_url,
            config_path,
            target_schema,
            all_tenants or bool(schema_list),
            tenant_patterns,
            schema_list,
            jobs,
            timeouts,
            policy.parse_allowed(allow_hazards),
            fmt,
            Stages(canary, max_failures, order, dry_run),
            retry.configured_tries(lock_retries),
            targets_path,
        )
    if canary or max_failures or dry_run or order != "name":
        raise BinduSchemaError(
            "--canary, --max-failures, --order and --dry-run stage a tenant rollout; use "
            "them with --all-tenants or --schema-list"
        )
    dbs = resolve_databases(database_url, dev_url)
    if fmt != "text":
        raise BinduSchemaError(
            f"--format {fmt} is the tenant rollout's report; use it with --target-schema or "
            "--all-tenants (apply of public prints the upgrade as text)"
        )
    env = ctx.obj
    result = applier.apply(
        schema,
        schema_path,
        dbs.live,
        dbs.dev,
        ini=config_path,
        backup=Path(backup_path) if backup_path else None,
        log=env.out,
        allowed_hazards=policy.parse_allowed(allow_hazards),
        lock_tries=retry.configured_tries(lock_retries),
        **cast("dict[str, Any]", timeouts),  # only timeout names (str values) are in it
    )
    if result.backup is not None:
        _echo(ctx, f"backup: {result.backup}")
    if result.before == result.after:
        _echo(ctx, f"{dbs.live.safe}: already at head {result.after or '(none)'}; nothing applied.")
    else:
        _echo(ctx, f"{dbs.live.safe}: {result.before or '(empty)'} -> {result.after}")
    if result.drift:
        _echo(
            ctx,
            "error: after apply the database still differs from "
            f"{schema_path}; statements that would fix it:\n"
            + scrub("\n\n".join(result.drift), dbs.live),
            err=True,
        )
        return EXIT_ERROR
    _echo(ctx, f"schema matches {schema_path}.")
    return EXIT_OK


@cli.command()
@schema_option
@db_options
@config_option
@click.option(
    "--target-schema",
    default=None,
    metavar="NAME",
    help="Adopt this tenant schema (made by Bindu's old run-time path).",
)
@allow_hazards_option
@click.pass_context
def adopt(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    target_schema: str | None = None,
    allow_hazards: tuple[str, ...] = (),
) -> int:
    """Take over a database built by Bindu's hand-written migrations.

    If its schema equals the head of generated/ (replayed on a scratch database), its
    alembic_version is stamped to that head (`alembic stamp --purge head`). If it is at one
    of Bindu's own revisions and has exactly that revision's schema, the plan to head is
    shown, checked for consent (--allow-hazards), run and stamped in one transaction.
    Otherwise nothing changes; the closest revision and the diff to it are shown (exit 1).
    """
    from . import apply as applier

    if target_schema:
        from .cli_tenants import adopt_tenant

        return adopt_tenant(ctx, schema_path, database_url, dev_url, config_path, target_schema)
    load_schema(schema_path)
    dbs = resolve_databases(database_url, dev_url)

    def show(p: Any) -> None:
        from . import report

        _echo(ctx, report.plain_text(p).rstrip("\n"))

    result = applier.adopt(
        schema_path,
        dbs.live,
        dbs.dev,
        ini=config_path,
        allowed_hazards=policy.parse_allowed(allow_hazards),
        show=show,
    )
    if result.adopted:
        _echo(
            ctx,
            f"{dbs.live.safe}: adopted; alembic_version "
            f"{', '.join(result.before) or '(none)'} -> {result.head}"
            + (f" ({len(result.ran)} statement(s) run)" if result.ran else ""),
        )
        return EXIT_OK
    if not result.diff:
        _echo(ctx, f"{dbs.live.safe}: {result.message}")
        return EXIT_OK
    _echo(
        ctx,
        f"error: {dbs.live.safe} was not adopted: {result.message}; nothing changed. "
        f"Statements from the database to {target_label(result)}:\n"
        + scrub("\n\n".join(result.diff), dbs.live),
        err=True,
    )
    return EXIT_ERROR


def target_label(result: Any) -> str:
    if result.diff_to == "head":
        return f"head {result.head}"
    return f"Bindu's revision {result.diff_to}"


def _show_dry_run(ctx: click.Context, schema_path: str, outcome: Any, fmt: str) -> int:
    from . import plan as planner
    from . import report

    schema = load_schema(schema_path)
    label = f"revision {outcome.revision} (after {outcome.down_revision or 'base'}), dry run"
    p = planner.Plan(
        statements=outcome.upgrade,
        downgrade=outcome.downgrade,
        source_sha256=schema.source_sha256,
        target=label,
    )
    text = report.render(p, schema, fmt)
    if fmt == "text":
        text += "-- downgrade:\n" + "".join(s.sql.rstrip() + "\n\n" for s in outcome.downgrade)
    _echo(ctx, text.rstrip("\n"))
    return EXIT_CHANGES
