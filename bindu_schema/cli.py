"""Command line. run(argv, out, err) -> exit code; main() is the console script.

Exit codes: 0 success / nothing to do, 1 error, 2 changes pending, 3 refused for safety.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from . import errors, formats, server, settings
from .errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, BinduSchemaError
from .settings import DatabaseURL

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SCHEMA = "schema/bindu.yaml"


@dataclass
class Env:
    out: IO[str]
    err: IO[str]


def _echo(ctx: click.Context, text: str, err: bool = False) -> None:
    env: Env = ctx.obj
    stream = env.err if err else env.out
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def schema_option(f: F) -> F:
    return click.option(
        "--schema",
        "schema_path",
        default=DEFAULT_SCHEMA,
        show_default=True,
        type=click.Path(dir_okay=False),
        callback=_packaged_if_absent,
        help="The YAML schema file (outside a checkout: the installed package's).",
    )(f)


def _packaged_if_absent(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The default schema/bindu.yaml, absent here (an installed wheel, another working
    directory): the one the installed package carries."""
    if value == DEFAULT_SCHEMA and not Path(value).is_file():
        from . import resources

        try:
            return str(resources.schema_file())
        except BinduSchemaError:
            return value
    return value


def format_option(report: formats.Formats, help: str | None = None) -> Callable[[F], F]:
    """--format, with the choices of the report's registry (formats.py)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(report.names),
        default=report.default,
        show_default=True,
        help=help,
    )


def db_options(f: F) -> F:
    f = click.option(
        "--dev-url",
        default=None,
        metavar="URL",
        help="Server for scratch databases (default: the embedded server).",
    )(f)
    f = click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="Target database (default: DATABASE_URL, STORAGE__POSTGRES_URL, "
        "then the embedded server's 'bindu' database).",
    )(f)
    return f


@dataclass
class Databases:
    live: DatabaseURL
    dev: DatabaseURL


def resolve_dev(dev_url: str | None) -> DatabaseURL:
    """--dev-url, else the embedded server (started on demand)."""
    return server.parse_server(dev_url) if dev_url else server.embedded_server_url()


def refuse_same(live: DatabaseURL, dev: DatabaseURL) -> None:
    if server.same_database(live, dev):
        raise BinduSchemaError(
            f"the dev server database and the target database are the same ({live.safe}); "
            "pass --dev-url pointing at another database (scratch databases are created "
            "beside it)"
        )


def resolve_databases(database_url: str | None, dev_url: str | None) -> Databases:
    live = settings.from_environment(database_url)
    dev = resolve_dev(dev_url)
    if live is None:
        live = server.default_target(dev if not dev_url else server.embedded_server_url())
    refuse_same(live, dev)
    return Databases(live, dev)


def load_schema(path: str) -> Any:
    from . import loader

    return loader.load(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """bindu-schema: Bindu's PostgreSQL schema, declared in YAML."""


@cli.command()
@schema_option
@click.option("--target-schema", default=None, help="Render into this PostgreSQL schema.")
@click.pass_context
def render(ctx: click.Context, schema_path: str, target_schema: str | None) -> int:
    """Print the DDL that creates the schema in an empty database."""
    from . import compile as compiler

    schema = load_schema(schema_path)
    _echo(ctx, compiler.render(compiler.compile_schema(schema, target_schema)).rstrip("\n"))
    return EXIT_OK


@cli.command()
@schema_option
@db_options
@format_option(formats.PLAN)
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Color the text format (auto: on a terminal without NO_COLOR).",
)
@click.option(
    "--validate/--no-validate",
    default=True,
    show_default=True,
    help="Rehearse the plan (upgrade, then downgrade) on a schema copy of the target first.",
)
@click.option(
    "--concurrently/--no-concurrently",
    default=True,
    show_default=True,
    help="Build and drop indexes on existing tables CONCURRENTLY.",
)
@click.option(
    "--lint/--no-lint", default=True, show_default=True, help="Run squawk on the upgrade SQL."
)
@click.option(
    "--target-schema",
    default=None,
    metavar="NAME",
    help="Plan the YAML into this PostgreSQL schema (a Bindu tenant) instead of public.",
)
@click.pass_context
def plan(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    fmt: str,
    validate: bool,
    concurrently: bool,
    lint: bool,
    target_schema: str | None,
    color: str,
) -> int:
    """Show the DDL that takes the target database to the YAML. Exit 2 when there are changes."""
    from . import plan as planner
    from . import progress, report

    schema = load_schema(schema_path)
    with progress.step("starting the dev server", ctx.obj.err):
        dbs = resolve_databases(database_url, dev_url)
    with progress.step(f"planning against {dbs.live.safe}", ctx.obj.err):
        p = planner.build(
            schema,
            dbs.live,
            dbs.dev,
            validate=validate,
            concurrently=concurrently,
            run_lint=lint,
            target_schema=target_schema,
            remember_live=True,
        )
    text = report.render(p, schema, fmt, color=report.use_color(color, ctx.obj.out))
    _echo(ctx, text.rstrip("\n"))
    return EXIT_OK if p.clean else EXIT_CHANGES


@cli.group()
def server_cmd() -> None:
    """Manage the embedded PostgreSQL server."""


@server_cmd.command("url")
@click.pass_context
def server_url(ctx: click.Context) -> int:
    """Start the embedded server if needed and print its URL (it has no password)."""
    url = server.default_target(server.embedded_server_url())
    _echo(ctx, url.url.set(drivername="postgresql").render_as_string(hide_password=True))
    return EXIT_OK


@server_cmd.command("stop")
@click.pass_context
def server_stop(ctx: click.Context) -> int:
    """Stop the embedded server."""
    _echo(ctx, "stopped" if server.stop_embedded() else "not running")
    return EXIT_OK


cli.add_command(server_cmd, name="server")


def _on_sigterm(signum: int, frame: Any) -> None:
    # Turn SIGTERM into an exception so `finally` blocks drop scratch databases.
    raise SystemExit(128 + signum)


def run(argv: list[str], out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    env = Env(out, err)
    before = server.live_scratch()
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not in the main thread
        old = None
    try:
        result = cli.main(args=argv, prog_name="bindu-schema", standalone_mode=False, obj=env)
        if isinstance(result, int):
            return result
        return EXIT_OK
    except click.exceptions.NoArgsIsHelpError as exc:
        err.write(exc.format_message() + "\n")
        return EXIT_ERROR
    except click.UsageError as exc:
        # click uses 2 for usage errors; 2 means "changes pending" here.
        hint = f"\nTry '{exc.ctx.command_path} --help'." if exc.ctx else ""
        err.write(f"error: {exc.format_message()}{hint}\n")
        return EXIT_ERROR
    except click.ClickException as exc:
        err.write(f"error: {exc.format_message()}\n")
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        err.write("aborted\n")
        return EXIT_ERROR
    except BinduSchemaError as exc:
        err.write(f"error: {settings.scrub(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    except OSError as exc:  # disk full, read-only file system, a folder that vanished
        where = f"{exc.filename}: " if exc.filename else ""
        err.write(f"error: {where}{exc.strerror or exc}; free space or fix the path, run again\n")
        return EXIT_ERROR
    finally:
        # Only what this run created: an in-process caller may hold scratch databases of its own.
        server.drop_all_live_scratch(keep=before)
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def main() -> None:
    from . import collector

    collector.pause_for_command()
    sys.exit(run(sys.argv[1:]))


__all__ = ["run", "main", "errors"]
# Registering modules: revision, apply, adopt (cli_alembic); check; inspect, diagram (cli_review).
from . import cli_alembic, cli_check, cli_review, cli_tenants  # noqa: E402, F401
