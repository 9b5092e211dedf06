"""Hazard case table: each case is data (tests/cases/hazards/*.yaml).

A case loads `before` (+ `extra_before`) into a live database, plans against `after`,
and asserts the hazards of every statement exactly: each expectation matches one
statement and has exactly the listed hazards; no unmatched statement has any hazard.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import dev_args, plan_json, sql

from bindu_schema import hazards

CASES = sorted(Path(__file__).parent.joinpath("cases", "hazards").glob("*.yaml"))


@pytest.mark.acceptance
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_hazard_case(case, cli, make_db, dev_server, tmp_path):
    spec = yaml.safe_load(case.read_text())
    db = make_db()
    sql(db, spec["before"] + spec.get("extra_before", ""))
    schema = tmp_path / "after.yaml"
    schema.write_text(spec["after"])
    r = plan_json(cli, schema, db, dev_server, *spec.get("args", []))
    assert r.code == 2, r.text
    statements = json.loads(r.out)["statements"]
    matched: set[int] = set()
    for exp in spec["expect"]:
        hits = [i for i, s in enumerate(statements) if exp["match"] in s["sql"]]
        assert len(hits) == 1, (exp["match"], [s["sql"] for s in statements])
        got = statements[hits[0]]["hazards"]
        assert got == exp["hazards"], (statements[hits[0]]["sql"], got)
        matched.add(hits[0])
    for i, s in enumerate(statements):
        if i not in matched:
            assert s["hazards"] == [], (s["sql"], s["hazards"])


def test_every_hazard_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "hazards.md").read_text()
    for name in hazards.ALL:
        assert f"`{name}`" in doc, name


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("character varying(50)", "text", set()),
        ("character varying(50)", "character varying(100)", set()),
        (
            "character varying(100)",
            "character varying(50)",
            {hazards.TABLE_REWRITE, hazards.DELETES_DATA},
        ),
        ("integer", "bigint", {hazards.TABLE_REWRITE}),
        ("bigint", "integer", {hazards.TABLE_REWRITE, hazards.DELETES_DATA}),
        ("text", "integer", {hazards.TABLE_REWRITE, hazards.DELETES_DATA}),
        ("integer", "text", {hazards.TABLE_REWRITE}),
    ],
)
def test_type_change_hazards(old, new, expected):
    assert hazards.type_change_hazards(old, new) == expected


def test_squawk_finding_shown_once_with_its_hazard(cli, make_db, dev_server, tmp_path):
    """A non-concurrent index build: squawk's rule appears, merged into INDEX_BUILD."""
    spec = yaml.safe_load(
        (
            Path(__file__).parent / "cases" / "hazards" / "add_index_not_concurrently.yaml"
        ).read_text()
    )
    db = make_db()
    sql(db, spec["before"])
    schema = tmp_path / "after.yaml"
    schema.write_text(spec["after"])
    args = [
        "--schema",
        str(schema),
        "--database-url",
        db.sqlalchemy,
        *dev_args(dev_server),
        "--no-concurrently",
    ]
    text = cli("plan", *args)
    assert text.code == 2, text.text
    assert "hazard INDEX_BUILD" in text.out
    assert "squawk: require-concurrent-index-creation" in text.out
    assert text.out.count("require-concurrent-index-creation") == 1
    data = json.loads(cli("plan", "--format", "json", *args).out)
    (stmt,) = [s for s in data["statements"] if s["sql"].startswith("CREATE INDEX")]
    rules = {f["rule"]: f["same_as_hazard"] for f in stmt["lint"]}
    assert rules["require-concurrent-index-creation"] == "INDEX_BUILD"
    no_lint = cli("plan", "--no-lint", *args)
    assert "squawk" not in no_lint.out


def test_squawk_lints_beside_the_rehearsal_with_the_same_findings(
    cli, make_db, dev_server, tmp_path, monkeypatch
):
    """plan lints in a thread of its own while the rehearsal runs (early.beside): the
    same findings as linting after it (BINDU_SCHEMA_LINT_BESIDE=0)."""
    import threading

    from bindu_schema import early, lint

    spec = yaml.safe_load(
        (
            Path(__file__).parent / "cases" / "hazards" / "add_index_not_concurrently.yaml"
        ).read_text()
    )
    db = make_db()
    sql(db, spec["before"])
    threads: list[str] = []
    real = lint.lint

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(*a, **k)

    monkeypatch.setattr(lint, "lint", spy)
    monkeypatch.setenv("BINDU_SCHEMA_CACHE", "0")  # squawk runs every time
    found = []
    for n, beside in enumerate(("1", "0")):
        monkeypatch.setenv(early.LINT_BESIDE_ENV, beside)
        schema = tmp_path / f"after{n}.yaml"
        schema.write_text(spec["after"])
        res = plan_json(cli, schema, db, dev_server, "--no-concurrently")
        assert res.code == 2, res.text
        found.append([s["lint"] for s in json.loads(res.out)["statements"]])
    assert threads == ["lint", threading.main_thread().name]
    assert found[0] == found[1] and any(found[0])


def test_the_hazards_are_classified_beside_the_rehearsal(
    make_db, dev_server, tmp_path, monkeypatch
):
    """plan classifies the upgrade's and the downgrade's statements in threads of their own
    while the rehearsal runs (early.beside): the same plan, hazards included, as
    classifying them before and after it (BINDU_SCHEMA_HAZARDS_BESIDE=0)."""
    import threading

    from bindu_schema import early, loader, plan

    db = make_db()
    sql(db, "CREATE TABLE items (id bigint PRIMARY KEY, name text)")
    monkeypatch.setenv("BINDU_SCHEMA_CACHE", "0")
    threads: list[str] = []
    real = plan.hazards.classify

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(*a, **k)

    monkeypatch.setattr(plan.hazards, "classify", spy)
    built = []
    for n, beside in enumerate(("1", "0")):
        monkeypatch.setenv(early.HAZARDS_BESIDE_ENV, beside)
        path = tmp_path / f"s{n}.yaml"
        path.write_text(
            "version: 1\ntables:\n  items:\n    columns: {id: {type: bigint, nullable: false},"
            " name: {type: text}, note: {type: text}}\n    primary_key: {columns: [id]}\n"
        )
        threads.clear()
        built.append(plan.build(loader.load(path), db, dev_server, run_lint=False))
        main = threading.main_thread().name
        want = ["down-hazards", "up-hazards"] if beside == "1" else [main, main]
        assert sorted(threads) == want
    assert built[0].statements == built[1].statements
    assert built[0].downgrade == built[1].downgrade
    assert any(s.hazards for s in built[0].downgrade)  # DROP COLUMN loses data
