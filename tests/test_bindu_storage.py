"""Bindu's own storage code on a database built by this tool (marker `bindu`).

A cached Python 3.12 venv with `bindu` from PyPI (tests/venvs.py) gets the wheel built
from this checkout; `bindu-schema apply` builds public; tests/bindu_driver.py drives
Bindu's PostgresStorage in public and in a tenant whose schema ensure_tenant_async made
on Bindu's engine. If Bindu cannot be installed, this fails with pip's reason."""

from __future__ import annotations

import json

import pytest
from alembic_project import versions
from conftest import ROOT, dev_args, sql
from schema_shape import shape
from venvs import bindu_venv, build_wheel, pip, run, version_of

pytestmark = pytest.mark.bindu

HEAD = versions(ROOT)[-1].name[:13]
DRIVER = ROOT / "tests" / "bindu_driver.py"
DID = "did:bindu:tenant-one"
TENANT = "did_bindu_tenant_one"


@pytest.fixture(scope="module")
def bindu_python(tmp_path_factory: pytest.TempPathFactory):
    py = bindu_venv()
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"))
    setuptools_before = version_of(py, "setuptools")
    pip(py, "install", "--quiet", wheel)  # what it needs beside Bindu's own dependencies
    pip(py, "install", "--quiet", "--force-reinstall", "--no-deps", wheel)  # this checkout
    assert version_of(py, "setuptools") == setuptools_before
    return py


def drive(py, url: str, *did: str) -> dict[str, object]:
    out = run([py, DRIVER, url, *did], cwd=DRIVER.parent.parent.parent)
    seen: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return seen


def updated_at_trigger_fires(db, schema: str, table: str, where: str) -> bool:
    """An UPDATE that writes an old updated_at: only the trigger can make it current."""
    rows = sql(
        db,
        f"update {schema}.{table} set updated_at = '2000-01-01' where {where} "
        "returning updated_at > '2001-01-01'",
    )
    assert rows, (schema, table, where)
    return all(bool(r[0]) for r in rows)


def test_bindu_postgres_storage_in_public_and_a_tenant(bindu_python, cli, make_db, dev_server):
    db = make_db()
    applied = cli("apply", "--database-url", db.sqlalchemy, *dev_args(dev_server))
    assert applied.code == 0, applied.text
    url = db.url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)

    public = drive(bindu_python, url)
    tenant = drive(bindu_python, url, DID)
    assert tenant["schema"] == tenant["schema_again"] == TENANT
    for seen in (public, tenant):
        assert seen["submitted"] == "submitted" and seen["kind"] == "task"
        assert seen["history_after_append"] == 2 and seen["loaded_history"] == 2
        assert seen["completed"] == "completed" and seen["artifacts"] == 1
        assert seen["metadata"] == {"source": "bindu-schema test"}
        assert seen["context_loaded"] is True
        assert seen["feedback"] == 2
        assert seen["webhook_token"] == "t2" and seen["webhooks_all"] == 1
        assert seen["webhook_after_delete"] is None
        assert seen["task_owner"] == seen["context_owner"] == "did:bindu:owner"
        assert seen["intruder"] == "OwnershipError"
        assert seen["count"] == seen["by_context"] == seen["listed"] == 1
        assert seen["task_after_clear"] is None and seen["feedback_after_clear"] == 0

    # each conversation landed in its own schema; Bindu's create_all added nothing
    for schema, seen in (("public", public), (TENANT, tenant)):
        assert sql(db, f"select id::text from {schema}.tasks") == [(seen["kept_task"],)]
    assert sql(db, f"select version_num from {TENANT}.alembic_version") == [(HEAD,)]
    assert shape(db, TENANT) == shape(db, "public")

    for schema, seen in (("public", public), (TENANT, tenant)):
        task, ctx = seen["kept_task"], seen["kept_context"]
        sql(
            db,
            f"insert into {schema}.webhook_configs (task_id, config) "
            f"values ('{task}', '{{}}'::jsonb)",
        )
        assert updated_at_trigger_fires(db, schema, "tasks", f"id = '{task}'")
        assert updated_at_trigger_fires(db, schema, "contexts", f"id = '{ctx}'")
        assert updated_at_trigger_fires(db, schema, "webhook_configs", f"task_id = '{task}'")
