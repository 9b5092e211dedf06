"""Review commands: inspect (a live database -> YAML) and diagram (YAML -> Mermaid).

Registered on the `cli` group by the import at the bottom of cli.py. Exit codes as
everywhere: 0 success, 1 error.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import progress, server, settings
from .cli import _echo, cli, load_schema, schema_option
from .errors import EXIT_ERROR, EXIT_OK, BinduSchemaError


@cli.command("inspect")
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Database to read (default: DATABASE_URL, STORAGE__POSTGRES_URL, "
    "then the embedded server's 'bindu' database).",
)
@click.option(
    "--schema-name", default="public", show_default=True, help="The PostgreSQL schema to read."
)
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the YAML to FILE instead of stdout.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when something in the database is not expressible in the format.",
)
@click.pass_context
def inspect_cmd(
    ctx: click.Context,
    database_url: str | None,
    schema_name: str,
    output: str | None,
    strict: bool,
) -> int:
    """Print the schema of a live database as YAML in the bindu-schema format.

    Tables, columns (serial and identity), keys, indexes, functions, triggers, comments,
    enums and extensions. alembic_version is skipped. What the format cannot express is
    left out with a warning on stderr (and listed at the top of the YAML).
    """
    from . import introspect, loader

    err = ctx.obj.err
    live = settings.from_environment(database_url)
    if live is None:
        with progress.step("starting the embedded server", err):
            live = server.default_target(server.embedded_server_url())
    with progress.step(f"reading {live.safe}", err):
        result = introspect.inspect(live, schema_name)
    text = introspect.to_yaml(result)
    try:
        loader.loads(text, "<inspect output>")
    except BinduSchemaError as exc:  # a bug here, not in the database
        raise BinduSchemaError(
            f"inspect produced YAML that the loader rejects (please report this):\n{exc}"
        ) from None
    for w in result.warnings:
        _echo(ctx, f"warning: {w}", err=True)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:  # e.g. the disk is full
            raise BinduSchemaError(f"{output}: cannot write: {exc.strerror}") from None
        _echo(ctx, f"wrote {output}", err=True)
    else:
        _echo(ctx, text.rstrip("\n"))
    if strict and result.warnings:
        _echo(
            ctx,
            f"error: {len(result.warnings)} object(s) are not expressible in the format (--strict)",
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK


@cli.command("diagram")
@schema_option
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME",
    help="Only these tables (repeatable); relationships among them.",
)
@click.option(
    "--write",
    is_flag=True,
    help="Refresh the diagram in the document (--doc) instead of printing it.",
)
@click.option(
    "--doc",
    default="docs/schema.md",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The document holding the diagram between its markers.",
)
@click.pass_context
def diagram_cmd(
    ctx: click.Context, schema_path: str, tables: tuple[str, ...], write: bool, doc: str
) -> int:
    """Print a Mermaid erDiagram of the YAML (tables, key columns, foreign keys)."""
    from . import diagram

    schema = load_schema(schema_path)
    unknown = [t for t in tables if schema.table(t) is None]
    if unknown:
        raise click.UsageError(
            f"no table {', '.join(unknown)} in {schema_path}; "
            f"tables: {', '.join(t.name for t in schema.tables)}"
        )
    if write:
        if tables:
            raise click.UsageError("--write draws every table; leave out --table")
        changed = diagram.write_doc(doc, schema, schema_path)
        _echo(ctx, f"{'updated' if changed else 'unchanged'}: {doc}")
        return EXIT_OK
    _echo(ctx, diagram.render(schema, tables or None).rstrip("\n"))
    return EXIT_OK
