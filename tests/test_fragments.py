"""fragments.py without a server: what each check accepts (values Bindu's YAML and the
golden cases use) and what it refuses (values that add SQL beside their slot)."""

from __future__ import annotations

import pytest

from bindu_schema import fragments

ACCEPTED = {
    fragments.expression: [
        "now()",
        "'a\tb'::text",
        "gen_random_uuid()",
        "nextval('s'::regclass)",
        "x > 0 AND y IS NOT NULL",
        "OLD.state IS DISTINCT FROM NEW.state",
        "(select 1)",
        "ARRAY[]::text[]",
        "'{}'::jsonb",
        "lower(email) /* a comment */",
        "E'a\\\\b'",
    ],
    fragments.type_name: [
        "text",
        "timestamp with time zone",
        "timestamp(3) with time zone",
        "varchar(50)",
        "text[]",
        "int[][]",
        "numeric(10,2)",
        "double precision",
        '"Order Status"',
        "public.my_enum",
        "vector(3)",
        "interval day to second",
    ],
    fragments.returns: ["trigger", "integer", "SETOF tasks", "TABLE(a int, b text)"],
    fragments.opclass: ["text_pattern_ops", "public.gin_trgm_ops", '"odd ops"', "jsonb_path_ops"],
}

REFUSED = {
    fragments.expression: [
        "1); DELETE FROM v; --",
        "1) FROM v WHERE (true",
        "1), (2",
        "1) UNION SELECT (2",
        "1) FOR UPDATE; --",
        "now() -- closes nothing",
        "1 AS x",
        "",
    ],
    fragments.type_name: [
        "text DEFAULT 'x'",
        "text); DROP TABLE v; --",
        'text COLLATE "C"',
        "int PRIMARY KEY",
        "int NOT NULL",
        "int GENERATED ALWAYS AS IDENTITY",
        "a b c",
    ],
    fragments.returns: ["integer SECURITY DEFINER", "int LANGUAGE plpgsql", "int AS 'x'; --"],
    fragments.opclass: [
        "text_ops DESC",
        "text_ops NULLS FIRST",
        "gist_trgm_ops(siglen=32)",
        'text_ops COLLATE "C"',
        "x); DELETE FROM v; --",
        "a b",
    ],
}


def _cases(table: dict[fragments.Check, list[str]]) -> list[tuple[fragments.Check, str]]:
    return [(check, value) for check, values in table.items() for value in values]


@pytest.mark.parametrize(("check", "value"), _cases(ACCEPTED))
def test_accepted(check: fragments.Check, value: str) -> None:
    assert check(value) is None


@pytest.mark.parametrize(("check", "value"), _cases(REFUSED))
def test_refused(check: fragments.Check, value: str) -> None:
    why = check(value)
    assert why is not None and why.strip()


def test_problems_name_the_yaml_path() -> None:
    from bindu_schema import model

    schema = model.Schema(
        tables=(
            model.Table(
                name="t",
                columns=(model.Column("a", "text", default="1); DELETE FROM v; --"),),
                indexes=(
                    model.Index("t_a", (model.IndexItem(column="a", opclass="text_ops DESC"),)),
                ),
            ),
        ),
    )
    found = dict(fragments.problems(schema))
    assert set(found) == {
        ("tables", "t", "columns", "a", "default"),
        ("tables", "t", "indexes", "t_a", "columns", 0, "opclass"),
    }
    assert "2 statements instead of one" in found[("tables", "t", "columns", "a", "default")]
