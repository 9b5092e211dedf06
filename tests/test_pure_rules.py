"""Hazards and online rewrites are pure functions of (record, facts): tested here with no
server, from data (tests/cases/statements/hazards.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bindu_schema import hazards, online, statements
from bindu_schema.catalog import Facts

SPEC = yaml.safe_load((Path(__file__).parent / "cases" / "statements" / "hazards.yaml").read_text())


def facts_of(spec: dict) -> Facts:
    return Facts(
        tables=frozenset(spec.get("tables", ())),
        columns={tuple(k.split(".", 1)): v for k, v in spec.get("columns", {}).items()},
        functions=frozenset(spec.get("functions", ())),
        indexes=dict(spec.get("indexes", {})),
    )


FACTS = facts_of(SPEC["facts"])


@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["sql"][:60] for c in SPEC["cases"]])
def test_hazards(case):
    assert list(hazards.classify(statements.parse(case["sql"]), FACTS)) == case["hazards"]


def test_every_hazard_appears_in_the_cases():
    seen = {h for c in SPEC["cases"] for h in c["hazards"]}
    assert seen == set(hazards.ALL)


def test_dropped_tables_no_longer_count():
    recs = [statements.parse('drop table "public"."tasks"')]
    assert "tasks" not in hazards.without_dropped_tables(recs, FACTS).tables
    assert "contexts" in hazards.without_dropped_tables(recs, FACTS).tables


def _sqls(records):
    return [r.sql for r in records]


def test_online_index_on_existing_table_is_concurrent():
    out = online.rewrite(
        [
            statements.parse('create index "i" on "public"."tasks" (state)'),
            statements.parse('create index "j" on "public"."new_table" (a)'),
            statements.parse('drop index if exists "public"."idx_tasks_state"'),
            statements.parse('drop index if exists "public"."idx_gone"'),
        ],
        FACTS,
    )
    assert _sqls(out) == [
        'create index concurrently "i" on "public"."tasks" (state)',
        'create index "j" on "public"."new_table" (a)',
        'drop index concurrently if exists "public"."idx_tasks_state"',
        'drop index if exists "public"."idx_gone"',
    ]
    assert [r.transactional for r in out] == [False, True, False, True]


def test_online_check_on_existing_table_is_split():
    out = online.rewrite(
        [statements.parse('alter table "public"."tasks" add constraint "k" check ((n > 0))')],
        FACTS,
    )
    assert _sqls(out) == [
        'alter table "public"."tasks" add constraint "k" check ((n > 0)) NOT VALID;',
        'alter table "public"."tasks" VALIDATE CONSTRAINT "k";',
    ]
    assert [r.transactional for r in out] == [True, False]


def test_online_new_table_gets_valid_constraints():
    out = online.rewrite(
        [
            statements.parse(
                'alter table "public"."t2" add constraint "f" foreign key (a) '
                'references "public"."tasks"(id) not valid'
            ),
            statements.parse('alter table "public"."t2" validate constraint "f"'),
            statements.parse('alter table "public"."t2" add constraint "k" check ((a > 0))'),
        ],
        FACTS,
    )
    assert _sqls(out) == [
        'alter table "public"."t2" add constraint "f" foreign key (a) references '
        '"public"."tasks"(id);',
        'alter table "public"."t2" add constraint "k" check ((a > 0))',
    ]
    assert all(r.transactional for r in out)
