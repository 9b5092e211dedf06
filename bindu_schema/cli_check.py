"""`bindu-schema check` (registered on the `cli` group): exit 0 when every check passes,
1 with the reasons and diffs otherwise."""

from __future__ import annotations

from pathlib import Path

import click

from . import formats, settings
from .cli import (
    _echo,
    cli,
    db_options,
    format_option,
    load_schema,
    refuse_same,
    resolve_dev,
    schema_option,
)
from .cli_alembic import config_option
from .errors import EXIT_ERROR, EXIT_OK


@cli.command()
@schema_option
@db_options
@config_option
@format_option(formats.CHECK)
@click.option(
    "--doc",
    default="docs/schema.md",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The diagram document to keep current (skipped when the file does not exist).",
)
@click.option(
    "--target-schema",
    default=None,
    metavar="NAME",
    help="Check this tenant schema of the target database: at head, no drift.",
)
@click.pass_context
def check(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    fmt: str,
    doc: str,
    target_schema: str | None = None,
) -> int:
    """CI gate: one head, revisions equal the YAML, downgrades restore, no hand edits,
    diagram current; with a target database (flag or environment): at head, no drift."""
    from . import check as checker

    if target_schema:
        from .cli_tenants import check_tenant

        return check_tenant(
            ctx, schema_path, database_url, dev_url, config_path, target_schema, fmt
        )
    schema = load_schema(schema_path)
    dev = resolve_dev(dev_url)
    live = settings.from_environment(database_url)
    if live is not None:
        refuse_same(live, dev)
    checks = checker.run_checks(schema, schema_path, dev, ini=config_path, live=live, doc=Path(doc))
    _echo(ctx, formats.CHECK.render(fmt, checks).rstrip("\n"))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ERROR
