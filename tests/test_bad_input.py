"""Bad input corpus: every tests/bad_input/NAME.yaml goes through the real CLI (a subprocess).

Each file states what must be reported in its first lines (or in NAME.expect when the file
itself must stay empty):

    # expect: 12:7 unknown key 'nulable'        file:line:column and a message fragment
    # object: table tasks                        found by PostgreSQL when the DDL loads into
    # expect: type "varchr" does not exist       the scratch database: the object is named

Every case must exit 1 with that in stderr, without a traceback, without printing DDL, and
without changing the target database or writing any file.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, TEST_DB_PREFIX, Result, dev_args, scratch_databases, sql
from pgcatalog import snapshot

from bindu_schema import loader
from bindu_schema.settings import DatabaseURL

BAD = ROOT / "tests" / "bad_input"
CASES = sorted(BAD.glob("*.yaml"))
FIXTURE = ROOT / "tests" / "fixtures" / "bindu_head.sql"

Cli = Callable[..., Result]


@dataclass(frozen=True)
class Expectation:
    obj: str | None  # set for errors found by PostgreSQL
    checks: tuple[tuple[str | None, str], ...]  # (line:column or None, message fragment)


def expectation(case: Path) -> Expectation:
    sidecar = case.with_suffix(".expect")
    text = sidecar.read_text() if sidecar.exists() else case.read_bytes().decode("utf-8", "replace")
    obj = None
    checks = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if m := re.match(r"# object: (.+)$", line):
            obj = m.group(1).strip()
        elif m := re.match(r"# expect: (?:(\d+:\d+) )?(.+)$", line):
            checks.append((m.group(1), m.group(2).strip()))
    return Expectation(obj, tuple(checks))


def assert_reported(case: Path, exp: Expectation, r: Result) -> None:
    assert r.code == 1, f"exit {r.code}\n{r.text}"
    assert "Traceback" not in r.text, r.text
    assert r.err.startswith("error: "), r.err
    for loc, fragment in exp.checks:
        if loc is None:
            assert fragment in r.err, r.err
        else:
            prefix = f"{case}:{loc}: "
            assert any(prefix in line and fragment in line for line in r.err.splitlines()), (
                f"expected a line with {prefix!r} and {fragment!r} in:\n{r.err}"
            )
    if exp.obj is not None:
        assert f"for {exp.obj}" in r.err or exp.obj in r.err, r.err


@pytest.fixture(scope="module")
def target(dev_server: DatabaseURL) -> Iterator[DatabaseURL]:
    """A live database holding Bindu's schema (the hand-written fixture), shared by the
    module: every case must leave it exactly as it was."""
    name = TEST_DB_PREFIX + uuid.uuid4().hex[:12]
    sql(dev_server, f'CREATE DATABASE "{name}"')
    db = dev_server.with_database(name)
    sql(db, FIXTURE.read_text())
    yield db
    assert name.startswith(TEST_DB_PREFIX)
    sql(dev_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def target_snapshot(target: DatabaseURL) -> str:
    return snapshot(target)


def test_corpus_is_large_and_every_case_has_an_expectation() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        exp = expectation(case)
        assert exp.checks, f"{case.name} states no '# expect:' line"
        if exp.obj is None:
            assert all(loc for loc, _ in exp.checks), f"{case.name}: location missing"


def test_json_schema_for_editors_is_the_generated_one() -> None:
    """schema/bindu-schema.json is the one committed copy; the loader validates with the
    schema generated from the kinds (kinds.json_schema()), and the package ships no copy."""
    from bindu_schema import kinds

    for_editors = ROOT / "schema" / "bindu-schema.json"
    assert for_editors.read_text() == kinds.json_schema_text(), (
        "schema/bindu-schema.json is out of date with bindu_schema/kinds/: run `make schema-json`"
    )
    assert loader.json_schema() == json.loads(for_editors.read_text())
    assert not (ROOT / "bindu_schema" / "bindu-schema.json").exists()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_plan_rejects(
    cli_proc: Cli,
    case: Path,
    target: DatabaseURL,
    target_snapshot: str,
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    r = cli_proc(
        "plan",
        "--schema",
        str(case),
        "--database-url",
        target.sqlalchemy,
        *dev_args(dev_server),
        cwd=tmp_path,
    )
    assert_reported(case, expectation(case), r)
    assert "CREATE" not in r.out.upper() and "ALTER" not in r.out.upper(), r.out
    assert snapshot(target) == target_snapshot, "the target database changed"
    assert scratch_databases(dev_server) == []
    assert list(tmp_path.iterdir()) == [], "a file was written"


LOADER_CASES = [c for c in CASES if expectation(c).obj is None]


@pytest.mark.parametrize("case", LOADER_CASES, ids=[c.stem for c in LOADER_CASES])
def test_render_rejects(cli_proc: Cli, case: Path, tmp_path: Path) -> None:
    """Errors in the file itself are found before any database is involved."""
    r = cli_proc("render", "--schema", str(case), cwd=tmp_path)
    assert_reported(case, expectation(case), r)
    assert r.out == "", "render printed DDL for a bad file"
    assert list(tmp_path.iterdir()) == []


def test_missing_schema_file(cli_proc: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    r = cli_proc("render", "--schema", str(missing), cwd=tmp_path)
    assert r.code == 1, r.text
    assert "Traceback" not in r.text
    assert str(missing) in r.err
