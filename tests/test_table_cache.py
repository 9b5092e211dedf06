"""Each table's DDL is kept and only changed tables are rendered again (table_cache.py);
the DDL must be exactly what rendering every table gives."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_incremental import EDITS, apply_edit, base_schema

from bindu_schema import compile as compiler
from bindu_schema import loader, table_cache
from bindu_schema.kinds import tables

MORE = ["retype", "function_body"]


def edit(doc: dict[str, Any], what: str, n: int) -> bool:
    """The incremental tests' edits, and two that change what a table's DDL is rendered
    with: a column type, and the schema outside the tables (a function)."""
    if what == "retype":
        t = doc["tables"][sorted(doc["tables"])[n % len(doc["tables"])]]
        if "name" not in t["columns"]:
            return False
        t["columns"]["name"]["type"] = f"varchar({50 + n})"
        return True
    if what == "function_body":
        doc["functions"]["touch"]["body"] = f"BEGIN NEW.updated_at = now(); RETURN NEW; END; -- {n}"
        return True
    return apply_edit(doc, what, n)


def render(doc: dict[str, Any], target: str | None) -> list[tuple[str, str]]:
    schema = loader.loads(yaml.safe_dump(doc, sort_keys=False))
    return [(d.sql, d.obj) for d in compiler._compile(schema, target)]


pytestmark = pytest.mark.usefixtures("private_home")  # no database is used here


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables rendered by SQLAlchemy (not taken from the cache)."""
    seen: list[str] = []
    real = tables.KIND.table_ddl

    def spy(t: Any, md: Any, target: Any) -> Any:
        seen.append(t.name)
        return real(t, md, target)

    monkeypatch.setattr(tables.KIND, "table_ddl", spy)
    return seen


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(EDITS + MORE), st.integers(0, 9)), min_size=1, max_size=5
    ),
    target=st.sampled_from([None, "tenant_a"]),
)
def test_cached_tables_compile_to_what_a_full_render_gives(monkeypatch, edits, target):
    assert table_cache.enabled()
    doc = base_schema(uuid.uuid4().hex[:6])
    render(doc, target)
    for what, n in edits:
        if not edit(doc, what, n):
            continue
        with_cache = render(doc, target)
        monkeypatch.setenv(table_cache.TABLE_CACHE_ENV, "0")
        assert with_cache == render(doc, target), (what, n)
        monkeypatch.delenv(table_cache.TABLE_CACHE_ENV)


def test_only_the_edited_table_is_rendered_again(rendered):
    doc = base_schema(uuid.uuid4().hex[:6])
    for n in range(3):
        apply_edit(doc, "add_table", n)
    render(doc, None)
    assert len(rendered) == 5
    rendered.clear()
    apply_edit(doc, "add_column", 1)  # the second table
    render(doc, None)
    assert rendered == [sorted(doc["tables"])[1]]
    rendered.clear()
    edit(doc, "function_body", 1)  # outside the tables: every table again
    render(doc, None)
    assert len(rendered) == 5


def test_switched_off_every_table_is_rendered(rendered, monkeypatch):
    doc = base_schema(uuid.uuid4().hex[:6])
    render(doc, None)
    rendered.clear()
    monkeypatch.setenv(table_cache.TABLE_CACHE_ENV, "0")
    render(doc, None)
    assert len(rendered) == 2
