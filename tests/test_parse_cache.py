"""migra's statements, parsed once and kept (parse_cache.py): the same records come back,
and a statement that does not parse is never taken from the cache."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bindu_schema import differ, parse_cache, statements

pytestmark = pytest.mark.usefixtures("private_home")  # no database is used here


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = statements.parse

    def spy(sql: str, *args: Any) -> Any:
        seen.append(sql)
        return real(sql, *args)

    monkeypatch.setattr(statements, "parse", spy)
    monkeypatch.setattr(parse_cache, "_memo", None)  # as a new process starts
    return seen


def _plan(n: int) -> tuple[list[str], set[str]]:
    tag = uuid.uuid4().hex[:6]
    names = [f"t{tag}_{i}" for i in range(n)]
    return [f'create table "public"."{t}" ("id" bigint not null);' for t in names], set(names) | {
        "public",
        "id",
    }


def test_a_large_plan_is_parsed_once(parses, monkeypatch):
    sqls, known = _plan(parse_cache.MIN_STATEMENTS)
    first = differ._parsed(sqls, known)
    assert len(parses) == len(sqls)
    parses.clear()
    monkeypatch.setattr(parse_cache, "_memo", None)  # the next command reads the entry
    again = differ._parsed(sqls, known)
    assert parses == [] and again == first
    # one statement more: only that one is parsed
    extra, more = _plan(1)
    parses.clear()
    differ._parsed(sqls + extra, known | more)
    assert parses == extra


def test_small_plans_and_the_switch_parse_everything(parses, monkeypatch):
    sqls, known = _plan(parse_cache.MIN_STATEMENTS - 1)
    differ._parsed(sqls, known)
    differ._parsed(sqls, known)
    assert len(parses) == 2 * len(sqls)
    big, known = _plan(parse_cache.MIN_STATEMENTS)
    monkeypatch.setenv(parse_cache.PARSE_CACHE_ENV, "0")
    parses.clear()
    differ._parsed(big, known)
    differ._parsed(big, known)
    assert len(parses) == 2 * len(big)


def test_a_statement_that_does_not_parse_is_refused_every_time(parses):
    sqls, known = _plan(parse_cache.MIN_STATEMENTS)
    hostile = 'drop table "public"."x"; delete from users; --";'
    for _ in range(2):
        with pytest.raises(statements.StatementError, match="not exactly one statement"):
            differ._parsed([*sqls, hostile], known | {"x"})


def _not_valid_fks(n: int) -> list[statements.Record]:
    tag = uuid.uuid4().hex[:6]
    return [
        statements.parse(
            f'alter table "public"."c{tag}_{i}" add constraint "fk{i}" foreign key ("p") '
            f'references "public"."p{tag}" ("id") not valid;'
        )
        for i in range(parse_cache.MIN_REWRITES)
    ]


def test_a_rewrite_is_kept_between_commands(monkeypatch):
    records = _not_valid_fks(parse_cache.MIN_REWRITES)
    calls: list[str] = []

    def without(rec: statements.Record) -> statements.Record:
        calls.append(rec.sql)
        return statements.without_not_valid(rec)

    monkeypatch.setattr(parse_cache, "_rewrites", None)
    first = parse_cache.rewritten(without, records)
    assert len(calls) == len(records)
    assert all(not r.commands[0].not_valid for r in first)
    assert first == [statements.without_not_valid(r) for r in records]
    calls.clear()
    monkeypatch.setattr(parse_cache, "_rewrites", None)  # the next command reads the entry
    assert parse_cache.rewritten(without, records) == first and calls == []
    monkeypatch.setenv(parse_cache.PARSE_CACHE_ENV, "0")
    parse_cache.rewritten(without, records)
    assert len(calls) == len(records)  # switched off: every rewrite runs


def test_a_rewrite_that_fails_is_never_kept(monkeypatch):
    records = _not_valid_fks(parse_cache.MIN_REWRITES)
    valid = statements.parse(
        'alter table "public"."x" add constraint "fk" foreign key ("p") '
        'references "public"."y" ("id");'
    )
    monkeypatch.setattr(parse_cache, "_rewrites", None)
    for _ in range(2):
        with pytest.raises(statements.StatementError, match="no trailing NOT VALID"):
            parse_cache.rewritten(statements.without_not_valid, [*records, valid])
