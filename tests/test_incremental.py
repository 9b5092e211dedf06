"""The desired database derived from the previous one (incremental.py) equals a full build.

A random sequence of YAML edits (columns, indexes, comments, foreign keys, triggers,
tables) is applied one at a time. After each edit the desired database comes from
server.scratch_with_ddl, the path `plan` takes, which derives it from the previous
edit's cached database whenever incremental.delta can show how; it must equal a database
loaded in full from the same DDL at catalog fidelity: pg_dump --schema-only, the
fidelity snapshot, PostgreSQL's own catalog listing (pgcatalog) and migra both ways.
Edits the incremental path does not handle (a dropped column, a dropped table) must fall
back to a full build, and every other edit must be derived.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml
from conftest import sql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgcatalog import snapshot

from bindu_schema import cache, differ, fidelity, incremental, loader, model, pgtools, server
from bindu_schema import compile as compiler
from bindu_schema.compile import DDL

# Edits the incremental path must derive, and the ones that must rebuild in full.
DERIVED = {
    "add_column",
    "add_index",
    "drop_index",
    "change_index",
    "set_comment",
    "drop_comment",
    "add_table",
    "add_fk",
    "drop_fk",
    "add_trigger",
    "drop_trigger",
}
REBUILT = {"drop_column", "drop_table"}
EDITS = sorted(DERIVED | REBUILT)


def base_schema(tag: str) -> dict[str, Any]:
    """Two tables with a function, an index, a foreign key and a trigger; names carry a
    tag so no other example (or test) has built this DDL before."""
    tables = {}
    for i in range(2):
        t = f"t{tag}_{i}"
        tables[t] = {
            "comment": f"table {i}",
            "columns": {
                "id": {"type": "bigint", "nullable": False},
                "parent_id": {"type": "bigint"},
                "name": {"type": "varchar(50)", "nullable": False, "default": "'x'"},
                "updated_at": {"type": "timestamptz", "default": "now()"},
            },
            "primary_key": {"name": f"{t}_pkey", "columns": ["id"]},
            "indexes": {f"{t}_name_idx": {"columns": ["name"], "comment": "by name"}},
            "foreign_keys": {
                f"{t}_parent_fkey": {
                    "columns": ["parent_id"],
                    "references": {"table": t, "columns": ["id"]},
                }
            },
            "triggers": {
                f"{t}_touch": {
                    "timing": "before",
                    "events": ["update"],
                    "for_each": "row",
                    "function": "touch",
                }
            },
        }
    return {
        "version": 1,
        "functions": {
            "touch": {
                "returns": "trigger",
                "language": "plpgsql",
                "body": "BEGIN NEW.updated_at = now(); RETURN NEW; END;",
            }
        },
        "tables": tables,
    }


def apply_edit(doc: dict[str, Any], edit: str, n: int) -> bool:
    """Edit the schema in place; False when the edit does not apply to this schema."""
    tables = doc["tables"]
    t = sorted(tables)[n % len(tables)]
    table = tables[t]
    extra_cols = [c for c in table["columns"] if c.startswith("c")]
    if edit == "add_column":
        table["columns"][f"c{n}"] = {"type": "text", "comment": f"column {n}"}
    elif edit == "drop_column":
        if not extra_cols:
            return False
        del table["columns"][extra_cols[0]]
    elif edit == "add_index":
        # an added table (add_table below) has no `name` column
        keys = ["name", "id"] if "name" in table["columns"] else ["id"]
        table.setdefault("indexes", {})[f"{t}_i{n}"] = {"columns": keys, "where": "(id > 0)"}
    elif edit in ("drop_index", "change_index"):
        names = sorted(table.get("indexes", {}))
        if not names or (edit == "change_index" and "name" not in table["columns"]):
            return False
        if edit == "drop_index":
            del table["indexes"][names[0]]
        else:
            table["indexes"][names[0]]["columns"] = ["id", "name"]
    elif edit == "set_comment":
        table["comment"] = f"table comment {n}"
        for ix in table.get("indexes", {}).values():
            ix["comment"] = f"index comment {n}"
    elif edit == "drop_comment":
        if "comment" not in table:
            return False
        del table["comment"]
    elif edit == "add_table":
        tables[f"{t}_n{n}"] = {
            "comment": "new",
            "columns": {"id": {"type": "integer", "nullable": False}, "v": {"type": "jsonb"}},
            "primary_key": {"name": f"{t}_n{n}_pkey", "columns": ["id"]},
            "indexes": {f"{t}_n{n}_v": {"columns": ["v"], "method": "gin"}},
        }
    elif edit == "drop_table":
        if len(tables) < 2:
            return False
        referenced = {
            fk["references"]["table"]
            for name, other in tables.items()
            if name != t
            for fk in other.get("foreign_keys", {}).values()
        }
        if t in referenced:
            return False
        del tables[t]
    elif edit == "add_fk":
        target = sorted(tables)[0]
        if "id" not in tables[target]["columns"] or "parent_id" not in table["columns"]:
            return False
        table.setdefault("foreign_keys", {})[f"{t}_fk{n}"] = {
            "columns": ["parent_id"],
            "references": {"table": target, "columns": ["id"]},
            "on_delete": "cascade",
        }
    elif edit == "drop_fk":
        if not table.get("foreign_keys"):
            return False
        del table["foreign_keys"][sorted(table["foreign_keys"])[0]]
    elif edit == "add_trigger":
        if "updated_at" not in table["columns"]:
            return False
        table.setdefault("triggers", {})[f"{t}_tr{n}"] = {
            "timing": "before",
            "events": ["insert"],
            "for_each": "row",
            "function": "touch",
        }
    elif edit == "drop_trigger":
        if not table.get("triggers"):
            return False
        del table["triggers"][sorted(table["triggers"])[0]]
    return True


def compiled(doc: dict[str, Any]) -> tuple[model.Schema, list[DDL]]:
    schema = loader.loads(yaml.safe_dump(doc, sort_keys=False))
    return schema, compiler.compile_schema(schema)


def catalog_view(url: Any, exclude: model.Exclude) -> tuple[str, str, Any]:
    return (
        pgtools.dump_identity(pgtools.dump_schema(url, "public")),
        snapshot(url),
        fidelity.read(url, "public", exclude),
    )


def cached_names(dev: Any) -> set[str]:
    return {str(r[0]) for r in sql(dev, "SELECT datname FROM pg_database")}


@pytest.fixture
def derived_count(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per attempt to derive a desired database: whether it was derived."""
    seen: list[bool] = []
    real = server._derive

    def spy(srv: Any, ddl: list[DDL]) -> Any:
        got = real(srv, ddl)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(server, "_derive", spy)
    return seen


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 9)), min_size=1, max_size=4))
def test_incremental_build_equals_full_build(dev_server, derived_count, edits):
    assert incremental.enabled() and cache.enabled() and server.template_cache_enabled()
    doc = base_schema(uuid.uuid4().hex[:6])
    schema, ddl = compiled(doc)
    with server.scratch_with_ddl(dev_server, ddl):
        pass  # the previous YAML's database, cached with its DDL
    for edit, n in edits:
        if not apply_edit(doc, edit, n):
            continue
        schema, new = compiled(doc)
        if [d.sql for d in new] == [d.sql for d in ddl]:
            continue
        cached = server.template_name(new) in cached_names(dev_server)  # an undo
        before = len(derived_count)
        with server.scratch_with_ddl(dev_server, new) as got, server.scratch(dev_server) as full:
            server.load_ddl(full, new)
            assert catalog_view(got, schema.exclude) == catalog_view(full, schema.exclude)
            assert differ.diff(got, full, schema.exclude) == []
            assert differ.diff(full, got, schema.exclude) == []
        if edit in DERIVED and not cached:
            assert derived_count[before:] == [True], (edit, n)
        if edit in REBUILT:
            # Not from the previous database (an older cached one may still fit: a column
            # dropped again is a pure addition to the database from before it was added).
            assert incremental.delta(ddl, new) is None, (edit, n)
        ddl = new


def test_delta_refuses_what_it_cannot_show_equal():
    _, ddl = compiled(base_schema("r"))
    doc = base_schema("r")
    t = sorted(doc["tables"])[0]
    # A column inserted before the last one would be appended by ADD COLUMN: refused.
    cols = doc["tables"][t]["columns"]
    doc["tables"][t]["columns"] = {"first": {"type": "text"}, **cols}
    assert incremental.delta(ddl, compiled(doc)[1]) is None
    # A changed function body: refused (a full build).
    doc = base_schema("r")
    doc["functions"]["touch"]["body"] = "BEGIN RETURN NEW; END;"
    assert incremental.delta(ddl, compiled(doc)[1]) is None
    # A changed column type: refused.
    doc = base_schema("r")
    doc["tables"][t]["columns"]["name"]["type"] = "text"
    assert incremental.delta(ddl, compiled(doc)[1]) is None
    # Appended columns: one ALTER TABLE, proved by parsing it again.
    doc = base_schema("r")
    doc["tables"][t]["columns"]["extra"] = {"type": "integer", "nullable": False, "default": "7"}
    assert incremental.delta(ddl, compiled(doc)[1]) == [
        f"ALTER TABLE {t} ADD COLUMN extra integer DEFAULT 7 NOT NULL"
    ]


def test_a_tampered_previous_database_is_not_built_upon(dev_server, derived_count):
    doc = base_schema(uuid.uuid4().hex[:6])
    _, ddl = compiled(doc)
    with server.scratch_with_ddl(dev_server, ddl) as url:
        name = url.database or ""
    admin = server.connect(dev_server.with_database(name), autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            cur.execute("CREATE TABLE sneaked_in (id int)")
    finally:
        admin.close()
    apply_edit(doc, "add_column", 1)
    schema, new = compiled(doc)
    with server.scratch_with_ddl(dev_server, new) as got:
        assert derived_count == [False, False]  # the first build had nothing to start from
        assert sql(got, "SELECT to_regclass('public.sneaked_in') IS NULL") == [(True,)]
        assert sql(got, "SELECT 1 FROM information_schema.columns WHERE column_name = 'c1'")


def test_a_full_cache_derives_in_place_not_by_copy(dev_server, derived_count, monkeypatch):
    """With the cache full (a copy would evict a database), the previous desired database
    is taken over: renamed, changed, published under its new name; equal to a full build.
    One in use is left alone; switched off, the previous database is copied and kept."""
    for _ in range(server.MAX_TEMPLATES - 1):
        with server.scratch_with_ddl(dev_server, compiled(base_schema(uuid.uuid4().hex[:6]))[1]):
            pass
    doc = base_schema(uuid.uuid4().hex[:6])
    with server.scratch_with_ddl(dev_server, compiled(doc)[1]) as url:
        first = url.database or ""
    assert len(server.list_templates(dev_server)) >= server.MAX_TEMPLATES - 1
    # Cached by another role: whoever takes it over owns it (what it creates there would
    # otherwise pin it to a database somebody else owns: DROP ROLE fails).
    other = "bindu_test_other_owner"
    sql(dev_server, f"DROP ROLE IF EXISTS {other}; CREATE ROLE {other}")
    sql(dev_server, f'ALTER DATABASE "{first}" OWNER TO {other}')
    apply_edit(doc, "add_column", 1)
    schema, new = compiled(doc)
    with server.scratch_with_ddl(dev_server, new) as got, server.scratch(dev_server) as full:
        second = got.database or ""
        assert derived_count[-1] is True
        names = cached_names(dev_server)
        assert first not in names and second in names  # taken over, not copied
        owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        assert sql(got, owner) == sql(got, "SELECT current_user")
        sql(dev_server, f"DROP ROLE {other}")  # it owns nothing any more
        server.load_ddl(full, new)
        assert catalog_view(got, schema.exclude) == catalog_view(full, schema.exclude)
    # In use by another command: not taken (nor copied: a template in use cannot be).
    pin = server.connect(dev_server.with_database(second), autocommit=True)
    try:
        apply_edit(doc, "add_column", 2)
        _, third = compiled(doc)
        with server.scratch_with_ddl(dev_server, third):
            assert derived_count[-1] is False
            assert second in cached_names(dev_server)
    finally:
        pin.close()
    # Switched off: copied, the source kept.
    monkeypatch.setenv(incremental.IN_PLACE_ENV, "0")
    source = server.template_name(third)
    apply_edit(doc, "add_column", 3)
    _, fourth = compiled(doc)
    with server.scratch_with_ddl(dev_server, fourth):
        assert derived_count[-1] is True
        assert source in cached_names(dev_server)
