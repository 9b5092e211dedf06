"""Plan output for people and machines: markdown (golden), JSON (published schema),
colored text, progress, and the statement summary.

Regenerate the golden markdown after an intended change, then review the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py
"""

from __future__ import annotations

import json
import os
import select
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT, Result, dev_args

from bindu_schema import compile as compiler
from bindu_schema import hazards, loader, model, progress, report, server, statements
from bindu_schema import plan as planner
from bindu_schema.settings import DatabaseURL

GOLDEN = ROOT / "tests" / "golden" / "plan_hazard.md"
PLAN_SCHEMA = ROOT / "docs" / "plan-output.schema.json"
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))
TARGET_LABEL = "postgresql://app@db.example.invalid/bindu"

Cli = Callable[..., Result]
MakeDb = Callable[[], DatabaseURL]

# The live database: what production has today.
LIVE_SQL = """
CREATE TABLE projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    legacy_code text
);
CREATE TABLE tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title varchar(100) NOT NULL
);
ALTER TABLE tasks RENAME CONSTRAINT tasks_project_id_fkey TO tasks_project_fkey;
"""

# The YAML of the pull request: drops a column (DELETES_DATA), adds columns, an index on
# an existing table, a new table with a foreign key and a comment.
YAML = """\
version: 1
tables:
  projects:
    columns:
      id: {type: bigint, nullable: false, identity: always}
      name: {type: text, nullable: false}
      owner: {type: text}
    primary_key: {name: projects_pkey, columns: [id]}
    indexes:
      projects_owner_idx: {columns: [owner]}
  tasks:
    comment: Work items
    columns:
      id: {type: bigint, nullable: false, identity: always}
      project_id: {type: bigint, nullable: false}
      title: {type: varchar(200), nullable: false}
      priority: {type: integer, nullable: false, default: "0"}
    primary_key: {name: tasks_pkey, columns: [id]}
    foreign_keys:
      tasks_project_fkey:
        columns: [project_id]
        references: {table: projects, columns: [id]}
        on_delete: cascade
  labels:
    columns:
      task_id: {type: bigint, nullable: false}
      label: {type: text, nullable: false}
    primary_key: {name: labels_pkey, columns: [task_id, label]}
    foreign_keys:
      labels_task_fkey:
        columns: [task_id]
        references: {table: tasks, columns: [id]}
"""


def _run(db: DatabaseURL, text: str) -> None:
    conn = server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(text)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def hazard_case(make_db: MakeDb, tmp_path: Path) -> Iterator[tuple[DatabaseURL, Path]]:
    live = make_db()
    _run(live, LIVE_SQL)
    path = tmp_path / "schema.yaml"
    path.write_text(YAML)
    yield live, path


@pytest.fixture
def hazard_plan(
    hazard_case: tuple[DatabaseURL, Path], dev_server: DatabaseURL
) -> tuple[planner.Plan, model.Schema]:
    live, path = hazard_case
    schema = loader.load(path)
    return planner.build(schema, live, dev_server), schema


def test_markdown_golden(hazard_plan: tuple[planner.Plan, model.Schema]) -> None:
    plan, schema = hazard_plan
    assert any(hazards.DELETES_DATA in s.hazards for s in plan.statements)
    text = report.render_markdown(replace(plan, target=TARGET_LABEL), schema)
    if UPDATE:
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), f"{GOLDEN} is missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == GOLDEN.read_text(), (
        f"{GOLDEN.relative_to(ROOT)} differs; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 and review the diff"
    )


def test_json_validates_against_the_published_schema(
    cli: Cli, hazard_case: tuple[DatabaseURL, Path], dev_server: DatabaseURL, make_db: MakeDb
) -> None:
    live, path = hazard_case
    validator = jsonschema.Draft202012Validator(json.loads(PLAN_SCHEMA.read_text()))
    res = cli(
        "plan",
        "--format",
        "json",
        "--schema",
        str(path),
        "--database-url",
        live.sqlalchemy,
        *dev_args(dev_server),
    )
    assert res.code == 2, res.text
    doc = json.loads(res.out)
    validator.validate(doc)
    assert doc["changes"] is True
    assert doc["summary"]["column"] == {"create": 2, "alter": 1, "drop": 1}
    assert doc["summary"]["table"] == {"create": 1, "alter": 0, "drop": 0}
    assert sum(sum(v.values()) for v in doc["summary"].values()) == len(doc["statements"])
    assert any("DELETES_DATA" in s["hazards"] for s in doc["statements"])
    assert any(f["same_as_hazard"] == "DELETES_DATA" for s in doc["statements"] for f in s["lint"])
    # No changes: a database built from the YAML itself.
    same = make_db()
    server.load_ddl(same, compiler.compile_schema(loader.load(path)))
    none = cli(
        "plan",
        "--format",
        "json",
        "--schema",
        str(path),
        "--database-url",
        same.sqlalchemy,
        *dev_args(dev_server),
    )
    assert none.code == 0, none.text
    validator.validate(json.loads(none.out))
    empty = json.loads(none.out)
    assert (empty["changes"], empty["statements"]) == (False, [])
    assert all(n == 0 for v in empty["summary"].values() for n in v.values())
    empty["statements"] = doc["statements"]
    assert not validator.is_valid(empty)  # changes: false with statements is refused


def test_published_schema_names_every_hazard_and_object_type() -> None:
    schema = json.loads(PLAN_SCHEMA.read_text())
    assert schema["$defs"]["hazard"]["enum"] == list(hazards.ALL)
    assert schema["properties"]["summary"]["required"] == list(report.OBJECT_TYPES)
    assert schema["properties"]["format_version"] == {
        "const": 1,
        "description": "Version of this document's shape.",
    }
    assert "2 = changes pending" in schema["description"]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_markdown_from_the_cli(
    cli: Cli, hazard_case: tuple[DatabaseURL, Path], dev_server: DatabaseURL
) -> None:
    live, path = hazard_case
    res = cli(
        "plan",
        "--format",
        "markdown",
        "--no-lint",
        "--schema",
        str(path),
        "--database-url",
        live.sqlalchemy,
        *dev_args(dev_server),
    )
    assert res.code == 2, res.text
    md = res.out
    assert md.startswith("### bindu-schema plan\n")
    assert md.index("#### Hazards") < md.index("#### SQL") < md.index("```mermaid")
    assert "```sql\n-- 1\n" in md
    assert "squawk" not in md  # --no-lint
    assert live.database in md  # the real target, redacted URL


def test_markdown_of_an_empty_plan() -> None:
    p = planner.Plan(statements=(), source_sha256="ab" * 32, target="postgresql://x/db")
    assert report.render_markdown(p) == (
        "### bindu-schema plan\n\nNo changes: `postgresql://x/db` matches the schema "
        "(sha256 `abababababab`).\n"
    )


def test_colors_on_hazard_lines_only(hazard_plan: tuple[planner.Plan, model.Schema]) -> None:
    plan, _ = hazard_plan
    plain = report.render_text(plan, color=False)
    colored = report.render_text(plan, color=True)
    assert "\033[" not in plain
    assert _strip_ansi(colored) == plain
    for line in colored.splitlines():
        if line.startswith(f"{report.BOLD_RED}--   hazard DELETES_DATA"):
            continue
        if "--   hazard " in line or "--   lint " in line:
            assert line.startswith(report.YELLOW), line
        elif not line.startswith(report.DIM):
            assert "\033[" not in line, line  # SQL stays plain
    assert f"{report.BOLD_RED}--   hazard DELETES_DATA" in colored


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\033\[[0-9;]*m", "", text)


def test_cli_color_flag(
    cli: Cli, hazard_case: tuple[DatabaseURL, Path], dev_server: DatabaseURL
) -> None:
    live, path = hazard_case
    args = [
        "plan",
        "--no-lint",
        "--no-validate",
        "--schema",
        str(path),
        "--database-url",
        live.sqlalchemy,
        *dev_args(dev_server),
    ]
    auto = cli(*args)  # the test's stdout is not a terminal
    always = cli(*args, "--color", "always")
    never = cli(*args, "--color", "never", env={"TERM": "xterm"})
    assert auto.code == always.code == never.code == 2
    assert "\033[" not in auto.out and "\033[" not in never.out
    assert "\033[1;31m--   hazard DELETES_DATA" in always.out
    assert _strip_ansi(always.out) == auto.out
    assert auto.err == ""  # no progress when stderr is not a terminal


def test_use_color_rules() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert report.use_color("auto", tty, {}) is True
            assert report.use_color("auto", tty, {"NO_COLOR": "1"}) is False
            assert report.use_color("auto", tty, {"NO_COLOR": ""}) is True  # empty: ignored
            assert report.use_color("auto", tty, {"TERM": "dumb"}) is False
            assert report.use_color("never", tty, {}) is False
        with open(os.devnull, "w") as piped:
            assert report.use_color("auto", piped, {}) is False
            assert report.use_color("always", piped, {"NO_COLOR": "1"}) is True
    finally:
        os.close(master)
        os.close(slave)


def test_progress_only_on_a_terminal(tmp_path: Path) -> None:
    with open(tmp_path / "log", "w") as piped:
        with progress.step("loading", piped):
            pass
    assert (tmp_path / "log").read_text() == ""
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            with progress.step("loading DDL", tty):
                pass
            with pytest.raises(RuntimeError), progress.step("inspecting", tty):
                raise RuntimeError("boom")
        seen = ""
        while "failed" not in seen and select.select([master], [], [], 5)[0]:
            seen += os.read(master, 4096).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert "loading DDL ... done (" in seen
    assert "inspecting ... failed" in seen


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('create table "public"."t" ("a" int)', ("table", "create", "t", None, None)),
        ('drop table "public"."t";', ("table", "drop", "t", None, None)),
        (
            'alter table "public"."t" add column "c" integer;',
            ("column", "create", "t", "c", "added"),
        ),
        ('alter table "public"."t" drop column "c";', ("column", "drop", "t", "c", "dropped")),
        (
            'alter table "public"."t" alter column "c" set not null;',
            ("column", "alter", "t", "c", "changed"),
        ),
        (
            'ALTER TABLE "public"."t" RENAME COLUMN "a" TO "b";',
            ("column", "alter", "t", "b", "renamed"),
        ),
        ('ALTER TABLE "public"."t" RENAME TO "u";', ("table", "alter", "u", None, None)),
        (
            'alter table "public"."t" add constraint "k" FOREIGN KEY (a) REFERENCES u(id);',
            ("constraint", "create", "t", None, None),
        ),
        (
            'alter table "public"."t" validate constraint "k";',
            ("constraint", "alter", "t", None, None),
        ),
        (
            'ALTER TABLE "public"."t" ALTER CONSTRAINT "k" DEFERRABLE;',
            ("constraint", "alter", "t", None, None),
        ),
        ('alter table "public"."t" drop constraint "k";', ("constraint", "drop", "t", None, None)),
        (
            "CREATE INDEX CONCURRENTLY i ON public.t USING btree (a);",
            ("index", "create", "t", None, None),
        ),
        ('CREATE UNIQUE INDEX "I" ON ONLY "public"."T" (a)', ("index", "create", "T", None, None)),
        (
            'drop index concurrently if exists "public"."idx_t_a";',
            ("index", "drop", "t", None, None),
        ),
        (
            "CREATE TRIGGER tr BEFORE UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION f()",
            ("trigger", "create", "t", None, None),
        ),
        ('drop trigger if exists "tr" on "public"."t";', ("trigger", "drop", "t", None, None)),
        (
            "CREATE OR REPLACE FUNCTION public.f()\n RETURNS trigger LANGUAGE sql AS 'select 1'",
            ("function", "create", None, None, None),
        ),
        ('drop function if exists "public"."f"();', ("function", "drop", None, None, None)),
        ('create sequence "public"."s";', ("sequence", "create", None, None, None)),
        ('create type "public"."e" as enum (\'a\');', ("type", "create", None, None, None)),
        (
            'create extension if not exists "citext" with schema "public";',
            ("extension", "create", None, None, None),
        ),
        ("COMMENT ON TABLE public.t IS 'x';", ("comment", "alter", "t", None, None)),
        ('COMMENT ON COLUMN "public"."t"."c" IS NULL;', ("comment", "drop", "t", "c", "comment")),
        ("COMMENT ON INDEX public.idx_t_a IS 'y';", ("comment", "alter", "t", None, None)),
        ("grant select on t to reader", ("grant", "create", "t", None, None)),
    ],
)
def test_classify(sql: str, expected: tuple[str, str, str | None, str | None, str | None]) -> None:
    c = report.classify(statements.parse(sql), {"idx_t_a": "t"})
    assert (c.object_type, c.action, c.table, c.column, c.note) == expected
