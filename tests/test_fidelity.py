"""Catalog fidelity (issue 13) against real PostgreSQL, 18 and 15.

Each case in tests/cases/fidelity/ is one blind spot of migra as a before/after pair on
Bindu's schema: the database Bindu's own head leaves (tests/fixtures/bindu_head.sql plus the
legacy helpers, which the YAML excludes), changed by `before`, against schema/bindu.yaml.
The plan must exit 2 with the expected statement (then running it leaves nothing to plan)
or with the "cannot declare" drift line (then the human's `resolve` leaves nothing to plan);
a column-order case is a note and exits 0.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from alembic_project import alembic, ok
from conftest import ROOT, dev_args, sql
from test_plan_acceptance import LEGACY_HELPERS, SCHEMA, load_fixture

from bindu_schema import fidelity, model, pgtools
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

CASES = ROOT / "tests" / "cases" / "fidelity"
CASE_FILES = sorted(CASES.glob("*.yaml"))
DEBIAN_PG_DUMP = Path("/usr/lib/postgresql/15/bin/pg_dump")


def bindu_head(make_db) -> DatabaseURL:
    db = load_fixture(make_db())
    sql(db, LEGACY_HELPERS)
    return db


def plan(cli, db: DatabaseURL, dev: DatabaseURL, *extra: str) -> tuple[int, dict]:
    r = cli(
        "plan", "--schema", str(SCHEMA), "--database-url", db.sqlalchemy, *dev_args(dev),
        "--format", "json", *extra,
    )  # fmt: skip
    assert r.code in (0, 2), r.text
    return r.code, json.loads(r.out)


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_blind_spot(case: Path, cli, make_db, dev_server):
    spec = yaml.safe_load(case.read_text())
    db = bindu_head(make_db)
    assert plan(cli, db, dev_server)[0] == 0
    sql(db, spec["before"])
    code, data = plan(cli, db, dev_server)
    if "note" in spec:
        assert code == 0, data
        assert any(spec["note"] in n for n in data["notes"]), data["notes"]
        assert data["drift"] == []
        return
    assert code == 2, data
    if "statement" in spec:
        want = _loose(spec["statement"])
        found = [s for s in data["statements"] if want in _loose(s["sql"])]
        assert found, [s["sql"] for s in data["statements"]]
        assert set(spec.get("hazards", [])) <= set(found[0]["hazards"])
        assert data["drift"] == []
        for s in data["statements"]:  # apply
            sql(db, s["sql"])
    else:
        assert data["statements"] == []
        assert any(spec["drift"] in d for d in data["drift"]), data["drift"]
        text = cli(
            "plan", "--schema", str(SCHEMA), "--database-url", db.sqlalchemy, *dev_args(dev_server)
        )
        assert text.code == 2 and "the schema format cannot declare" in text.out, text.text
        sql(db, spec["resolve"])  # the human's fix
    code, data = plan(cli, db, dev_server)
    assert code == 0, data
    assert data["statements"] == [] and data["drift"] == []


def _loose(sql_text: str) -> str:
    """Statement text for a containment check: case, quotes and public. do not matter."""
    return " ".join(sql_text.lower().replace('"', "").replace("public.", "").split())


def _sections(dump: str) -> str:
    """A schema-only dump normalized: pg_dump's comments, settings and random keys removed,
    whitespace inside lines collapsed (function bodies differ in indentation), and what the
    YAML does not manage (alembic_version, the legacy helpers) left out.
    pg_dump starts every object with a `-- Name: <name>; Type: ...` header."""
    skip = ("alembic_version", "create_bindu_tables_in_schema", "drop_bindu_tables_in_schema")
    out: list[str] = []
    keep = True
    for line in pgtools.dump_identity(dump).splitlines():
        if line.startswith("-- Name: "):
            keep = not line[len("-- Name: ") :].startswith(skip)
            continue
        if not keep or not line.strip() or line.startswith(("--", "SET ", "SELECT pg_catalog")):
            continue
        out.append(" ".join(line.split()))  # function bodies: indentation is not schema
    return "\n".join(out)


def _debian_dump(url: DatabaseURL) -> str:
    proc = subprocess.run(
        [
            str(DEBIAN_PG_DUMP),
            "--no-password",
            f"--dbname={url.conninfo()}",
            "--schema-only",
            "--no-owner",
            "--no-privileges",
        ],  # fmt: skip
        env=pgtools.libpq_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_head_of_generated_equals_bindu_head(make_db, dev_server):
    """`alembic upgrade head` from generated/ and Bindu's own head: the same pg_dump."""
    ours = make_db()
    ok(alembic(ROOT, "upgrade", "head", url=ours))
    theirs = bindu_head(make_db)
    assert "SEQUENCE public.task_feedback_id_seq\n    AS integer" in pgtools.dump_schema(ours)
    assert _sections(pgtools.dump_schema(ours)) == _sections(pgtools.dump_schema(theirs))
    facts = [fidelity.read(db, "public", model.Exclude(
        functions=("create_bindu_tables_in_schema", "drop_bindu_tables_in_schema"))
    ) for db in (ours, theirs)]  # fmt: skip
    assert fidelity.compare(*facts).differences == ()
    assert fidelity.compare(*facts).notes == ()
    version = int(sql(ours, "show server_version_num")[0][0])
    if version < 160000:  # Debian's server: its own pg_dump must agree too
        assert _sections(_debian_dump(ours)) == _sections(_debian_dump(theirs))


def test_initial_revision_alone_is_the_bigint_sequence_the_new_revision_fixes(make_db, dev_server):
    """The revision that turns the sequence into integer matters on databases built by the
    initial revision and changes nothing on an adopted Bindu database."""
    db = make_db()
    initial = sorted((ROOT / "generated" / "versions").glob("*.py"))[0].name[:13]
    ok(alembic(ROOT, "upgrade", initial, url=db))
    seq = "select format_type(seqtypid, null), seqmax from pg_sequence where seqrelid = "
    seq += "'task_feedback_id_seq'::regclass"
    assert sql(db, seq) == [("bigint", 9223372036854775807)]
    ok(alembic(ROOT, "upgrade", "head", url=db))
    assert sql(db, seq) == [("integer", 2147483647)]
    theirs = bindu_head(make_db)
    sql(theirs, "insert into contexts (id) values ('00000000-0000-0000-0000-000000000001')")
    before = pgtools.dump_identity(pgtools.dump_schema(theirs))
    sql(
        theirs,
        "create table alembic_version (version_num varchar(32) primary key);"
        f"insert into alembic_version values ('{initial}')",
    )
    ok(alembic(ROOT, "upgrade", "head", url=theirs))
    assert sql(theirs, seq) == [("integer", 2147483647)]
    after = pgtools.dump_identity(pgtools.dump_schema(theirs))
    assert _sections(after) == _sections(before)


def test_drift_reported_by_check_apply_tenants_and_adopt(cli, make_db, dev_server):
    """What the YAML cannot declare is drift in every command that looks for drift."""
    from bindu_schema import ensure_tenant

    db = make_db()
    args = ["--database-url", db.sqlalchemy, *dev_args(dev_server)]
    assert cli("apply", *args).code == 0
    tenant = ensure_tenant(db.sqlalchemy, "did:bindu:fidelity")
    # a constraint's comment: the format does not declare it
    sql(db, "comment on constraint tasks_pkey on tasks is 'tuned by hand'")
    sql(db, f"comment on constraint tasks_pkey on {tenant}.tasks is 'tenant note'")
    line = "constraint tasks.tasks_pkey: comment is 'tuned by hand' here"

    chk = cli("check", "--format", "json", *args)
    assert chk.code == 1, chk.text
    live = {c["name"]: c for c in json.loads(chk.out)["checks"]}["live has no drift"]
    assert not live["ok"] and any(line in d for d in live["diff"]), live

    again = cli("apply", *args)
    assert again.code == 1 and line in again.text, again.text

    listing = cli("tenants", "--format", "json", *args)
    assert listing.code == 0, listing.text
    [row] = [t for t in json.loads(listing.out)["tenants"] if t["schema"] == tenant]
    assert row["drift"] is True
    assert any("comment is 'tenant note' here" in s for s in row["statements"]), row

    bindu = bindu_head(make_db)
    sql(bindu, "alter sequence task_feedback_id_seq as bigint")
    adopt = cli("adopt", "--database-url", bindu.sqlalchemy, *dev_args(dev_server))
    assert adopt.code == 1, adopt.text
    assert "sequence task_feedback_id_seq: type is 'bigint' here, 'integer'" in adopt.err
