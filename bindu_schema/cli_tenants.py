"""Tenant schemas on the command line: `tenants`, and the tenant side of `apply`
(`--target-schema NAME`, `--all-tenants`), `adopt --target-schema` and `check --target-schema`.
docs/tenants.md."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from . import formats
from .cli import (
    _echo,
    cli,
    db_options,
    format_option,
    load_schema,
    refuse_same,
    resolve_databases,
    resolve_dev,
    schema_option,
)
from .cli_alembic import config_option
from .errors import EXIT_ERROR, EXIT_OK, BinduSchemaError
from .settings import DatabaseURL, scrub


def tenant_selection(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option(
        "--schema-list",
        default=None,
        metavar="A,B,...",
        help="Exactly these tenant schemas (instead of --pattern).",
    )(f)
    f = click.option(
        "--pattern",
        "patterns",
        multiple=True,
        metavar="LIKE",
        help=r"LIKE pattern of tenant schema names (repeatable; default did\_% and schema\_%).",
    )(f)
    return f


@dataclass(frozen=True)
class Stages:
    """How a tenant rollout is staged (apply --canary/--max-failures/--order/--dry-run)."""

    canary: int = 0
    max_failures: int | None = None
    order: str = "name"  # "list": as given in --schema-list; "size": smallest first
    dry_run: bool = False


def selected(
    live: DatabaseURL, patterns: Sequence[str], schema_list: str | None, order: str = "name"
) -> list[str]:
    from . import tenants

    if schema_list:
        names = [n.strip() for n in schema_list.split(",") if n.strip()]
        for n in names:
            tenants.check_name(n)
        unique = list(dict.fromkeys(names))
        return unique if order == "list" else sorted(unique)
    return tenants.find(live, list(patterns) or list(tenants.DEFAULT_PATTERNS))


@cli.command("tenants")
@schema_option
@db_options
@config_option
@tenant_selection
@click.option(
    "--drift/--no-drift",
    default=True,
    show_default=True,
    help="Diff each tenant schema against the YAML (needs the dev server).",
)
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64))
@format_option(formats.TENANTS)
@click.pass_context
def tenants_cmd(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    patterns: tuple[str, ...],
    schema_list: str | None,
    drift: bool,
    jobs: int,
    fmt: str,
) -> int:
    """List tenant schemas: each with its alembic revision and whether it drifted."""
    from . import tenants
    from .revision import alembic_config, script_directory, single_head

    load_schema(schema_path)
    dbs = resolve_databases(database_url, dev_url)
    head = single_head(script_directory(alembic_config(config_path)))
    names = selected(dbs.live, patterns, schema_list)
    rows = tenants.statuses(
        schema_path, dbs.live, dbs.dev if drift else None, names, jobs, config_path
    )
    from .tenant_report import TenantReport

    found = TenantReport(dbs.live.safe, head, tuple(rows), drift)
    _echo(ctx, formats.TENANTS.render(fmt, found).rstrip("\n"))
    # a tenant whose state or drift could not be read is not a clean listing
    return EXIT_ERROR if any(s.error for s in rows) else EXIT_OK


def apply_tenants(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    target_schema: str | None,
    all_tenants: bool,
    patterns: Sequence[str],
    schema_list: str | None,
    jobs: int,
    timeouts: Mapping[str, str],
    allowed: frozenset[str],
    fmt: str = "text",
    stages: Stages | None = None,
    lock_tries: int = 1,
    targets_path: str | None = None,
) -> int:
    """`apply --target-schema NAME` / `apply --all-tenants [--targets FILE]`: a line per
    tenant and a summary (or the report in --format json/markdown); exit 1 if any failed."""
    from . import apply as applier
    from . import fleet, tenants
    from .revision import alembic_config, script_directory, single_head
    from .tenant_report import RolloutReport, rollout_line, rollout_summary

    load_schema(schema_path)
    if target_schema and (all_tenants or targets_path):
        raise BinduSchemaError("--target-schema and --all-tenants/--targets exclude each other")
    stages = stages or Stages()
    if targets_path:
        if database_url or patterns or schema_list:
            raise BinduSchemaError(
                "--targets names each database and its tenants; leave out --database-url, "
                "--pattern and --schema-list"
            )
        from . import targets

        fleet_targets = targets.load(targets_path, jobs)
        dev = resolve_dev(dev_url)
        for t in fleet_targets:
            refuse_same(t.url, dev)
        names = [t.select(stages.order) for t in fleet_targets]
        where = f"{targets_path} ({len(fleet_targets)} database(s))"
    else:
        dbs = resolve_databases(database_url, dev_url)
        dev = dbs.dev
        fleet_targets = [fleet.Target(dbs.live.safe, dbs.live, jobs=jobs)]
        names = [
            [tenants.check_name(target_schema)]
            if target_schema
            else selected(dbs.live, patterns, schema_list, stages.order)
        ]
        where = dbs.live.safe
    if stages.order == "size":
        names = [tenants.by_size(t.url, ns) for t, ns in zip(fleet_targets, names, strict=True)]
    urls = [t.url for t in fleet_targets]
    head = single_head(script_directory(alembic_config(config_path)))
    found = [tenants.states(t.url, ns) for t, ns in zip(fleet_targets, names, strict=True)]
    if stages.dry_run:
        return _dry_run(ctx, fleet_targets, names, found, head, stages)
    # Consent once, for every revision any selected tenant would run: refused = nothing applied.
    for heads in {st.heads for states in found for st in states.values()}:
        applier.check_consent(heads, config_path, allowed)
    started = time.monotonic()
    several = len(fleet_targets) > 1

    def report(r: tenants.TenantResult) -> None:
        """Text streams each tenant as it ends; json and markdown print once, at the end."""
        if fmt == "text":
            line = (f"{r.database}: " if several else "") + rollout_line(r)
            _echo(ctx, scrub(line, *urls), err=r.status == tenants.FAILED)

    cfg = fleet.Settings(
        schema_path, dev, config_path, dict(timeouts), lock_tries, True, stages.canary,
        stages.max_failures,
    )  # fmt: skip
    results = fleet.Rollout(fleet_targets, cfg, report).run(names, found)
    databases = tuple((t.name, t.url.safe, t.jobs) for t in fleet_targets)
    found_report = RolloutReport(
        where, head, tuple(results), time.monotonic() - started, jobs, databases
    )
    if fmt == "text":
        _echo(ctx, rollout_summary(found_report))
    else:
        _echo(ctx, scrub(formats.ROLLOUT.render(fmt, found_report), *urls).rstrip("\n"))
    return EXIT_OK if found_report.ok else EXIT_ERROR


def _dry_run(
    ctx: click.Context,
    targets: Sequence[Any],
    names: Sequence[Sequence[str]],
    found: Sequence[Mapping[str, Any]],
    head: str | None,
    stages: Stages,
) -> int:
    """What `apply --all-tenants` would do, tenant by tenant in its order; nothing runs.
    The canary is the first N tenants that have something to run, as in the rollout."""
    n = canaries = 0
    several = len(targets) > 1
    for t, ns, states in zip(targets, names, found, strict=True):
        for name in ns:
            n += 1
            st = states[name]
            work = True
            if not st.exists:
                what = "create it and migrate to head"
            elif st.versioned and st.heads == ((head,) if head else ()):
                what, work = "already at head: nothing (drift check only)", False
            elif st.versioned:
                what = f"migrate {', '.join(st.heads) or '(none)'} -> {head}"
            elif st.tables:
                what = f"convert (unversioned, {st.tables} tables) -> {head}"
            else:
                what = f"migrate (empty) -> {head}"
            stage = ""
            if work and canaries < stages.canary:
                canaries += 1
                stage = " [canary]"
            where = f"{t.name} " if several else ""
            _echo(ctx, f"{n:>4}. {where}{name}{stage}: {what}")
    budget = f", stop after {stages.max_failures} failure(s)" if stages.max_failures else ""
    place = ", ".join(t.url.safe for t in targets)
    _echo(ctx, f"dry run: {n} tenant(s) in {place}{budget}; nothing changed")
    return EXIT_OK


def adopt_tenant(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    target_schema: str,
) -> int:
    """`adopt --target-schema NAME`: stamp head when the schema equals it, else show the
    diff (what `apply --target-schema NAME` / `--all-tenants` would run) and exit 1."""
    from alembic import command

    from . import tenants
    from .revision import alembic_config, alembic_errors

    load_schema(schema_path)
    dbs = resolve_databases(database_url, dev_url)
    name = tenants.check_name(target_schema)
    st = tenants.state(dbs.live, name)
    if not st.exists:
        raise BinduSchemaError(f"{dbs.live.safe}: no schema {name}")
    if st.versioned:
        _echo(
            ctx,
            f"{dbs.live.safe} {name}: already managed (at {', '.join(st.heads) or '(none)'}); "
            "nothing to adopt, use `bindu-schema apply --target-schema`",
        )
        return EXIT_OK
    head, diff = tenants.diff_to_head(schema_path, dbs.live, dbs.dev, name, config_path)
    if not diff:
        cfg = alembic_config(config_path, dbs.live, schema_path, settings={"tenant_schema": name})
        with alembic_errors(dbs.live):
            command.stamp(cfg, "head")
        _echo(ctx, f"{dbs.live.safe} {name}: adopted; alembic_version (none) -> {head}")
        return EXIT_OK
    _echo(
        ctx,
        f"error: {name} was not adopted: it differs from the head of generated/ ({head}); "
        "nothing changed. `bindu-schema apply --target-schema "
        f"{name}` (or --all-tenants) runs these statements and stamps head in one "
        "transaction:\n" + scrub("\n\n".join(r.sql for r in diff), dbs.live),
        err=True,
    )
    return EXIT_ERROR


def check_tenant(
    ctx: click.Context,
    schema_path: str,
    database_url: str | None,
    dev_url: str | None,
    config_path: str,
    target_schema: str,
    fmt: str,
) -> int:
    """`check --target-schema NAME`: the tenant schema is at head and has no drift."""
    from . import check as checker
    from . import tenants
    from .revision import alembic_config, script_directory

    load_schema(schema_path)
    dbs = resolve_databases(database_url, dev_url)
    name = tenants.check_name(target_schema)
    heads = set(script_directory(alembic_config(config_path)).get_heads())
    st = tenants.state(dbs.live, name)
    checks = []
    where = f"{dbs.live.safe} {name}"
    if set(st.heads) == heads:
        checks.append(checker.Check("tenant at head", True, f"{where} is at head"))
    else:
        checks.append(
            checker.Check(
                "tenant at head",
                False,
                f"{where} is at {', '.join(sorted(st.heads)) or '(no revision)'}, head is "
                f"{', '.join(sorted(heads)) or '(none)'}; run `bindu-schema apply "
                f"--target-schema {name}`",
            )
        )
    found = tenants.drift(schema_path, dbs.live, dbs.dev, name) if st.exists else ()
    if found:
        checks.append(
            checker.Check(
                "tenant has no drift", False, f"{where} differs from {schema_path}:", found
            )
        )
    elif st.exists:
        checks.append(checker.Check("tenant has no drift", True, f"{where} matches {schema_path}"))
    else:
        checks.append(checker.Check("tenant has no drift", False, f"{where} does not exist"))
    _echo(ctx, formats.CHECK.render(fmt, checks).rstrip("\n"))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ERROR


__all__ = ["adopt_tenant", "apply_tenants", "check_tenant", "selected", "tenants_cmd"]
