"""The per-table validation cache and the SQL fragments found good (entry_cache.py): with
them, loads() returns the same model and the same errors, at the same line:column, as
without.

Every test here uses a private cache directory (the session's shared one would make hits
unpredictable)."""

from __future__ import annotations

import copy
import datetime
import gc
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bindu_schema import cache, entry_cache, loader
from bindu_schema.loader import SchemaValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import schemagen  # noqa: E402

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: a failure is reproducible
)


@contextmanager
def private_cache(root: Path) -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache, "root", lambda: root)
        mp.delenv(cache.CACHE_ENV, raising=False)
        mp.delenv(entry_cache.ENTRY_CACHE_ENV, raising=False)
        yield mp


@pytest.fixture
def cache_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "cache"
    with private_cache(root):
        yield root


class Hits:
    """Counts the table entries found in the cache (skipped by the validation)."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.found = 0
        real = entry_cache.ValidEntries.__contains__

        def spy(this: entry_cache.ValidEntries, d: bytes | None) -> bool:
            hit = real(this, d)
            self.found += hit
            return hit

        mp.setattr(entry_cache.ValidEntries, "__contains__", spy)


def outcome(text: str) -> tuple[str, Any]:
    """("ok", model and its pickle) or ("error", the error text)."""
    try:
        schema = loader.loads(text)
    except SchemaValidationError as exc:
        return ("error", str(exc))
    return ("ok", (schema, pickle.dumps(schema)))


def uncached(text: str, mp: pytest.MonkeyPatch) -> tuple[str, Any]:
    mp.setenv(entry_cache.ENTRY_CACHE_ENV, "0")
    try:
        return outcome(text)
    finally:
        mp.delenv(entry_cache.ENTRY_CACHE_ENV)


# --- (a) random edit sequences: warm cache == no cache, valid and invalid alike ---------

BASE_TABLE: dict[str, Any] = {
    "columns": {"id": {"type": "bigint", "nullable": False}, "name": {"type": "text"}},
    "primary_key": {"name": "PK", "columns": ["id"]},
    "indexes": {"IX": {"columns": ["name"]}},
}

EDITS = (
    "add column",  # valid
    "comment",  # valid
    "fix",  # the table back to its first form: an entry the cache has seen
    "rename",  # the same entry under another name
    "add table",
    "drop table",
    "bad type",  # a number where a type is expected
    "typo",  # an unknown key, with a suggestion
    "bad nullable",  # a string where true/false is expected
    "no columns",  # a required key missing
    "bad method",  # an enum value, misspelt
    "empty name",  # a valid entry under an empty name: the tables map's own rule
    "missing reference",  # a foreign key to no table: a semantic (cross-table) error
    "bad default",  # an SQL fragment that is two statements
    "timestamp",  # a YAML timestamp in a comment: not cacheable, and invalid
)


def fresh_table(name: str) -> dict[str, Any]:
    t = copy.deepcopy(BASE_TABLE)
    t["primary_key"]["name"] = f"{name}_pkey"
    t["indexes"] = {f"{name}_name_idx": t["indexes"]["IX"]}
    return t


def apply(tables: dict[str, Any], edit: str, pick: int, n: int) -> None:
    if not tables or edit == "add table":
        name = f"t{n}"
        tables[name] = fresh_table(name)
        return
    name = sorted(tables)[pick % len(tables)]
    t = tables[name]
    cols = t.setdefault("columns", {"id": {"type": "bigint"}})
    first = next(iter(cols.values()), None) if isinstance(cols, dict) else None
    if edit == "add column" and isinstance(cols, dict):
        cols[f"c{n}"] = {"type": "text"}
    elif edit == "comment":
        t["comment"] = f"edit {n}"
    elif edit == "fix":
        tables[name] = fresh_table(name)
    elif edit == "rename" and name != "":
        tables[f"r{n}"] = tables.pop(name)
    elif edit == "drop table":
        del tables[name]
    elif edit == "bad type" and isinstance(first, dict):
        first["type"] = 12
    elif edit == "typo" and isinstance(first, dict):
        first["nulable"] = True
    elif edit == "bad nullable" and isinstance(first, dict):
        first["nullable"] = "maybe"
    elif edit == "no columns":
        del t["columns"]
    elif edit == "bad method":
        t.setdefault("indexes", {})[f"ix{n}"] = {"columns": ["id"], "method": "btre"}
    elif edit == "empty name" and "" not in tables:
        tables[""] = tables.pop(name)
    elif edit == "missing reference":
        t["foreign_keys"] = {
            f"fk{n}": {"columns": ["id"], "references": {"table": "nowhere", "columns": ["id"]}}
        }
    elif edit == "bad default" and isinstance(first, dict):
        first["default"] = "1); DROP TABLE x; --"
    elif edit == "timestamp":
        t["comment"] = datetime.date(2026, 1, n % 28 + 1)


@SETTINGS
@given(
    first=st.integers(min_value=1, max_value=4),
    edits=st.lists(
        st.tuples(st.sampled_from(EDITS), st.integers(min_value=0, max_value=7)),
        min_size=1,
        max_size=10,
    ),
)
def test_warm_cache_loads_what_no_cache_loads(
    tmp_path_factory: pytest.TempPathFactory, first: int, edits: list[tuple[str, int]]
) -> None:
    with private_cache(tmp_path_factory.mktemp("entries") / "cache") as mp:
        tables = {f"t{i}": fresh_table(f"t{i}") for i in range(first)}
        for n, (edit, pick) in enumerate([("fix", 0), *edits]):
            apply(tables, edit, pick, n)
            text = yaml.safe_dump({"version": 1, "tables": tables}, sort_keys=False)
            want = uncached(text, mp)
            got = outcome(text)  # the cache warm from the steps before
            assert got[0] == want[0], text
            if got[0] == "ok":
                assert got[1][0] == want[1][0]
                assert got[1][1] == want[1][1]  # the same pickled bytes
            else:
                assert got[1] == want[1]


def test_edit_sequences_do_hit_the_cache(cache_dir: Path) -> None:
    """The property above is not vacuous: its kind of sequence skips cached entries."""
    with pytest.MonkeyPatch.context() as mp:
        hits = Hits(mp)
        tables = {f"t{i}": fresh_table(f"t{i}") for i in range(4)}
        outcome(yaml.safe_dump({"version": 1, "tables": tables}, sort_keys=False))
        assert hits.found == 0
        apply(tables, "comment", 0, 1)
        apply(tables, "typo", 1, 2)
        apply(tables, "rename", 2, 3)
        kind, err = outcome(yaml.safe_dump({"version": 1, "tables": tables}, sort_keys=False))
        assert kind == "error" and "unknown key 'nulable'" in err
        assert hits.found == 2  # t2 (renamed to r3) and t3; t0 and t1 changed


# --- (b) an invalid edit among cached tables is reported at its line:column -------------


def test_one_invalid_table_among_cached_ones_is_reported_where_it_is(cache_dir: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        hits = Hits(mp)
        text = schemagen.generate(50)
        loader.loads(text)
        bad_line = "      t0025_name_idx: {columns: [name], method: btre}\n"
        edited = text.replace("      t0025_name_idx: {columns: [name]}\n", bad_line, 1)
        assert edited != text
        with pytest.raises(SchemaValidationError) as err:
            loader.loads(edited)
        assert hits.found == 49  # every table but the edited one was skipped
        line = edited[: edited.index(bad_line)].count("\n") + 1
        col = bad_line.index("btre") + 1
        assert str(err.value) == (
            f"<string>:{line}:{col}: tables/t0025/indexes/t0025_name_idx/method: 'btre' is "
            "not one of 'btree', 'gin', 'gist', 'brin', 'hash', 'spgist'; did you mean 'btree'?"
        )
        assert str(err.value) == uncached(edited, mp)[1]
        # and invalid entries are never added: the same file fails the same way again
        with pytest.raises(SchemaValidationError) as again:
            loader.loads(edited)
        assert str(again.value) == str(err.value)


def test_a_cross_table_error_is_found_although_both_tables_are_cached(cache_dir: Path) -> None:
    """Duplicates and references are checked on the whole model, cached entries or not."""
    a = fresh_table("a")
    loader.loads(yaml.safe_dump({"version": 1, "tables": {"a": a}}, sort_keys=False))
    b = fresh_table("b")
    b["primary_key"]["name"] = "a_pkey"  # both tables' entries were found valid before
    text = yaml.safe_dump({"version": 1, "tables": {"a": a, "b": b}}, sort_keys=False)
    loader.loads(yaml.safe_dump({"version": 1, "tables": {"b": b}}, sort_keys=False))
    with pytest.raises(SchemaValidationError, match="a_pkey"):
        loader.loads(text)


# --- (c) the switch, the bound, the digest, the GC pause --------------------------------


def test_the_switch_turns_the_cache_off(cache_dir: Path) -> None:
    text = schemagen.generate(5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(entry_cache.ENTRY_CACHE_ENV, "0")
        loader.loads(text)
        assert not (cache_dir / entry_cache.KIND).exists()
    loader.loads(text)
    # the table entries and the SQL fragments found good
    assert len(list((cache_dir / entry_cache.KIND).glob("*.pickle"))) == 2
    with pytest.MonkeyPatch.context() as mp:
        hits = Hits(mp)
        mp.setenv(entry_cache.ENTRY_CACHE_ENV, "0")
        loader.loads(schemagen.edited(5, "comment", 1))
        assert hits.found == 0  # a warm cache is not even read
        mp.delenv(entry_cache.ENTRY_CACHE_ENV)
        loader.loads(schemagen.edited(5, "comment", 2))
        assert hits.found == 4


def test_the_general_cache_switch_turns_it_off_too(cache_dir: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(cache.CACHE_ENV, "0")
        loader.loads(schemagen.generate(3))
    assert not (cache_dir / entry_cache.KIND).exists()


def test_the_set_is_bounded_and_keeps_the_newest(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry_cache, "MAX_DIGESTS", 6)
    loader.loads(schemagen.generate(4))
    loader.loads(schemagen.edited(4, "comment", 1))  # one entry new: 5 in all
    loader.loads(schemagen.edited(4, "comment", 2))  # 6
    loader.loads(schemagen.edited(4, "comment", 3))  # 7: the oldest goes
    known = entry_cache.ValidEntries()
    assert len(known) == 6
    hits = Hits(monkeypatch)
    loader.loads(schemagen.edited(4, "comment", 3))
    assert hits.found == 4  # the file just loaded is all there


def test_a_forged_set_is_not_believed(cache_dir: Path) -> None:
    """The set lives in the authenticated result cache: a file written by someone else
    (here: an invalid entry's digest, without the HMAC key) is a miss."""
    bad = {"columns": {"id": {"type": 12}}}
    loader.loads(schemagen.generate(1))  # creates the folder and the key
    path = cache_dir / entry_cache.KIND / f"{cache.key('valid table entries')}.pickle"
    assert path.exists()
    forged = {entry_cache.digest(bad): 10**9}
    path.write_bytes(b"\0" * 32 + pickle.dumps(forged))
    text = yaml.safe_dump({"version": 1, "tables": {"t": bad}})
    with pytest.raises(SchemaValidationError, match="expected a string, got a number"):
        loader.loads(text)


def test_the_digest_tells_apart_what_json_could_confuse() -> None:
    d = entry_cache.digest
    assert len({d({"a": 1}), d({"a": 1.0}), d({"a": True}), d({"a": "1"})}) == 4
    assert d({"a": 1, "b": [2]}) == d({"b": [2], "a": 1})  # key order is not validity's
    assert d({"a": [1, 2]}) != d({"a": [2, 1]})
    assert d({"comment": datetime.date(2026, 1, 1)}) is None  # never cached
    assert d({"x": b"bytes"}) is None


def test_the_skip_applies_to_the_tables_section_as_the_kinds_define_it() -> None:
    """loader._TABLES names the tables kind's section, whose fragment is a map of entries
    under one subschema (what _additional_properties relies on)."""
    from bindu_schema.kinds import tables

    assert loader._TABLES == tables.KIND.key
    fragment = loader.json_schema()["properties"][loader._TABLES]
    assert isinstance(fragment["additionalProperties"], dict)
    assert "properties" not in fragment and "patternProperties" not in fragment


def test_no_yaml_node_outlives_its_load() -> None:
    """The converter's scalar constructor is the load's own: the module-wide one it replaced
    remembered every scalar node of every file loaded in the process."""
    marker = "marker_of_this_load_7f3a"
    try:  # an int: built by the constructor, not taken as a string
        loader.loads("version: 1\ntables:\n  t: {columns: {a: {type: text}}, comment: 12}\n")
    except SchemaValidationError:
        pass  # (expected: a comment is a string; the exception is gone after this block)
    else:
        raise AssertionError("comment: 12 was accepted")
    loader.loads(f"version: 1\ntables:\n  t: {{columns: {{a: {{type: {marker}}}}}}}\n")
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, yaml.ScalarNode)]
    assert not [n for n in alive if n.value in (marker, "12")]


def test_sql_fragments_found_good_are_not_parsed_again(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fragments.problems keeps the (check, text) pairs it found good: a new process (the
    in-process lru caches cleared) parses only fragments it has not seen, and a bad one
    every time."""
    from bindu_schema import fragments

    def clear() -> None:
        for f in (fragments.expression, fragments.type_name, fragments.opclass):
            f.cache_clear()

    parsed: list[str] = []
    real = fragments._tree

    def spy(head: str, value: str, tail: str = "") -> Any:
        parsed.append(value)
        return real(head, value, tail)

    monkeypatch.setattr(fragments, "_tree", spy)
    text = schemagen.generate(3)
    clear()
    loader.loads(text)
    assert "now()" in parsed and "varchar(200)" in parsed
    parsed.clear()
    clear()
    loader.loads(schemagen.edited(3, "column", 1))
    assert parsed == ["text"]  # only the new column's type: every other fragment was seen
    bad = text.replace("default: now()", "default: now()); DROP TABLE x; --(", 1)
    for _ in range(2):
        clear()
        parsed.clear()
        with pytest.raises(SchemaValidationError, match="must be one SQL expression"):
            loader.loads(bad)
        assert parsed == ["now()); DROP TABLE x; --("]
    monkeypatch.setenv(entry_cache.ENTRY_CACHE_ENV, "0")
    clear()
    parsed.clear()
    loader.loads(text)
    assert "now()" in parsed  # the switch turns this off too
