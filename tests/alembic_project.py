"""Helpers for the Alembic tests: temporary copies of the project layout, and running the
real `alembic` command line in them as a subprocess (with the test session's server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, Result, dev_args

from bindu_schema.settings import DatabaseURL

ENV_VARS = ("DATABASE_URL", "STORAGE__POSTGRES_URL")


def make_project(base: Path, schema_yaml: str, with_versions: bool = False) -> Path:
    """alembic.ini, generated/{env.py,script.py.mako,versions/}, schema/bindu.yaml."""
    proj = base / "project"
    (proj / "generated" / "versions").mkdir(parents=True)
    (proj / "schema").mkdir()
    shutil.copy(ROOT / "alembic.ini", proj / "alembic.ini")
    for name in ("env.py", "script.py.mako"):
        shutil.copy(ROOT / "generated" / name, proj / "generated" / name)
    if with_versions:
        for f in (ROOT / "generated" / "versions").glob("*.py"):
            shutil.copy(f, proj / "generated" / "versions" / f.name)
    (proj / "schema" / "bindu.yaml").write_text(schema_yaml)
    return proj


def project_args(proj: Path, db: DatabaseURL | None, dev: DatabaseURL) -> list[str]:
    """-c and --schema of a project made by make_project, --database-url (when db is
    given) and the session's dev server."""
    args = ["-c", str(proj / "alembic.ini"), "--schema", str(proj / "schema" / "bindu.yaml")]
    if db is not None:
        args += ["--database-url", db.sqlalchemy]
    return args + dev_args(dev)


def revision_in(
    cli: Callable[..., Result], proj: Path, dev: DatabaseURL, message: str, *extra: str
) -> Result:
    """`bindu-schema revision -m MESSAGE` in the project (cli: the conftest fixture)."""
    return cli("revision", "-m", message, *project_args(proj, None, dev), *extra)


def versions(proj: Path) -> list[Path]:
    return sorted((proj / "generated" / "versions").glob("*.py"))


def url_as(url: DatabaseURL, scheme: str) -> str:
    """The URL rendered with another scheme (postgresql://, postgresql+asyncpg://, ...)."""
    return url.url.set(drivername=scheme).render_as_string(hide_password=False)


def alembic(
    proj: Path,
    *args: str,
    url: DatabaseURL | str | None = None,
    env_var: str = "DATABASE_URL",
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Result:
    """`alembic ARGS` run from the project root, the database given by env_var."""
    e = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    assert e.get("BINDU_SCHEMA_HOME"), "the test session sets BINDU_SCHEMA_HOME"
    if url is not None:
        e[env_var] = url if isinstance(url, str) else url.sqlalchemy
    e.update(env or {})
    p = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=proj,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def ok(r: Result) -> Result:
    assert r.code == 0, r.text
    return r


def user_tables(url: DatabaseURL) -> list[str]:
    from conftest import sql

    rows = sql(url, "select tablename from pg_tables where schemaname = 'public' order by 1")
    return [str(r[0]) for r in rows]
