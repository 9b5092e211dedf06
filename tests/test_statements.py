"""statements.py: every planned statement as a parsed record, and rewrites proved by the
parser. Server-free: PostgreSQL's own grammar (pglast) is all these tests need."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bindu_schema import statements
from bindu_schema.statements import StatementError

CASES = Path(__file__).parent / "cases" / "statements"
RECORDS = yaml.safe_load((CASES / "records.yaml").read_text())
REFUSED = yaml.safe_load((CASES / "refused.yaml").read_text())
PAIRS = yaml.safe_load((CASES / "trigger_pairs.yaml").read_text())


@pytest.mark.parametrize("case", RECORDS, ids=[c["sql"][:50] for c in RECORDS])
def test_record(case):
    rec = statements.parse(case["sql"])
    got = {k: getattr(rec, k) for k in case.get("expect", {})}
    assert got == case.get("expect", {})
    for cmd, want in zip(rec.commands, case.get("commands", []), strict=False):
        assert {k: getattr(cmd, k) for k in want} == want
    assert len(rec.commands) >= len(case.get("commands", []))
    assert rec.sql == case["sql"].strip()


@pytest.mark.parametrize("case", REFUSED, ids=[c["sql"][:40] or "empty" for c in REFUSED])
def test_refused(case):
    with pytest.raises(StatementError, match=case["error"]):
        statements.parse(case["sql"])


@pytest.mark.parametrize("case", REFUSED, ids=[c["sql"][:40] or "empty" for c in REFUSED])
def test_check_one_refuses_with_the_same_message(case):
    """compile.py checks each rendered statement with check_one (no Python parse tree):
    it refuses what parse refuses, with the same words."""
    with pytest.raises(StatementError) as parsed:
        statements.parse(case["sql"])
    with pytest.raises(StatementError) as checked:
        statements.check_one(case["sql"].strip())
    assert str(checked.value) == str(parsed.value)


@pytest.mark.parametrize("case", RECORDS, ids=[c["sql"][:50] for c in RECORDS])
def test_check_one_accepts_one_statement(case):
    statements.check_one(case["sql"].strip())


@pytest.mark.parametrize("case", PAIRS, ids=[str(n) for n in range(len(PAIRS))])
def test_trigger_with_state(case):
    got = statements.parse_trigger_with_state(case["sql"])
    if case["kinds"] is None:
        assert got is None
        with pytest.raises(StatementError, match="exactly one statement"):
            statements.parse(case["sql"])
        return
    assert got is not None and [r.kind for r in got] == case["kinds"]
    assert got[0].name == got[1].name and got[0].table == got[1].table
    assert "".join(r.sql for r in got) in case["sql"].replace(";\n", "").replace(";", "")


def test_expected_kind_is_enforced():
    with pytest.raises(StatementError, match="expected RenameStmt, found DropStmt"):
        statements.parse('drop table "t"', "RenameStmt")


def test_concurrently_added_to_create_and_drop_index():
    create = statements.with_concurrently(
        statements.parse('CREATE INDEX "i;x" ON "public"."t" USING btree (a) WHERE b = \'INDEX\'')
    )
    assert (
        create.sql
        == 'CREATE INDEX CONCURRENTLY "i;x" ON "public"."t" USING btree (a) WHERE b = \'INDEX\''
    )
    assert create.concurrently and not create.transactional and create.name == "i;x"
    drop = statements.with_concurrently(statements.parse('drop index if exists "public"."i"'))
    assert drop.sql == 'drop index concurrently if exists "public"."i"'
    assert not drop.transactional


def test_concurrently_refused_on_other_statements():
    with pytest.raises(StatementError):
        statements.with_concurrently(statements.parse('drop table "t"'))


def test_not_valid_round_trip_and_validate():
    add = statements.parse('alter table "public"."t" add constraint "c;1" check ((a > 0))')
    nv = statements.with_not_valid(add)
    assert nv.sql.endswith("NOT VALID;") and nv.commands[0].not_valid
    back = statements.without_not_valid(nv)
    assert not back.commands[0].not_valid and back.commands[0].name == "c;1"
    v = statements.validate_constraint(add)
    assert v.sql == 'alter table "public"."t" VALIDATE CONSTRAINT "c;1";'
    assert v.commands[0].op == "validate_constraint" and not v.transactional


def test_without_not_valid_needs_a_trailing_not_valid():
    with pytest.raises(StatementError, match="no trailing NOT VALID"):
        statements.without_not_valid(statements.parse("alter table t add constraint c check (a)"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('create table "public"."t" ("id" uuid)', 'create table "t" ("id" uuid)'),
        ("CREATE INDEX i ON public.t USING gin (h)", "CREATE INDEX i ON t USING gin (h)"),
        (
            'alter sequence "public"."s" owned by "public"."t"."id"',
            'alter sequence "s" owned by "t"."id"',
        ),
        (
            'create table "public"."t" ("id" integer default nextval(\'public.s\'::regclass))',
            'create table "t" ("id" integer default nextval(\'public.s\'::regclass))',
        ),
        (
            'create trigger "x"" y" before update on "public"."t" for each row '
            "execute function public.f()",
            'create trigger "x"" y" before update on "t" for each row execute function f()',
        ),
        ('select x.public.y, mypublic.z, "Public".w', 'select x.public.y, mypublic.z, "Public".w'),
        ("COMMENT ON TABLE public.t IS 'see public.t'", "COMMENT ON TABLE t IS 'see public.t'"),
    ],
)
def test_unqualify(before, after):
    assert statements.unqualify(statements.parse(before)).sql == after


def test_unqualify_other_schema_untouched():
    rec = statements.parse('create table "did_x"."t" (a int)')
    assert statements.unqualify(rec) is rec
    assert statements.unqualify(rec, "did_x").sql == 'create table "t" (a int)'


def test_literal_mentions():
    assert statements.literal_mentions(statements.parse("select nextval('public.s'::regclass)"))
    assert not statements.literal_mentions(statements.parse("select 1 from public.t"))


def test_comment_text_is_what_the_server_reads():
    rec = statements.parse("COMMENT ON TABLE t IS E'a\\tb\\\\c'")
    assert statements.comment_text(rec) == "a\tb\\c"
    assert statements.comment_text(statements.parse("COMMENT ON TABLE t IS NULL")) is None


def test_keys_name_what_a_statement_touches():
    rec = statements.parse('alter table "t" add column "c" int, add constraint "k" unique (c)')
    assert rec.keys == ("constraint:k", "column:t.c", "table:t")
    assert statements.parse('drop index "i"').keys == ("index:i",)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("char", ("pg_catalog", "bpchar", (), 0)),
        ("character(3)", ("pg_catalog", "bpchar", (3,), 0)),
        ("VARCHAR(20)[]", ("pg_catalog", "varchar", (20,), 1)),
        ("decimal(10, 2)", ("pg_catalog", "numeric", (10, 2), 0)),
        ("timestamp(3) with time zone", ("pg_catalog", "timestamptz", (3,), 0)),
        ("public.task_state[][]", ("public", "task_state", (), 2)),
        ('"Odd ""enum"""', (None, 'Odd "enum"', (), 0)),
    ],
)
def test_parse_type(spec, expected):
    t = statements.parse_type(spec)
    assert (t.schema, t.name, t.mods, t.dims) == expected


@pytest.mark.parametrize(
    "spec",
    ["int) ; DELETE FROM v; --", "int; DELETE FROM v", 'int COLLATE "C"', "int::text", "1"],
)
def test_parse_type_refuses_anything_but_one_type_name(spec):
    with pytest.raises(statements.StatementError):
        statements.parse_type(spec)


@pytest.mark.parametrize(
    ("expression", "reads_row"),
    [
        ("OLD.status IS DISTINCT FROM NEW.status", True),
        ("new . updated_at IS NULL", True),
        ("pg_trigger_depth() = 0", False),
        ("'old.x' = 'new.y'", False),  # a string, not a column
        ('"OLD".x = 1', False),  # a quoted name is a table called OLD
        ("1); DELETE FROM v; --", False),  # not one expression: the server reports it
    ],
)
def test_refers_to_row(expression, reads_row):
    assert statements.refers_to_row(expression) is reads_row


@pytest.mark.parametrize(
    ("formatted", "short"),
    [
        ("character varying(20)[]", "varchar(20)[]"),
        ("character varying", "varchar"),
        ("character(1)", "char(1)"),
        ("bit varying(8)", "varbit(8)"),
        ("timestamp(3) with time zone", "timestamptz(3)"),
        ("timestamp without time zone", "timestamp"),
        ("time with time zone[]", "timetz[]"),
        ('"char"', '"char"'),
        ("numeric(10,2)", "numeric(10,2)"),
        ('"Task State"[]', "Task State[]"),
        ("public.task_state", "public.task_state"),
    ],
)
def test_short_type(formatted, short):
    from bindu_schema.introspect import short_type

    assert short_type(formatted, {"Task State"}) == short


@pytest.mark.parametrize(
    ("spec", "rendered"),
    [
        ("varchar(20)", "VARCHAR(20)"),
        ("character varying", "VARCHAR"),
        ("char", "CHAR"),
        ("char(3)", "CHAR(3)"),
        ("decimal(10,2)", "NUMERIC(10, 2)"),
        ("decimal", "decimal"),
        ("my_schema.money_t", "my_schema.money_t"),
    ],
)
def test_sized_types_render_through_sqlalchemy(spec, rendered):
    from sqlalchemy.dialects import postgresql

    from bindu_schema.compile import sa_type

    assert sa_type(spec, set()).compile(dialect=postgresql.dialect()) == rendered


def test_summary_rows_come_from_the_kinds(monkeypatch):
    """A kind brings its summary row, its DROP object type and its statements: a kind added
    to the registry is asked (kinds.base.StatementShapes), statements.py names none."""
    from dataclasses import replace

    from pglast import ast

    from bindu_schema import kinds
    from bindu_schema.kinds import base

    class Publications(base.Kind):
        key = "publications"
        object_types = ("publication",)
        pg_objects = (("OBJECT_PUBLICATION", "publication"),)

        def describe(self, stmt, rec):
            if isinstance(stmt, ast.CreatePublicationStmt):
                return replace(rec, object_type="publication", name=stmt.pubname)
            return None

    monkeypatch.setattr(kinds, "KINDS", (*kinds.KINDS, Publications()))
    assert "publication" in [t for s in statements._shapes() for t in s.object_types]
    assert statements._shapes()[-1].key == "publications"
    created = statements.parse('create publication "p" for all tables')
    assert (created.object_type, created.name) == ("publication", "p")
    # the module-level maps were built at import, from the registry then: a DROP of a
    # publication is "other" there, and the kinds' own rows are all in OBJECT_TYPES
    for shape in statements._shapes()[:-1]:
        assert set(shape.object_types) <= set(statements.OBJECT_TYPES)
