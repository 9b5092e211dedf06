"""Tenant schemas against real PostgreSQL: ensure_tenant, `tenants`, `apply --all-tenants`
(one tenant failing), concurrent ensure_tenant, schemas from Bindu's old run-time path, and
schema-agnostic revision statements. docs/tenants.md."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from alembic_project import make_project, project_args, versions
from conftest import ROOT, dev_args, sql

from bindu_schema import ensure_tenant, fidelity, server, tenancy, tenants
from bindu_schema.errors import BinduSchemaError
from bindu_schema.unqualify import literal_mentions_public, unqualify

OLD_STYLE = (ROOT / "tests" / "fixtures" / "old_runtime_tenant.sql").read_text()
HEAD = versions(ROOT)[-1].name[:13]  # ensure_tenant migrates to it
N_TENANTS = 50
BROKEN = 13  # the tenant given a conflicting object

TASKS_ANCHOR = "  task_feedback:\n"
NEW_TABLE = """  tenant_notes:
    columns:
      id: {type: uuid, nullable: false}
      note: {type: text}
    primary_key: {name: tenant_notes_pkey, columns: [id]}
"""


def with_yaml_change(text: str) -> str:
    """A new table and a new nullable column on tasks."""
    owner = "      owner_did: {type: varchar(255)}\n"
    at = text.index(owner, text.index("\n  tasks:\n"))
    text = text[: at + len(owner)] + "      priority: {type: integer}\n" + text[at + len(owner) :]
    assert text.count(TASKS_ANCHOR) == 1
    return text.replace(TASKS_ANCHOR, NEW_TABLE + TASKS_ANCHOR)


def seed(db, schema: str, n: int) -> None:
    ctx = f"00000000-0000-0000-0000-{n:012d}"
    sql(
        db,
        f"insert into {schema}.contexts (id) values ('{ctx}');"
        f"insert into {schema}.tasks (id, context_id, kind, state, state_timestamp) values "
        f"(gen_random_uuid(), '{ctx}', 'task', 'working', now()),"
        f"(gen_random_uuid(), '{ctx}', 'task', 'completed', now());",
    )


def task_count(db, schema: str) -> int:
    return int(sql(db, f"select count(*) from {schema}.tasks")[0][0])


def version(db, schema: str) -> list[str]:
    return [str(r[0]) for r in sql(db, f"select version_num from {schema}.alembic_version")]


def columns(db, schema: str, table: str) -> list[str]:
    rows = sql(
        db,
        "select column_name from information_schema.columns where table_schema = "
        f"'{schema}' and table_name = '{table}' order by ordinal_position",
    )
    return [str(r[0]) for r in rows]


def public_objects(db) -> int:
    return int(
        sql(
            db,
            "select (select count(*) from pg_class c join pg_namespace n on n.oid = "
            "c.relnamespace where n.nspname = 'public') + (select count(*) from pg_proc p "
            "join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public')",
        )[0][0]
    )


def test_fifty_tenants_one_failing(tmp_path, cli, make_db, dev_server):
    proj = make_project(tmp_path, (ROOT / "schema" / "bindu.yaml").read_text(), with_versions=True)
    ini = proj / "alembic.ini"
    db = make_db()
    names = [
        ensure_tenant(db.sqlalchemy, f"did:bindu:tenant-{n:02d}", ini=ini) for n in range(N_TENANTS)
    ]
    assert names == [f"did_bindu_tenant_{n:02d}" for n in range(N_TENANTS)]
    for n, name in enumerate(names):
        assert version(db, name) == [HEAD]
        seed(db, name, n)
    # idempotent: a second call changes nothing
    assert ensure_tenant(db.sqlalchemy, "did:bindu:tenant-00", ini=ini) == names[0]
    assert version(db, names[0]) == [HEAD] and task_count(db, names[0]) == 2

    broken = names[BROKEN]
    sql(db, f"create table {broken}.tenant_notes (something_else integer)")

    (proj / "schema" / "bindu.yaml").write_text(
        with_yaml_change((proj / "schema" / "bindu.yaml").read_text())
    )
    r = cli("revision", "-m", "tenant notes", *project_args(proj, db, dev_server))
    assert r.code == 0, r.text
    new_head = versions(proj)[-1].name[:13]
    assert new_head != HEAD
    text = versions(proj)[-1].read_text()
    assert "public" not in text.split('"""', 2)[2]  # statements are schema-agnostic

    r = cli("apply", "--all-tenants", "--jobs", "4", *project_args(proj, db, dev_server))
    assert r.code == 1, r.text
    assert f"tenants: {N_TENANTS}; succeeded {N_TENANTS - 1}" in r.out
    assert "failed 1, already current 0" in r.out
    assert f"failed: {broken}" in r.out
    assert f"FAILED {broken}" in r.err and "already exists" in r.err

    for name in names:
        if name == broken:
            continue
        assert version(db, name) == [new_head], name
        assert task_count(db, name) == 2, name
        assert "priority" in columns(db, name, "tasks")
        assert columns(db, name, "tenant_notes") == ["id", "note"]
    # the failed tenant is exactly as it was
    assert version(db, broken) == [HEAD]
    assert "priority" not in columns(db, broken, "tasks")
    assert columns(db, broken, "tenant_notes") == ["something_else"]
    assert task_count(db, broken) == 2
    assert public_objects(db) == 0

    # `tenants` (drift = a plan per tenant): every migrated tenant at head without drift
    listing = cli("tenants", "--format", "json", *project_args(proj, db, dev_server))
    assert listing.code == 0, listing.text
    doc = json.loads(listing.out)
    assert doc["head"] == new_head
    by_name = {t["schema"]: t for t in doc["tenants"]}
    assert sorted(by_name) == names
    for name, t in by_name.items():
        if name == broken:
            assert (t["at_head"], t["drift"]) == (False, True)
        else:
            assert (t["at_head"], t["drift"], t["error"]) == (True, False, None), t
    jsonschema.validate(doc, json.loads((ROOT / "docs" / "tenants-list.schema.json").read_text()))
    # the rollout as data: one tenant at head, the broken one failing again
    r = cli("apply", "--schema-list", f"{names[0]},{broken}", "--format", "json",
            *project_args(proj, db, dev_server))  # fmt: skip
    assert r.code == 1, r.text
    rollout = json.loads(r.out)
    jsonschema.validate(
        rollout, json.loads((ROOT / "docs" / "tenant-rollout.schema.json").read_text())
    )
    assert (rollout["head"], rollout["counts"]["CURRENT"], rollout["counts"]["FAILED"]) == (
        new_head,
        1,
        1,
    )
    failed = next(t for t in rollout["tenants"] if t["status"] == "FAILED")
    assert failed["schema"] == broken and "already exists" in failed["error"]
    assert failed["before"] == [HEAD] and failed["seconds"] > 0
    r = cli("apply", "--schema-list", f"{names[0]},{broken}", "--format", "markdown",
            *project_args(proj, db, dev_server))  # fmt: skip
    assert r.code == 1 and "**1 failed**" in r.out and f"| `{broken}` | {HEAD} |" in r.out
    md = cli("tenants", "--format", "markdown", "--no-drift", *project_args(proj, db, dev_server))
    assert md.code == 0, md.text
    assert f"{len(names)} tenant schema(s)" in md.out and "**1 not at head**" in md.out
    assert f"| `{broken}` | {HEAD} | drift not checked |" in md.out.splitlines()
    good = names[0]
    chk = cli("check", "--target-schema", good, *project_args(proj, db, dev_server))
    assert chk.code == 0, chk.text
    plan = cli("plan", "--target-schema", good, "--no-validate", "--no-lint",
               "--schema", str(proj / "schema" / "bindu.yaml"), "--database-url", db.sqlalchemy,
               *dev_args(dev_server))  # fmt: skip
    assert plan.code == 0, plan.text
    bad = cli("check", "--target-schema", broken, *project_args(proj, db, dev_server))
    assert bad.code == 1 and "tenant at head" in bad.out

    # once the conflict is removed the same command finishes the job
    sql(db, f"drop table {broken}.tenant_notes")
    again = cli("apply", "--all-tenants", *project_args(proj, db, dev_server))
    assert again.code == 0, again.text
    assert f"succeeded 1 (migrated 1, converted 0), failed 0, already current {N_TENANTS - 1}" in (
        again.out
    )
    assert version(db, broken) == [new_head] and task_count(db, broken) == 2


def _ensure_in_process(db_url: str, did: str, ini: Path) -> subprocess.Popen[str]:
    code = (
        "import sys; from bindu_schema import ensure_tenant; "
        "print(ensure_tenant(sys.argv[1], sys.argv[2], ini=sys.argv[3]))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, db_url, did, str(ini)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_ensure_the_same_tenant(make_db):
    db = make_db()
    did = "did:bindu:concurrent"
    name = tenancy.schema_name(did)
    # Hold the tenant's advisory lock so both processes are inside ensure_tenant at once.
    holder = server.connect(db, autocommit=True)
    try:
        with holder.cursor() as cur:
            cur.execute(
                "select pg_advisory_lock(%s, hashtext(%s))", (tenancy.TENANT_LOCK_CLASS, name)
            )
            procs = [_ensure_in_process(db.sqlalchemy, did, ROOT / "alembic.ini") for _ in "ab"]
            waiting = 0
            while waiting < 2 and all(p.poll() is None for p in procs):
                time.sleep(0.05)
                cur.execute(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted "
                    "and classid = %s",
                    (tenancy.TENANT_LOCK_CLASS,),
                )
                row = cur.fetchone()
                waiting = int(row[0]) if row else 0
            assert waiting == 2, [p.communicate() for p in procs]
            assert not sql(db, f"select 1 from pg_namespace where nspname = '{name}'")
            cur.execute(
                "select pg_advisory_unlock(%s, hashtext(%s))", (tenancy.TENANT_LOCK_CLASS, name)
            )
    finally:
        holder.close()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == name
    assert version(db, name) == [HEAD]
    assert public_objects(db) == 0


def test_old_runtime_tenant_brought_to_head(cli, make_db, dev_server):
    db = make_db()
    old = "did_bindu_legacy"
    sql(db, OLD_STYLE.replace("__SCHEMA__", old))
    seed(db, old, 1)
    fresh = ensure_tenant(db.sqlalchemy, "did:bindu:fresh")
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server)]

    listing = cli("tenants", *args)
    assert listing.code == 0, listing.text
    assert f"{old}" in listing.out and "(unversioned, 4 tables)" in listing.out

    with pytest.raises(BinduSchemaError, match="apply --target-schema did_bindu_legacy"):
        ensure_tenant(db.sqlalchemy, "did:bindu:legacy")

    shown = cli("adopt", "--target-schema", old, *args)
    assert shown.code == 1
    for piece in (
        "CREATE TRIGGER update_tasks_updated_at",
        # create_all made idx_tasks_metadata_gin and idx_contexts_data_gin; head adds these
        "idx_tasks_history_gin",
        "idx_contexts_history_gin",
        "idx_tasks_artifacts_gin",
        "(created_at DESC)",
        "set default 'task'::character varying",
    ):
        assert piece in shown.err, piece
    assert not sql(db, f"select 1 from pg_tables where schemaname = '{old}' "
                       "and tablename = 'alembic_version'")  # fmt: skip

    r = cli("apply", "--all-tenants", *args)
    assert r.code == 0, r.text
    assert "converted 1" in r.out and "already current 1" in r.out
    assert version(db, old) == [HEAD] and version(db, fresh) == [HEAD]
    assert task_count(db, old) == 2
    before = sql(db, f"select updated_at from {old}.contexts")[0][0]
    sql(db, f"update {old}.contexts set owner_did = 'x'")  # the trigger now exists
    assert sql(db, f"select updated_at from {old}.contexts")[0][0] != before
    default = sql(
        db,
        "select column_default from information_schema.columns where "
        f"table_schema = '{old}' and table_name = 'tasks' and column_name = 'kind'",
    )
    assert default == [("'task'::character varying",)]
    chk = cli("check", "--target-schema", old, *args)
    assert chk.code == 0, chk.text
    # the converted tenant and the one ensure_tenant made are equal at catalog fidelity
    converted, made = fidelity.read(db, old), fidelity.read(db, fresh)
    assert fidelity.compare(converted, made).differences == ()
    for facts in (converted, made):
        assert facts.objects[("sequence", "task_feedback_id_seq")]["type"] == "integer"
    assert public_objects(db) == 0
    # adopt on a managed tenant schema changes nothing
    assert cli("adopt", "--target-schema", old, *args).code == 0


def test_old_runtime_tenant_matching_head_is_stamped(cli, make_db, dev_server):
    """An unversioned schema whose objects equal head: adopt stamps it, no statement runs."""
    db = make_db()
    name = ensure_tenant(db.sqlalchemy, "did:bindu:stamp-me")
    seed(db, name, 2)
    sql(db, f"drop table {name}.alembic_version")
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server)]
    r = cli("adopt", "--target-schema", name, *args)
    assert r.code == 0, r.text
    assert "adopted" in r.out
    assert version(db, name) == [HEAD] and task_count(db, name) == 2


def test_conversion_refuses_to_delete_data(cli, make_db, dev_server):
    db = make_db()
    old = "did_bindu_extra"
    sql(db, OLD_STYLE.replace("__SCHEMA__", old))
    sql(db, f"alter table {old}.tasks add column legacy_note text")
    seed(db, old, 3)
    r = cli("apply", "--target-schema", old, "--database-url", db.sqlalchemy,
            *dev_args(dev_server))  # fmt: skip
    assert r.code == 1
    assert "would delete data" in r.err and "legacy_note" in r.err
    assert "legacy_note" in columns(db, old, "tasks")
    assert not sql(db, f"select 1 from pg_tables where schemaname = '{old}' "
                       "and tablename = 'alembic_version'")  # fmt: skip
    assert not sql(db, f"select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid "
                       f"join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{old}'"
                       " and not t.tgisinternal")  # fmt: skip


def test_schema_list_and_patterns(cli, make_db, dev_server):
    db = make_db()
    a = ensure_tenant(db.sqlalchemy, "did:a")
    b = ensure_tenant(db.sqlalchemy, "42-tenant")
    sql(db, "create schema other_stuff")
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server), "--no-drift"]
    r = cli("tenants", *args)
    assert r.code == 0, r.text
    assert a in r.out and b in r.out and "other_stuff" not in r.out
    only = cli("tenants", "--pattern", r"schema\_%", *args)
    assert b in only.out and a not in only.out
    listed = cli("tenants", "--schema-list", f"{a},did_missing", *args)
    assert "did_missing  (missing)" in listed.out and b not in listed.out
    assert cli("tenants", "--schema-list", "Bad-Name", *args).code == 1
    assert tenants.find(db, ["did\\_%"]) == [a]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('create table "public"."tasks" ("id" uuid)', 'create table "tasks" ("id" uuid)'),
        (
            "CREATE INDEX i ON public.tasks USING gin (history)",
            "CREATE INDEX i ON tasks USING gin (history)",
        ),
        (
            'alter sequence "public"."s" owned by "public"."t"."id"',
            'alter sequence "s" owned by "t"."id"',
        ),
        ("COMMENT ON TABLE public.t IS 'see public.t'", "COMMENT ON TABLE t IS 'see public.t'"),
        (
            "CREATE FUNCTION public.f() RETURNS int AS $b$ select 1 from public.t $b$",
            "CREATE FUNCTION f() RETURNS int AS $b$ select 1 from public.t $b$",
        ),
        ('select x.public.y, mypublic.z, "Public".w', 'select x.public.y, mypublic.z, "Public".w'),
        ("select E'it\\'s public.x' from public.t", "select E'it\\'s public.x' from t"),
        ("-- public.t\nselect 1", "-- public.t\nselect 1"),
    ],
)
def test_unqualify(before, after):
    assert unqualify(before) == after


def test_literal_mentions_public():
    assert literal_mentions_public("select nextval('public.s'::regclass)")
    assert not literal_mentions_public("select nextval('s'::regclass) from public.t")
