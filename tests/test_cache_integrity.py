"""The on-disk cache cannot change a result (issue 14, item 3): entries placed by someone
else are never unpickled, an entry moved to another key is a miss, a directory others can
write to is not used, and the cached desired database is fingerprinted over every catalog
(an enum value added behind our back is noticed; the inspection cache is keyed by it)."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

import pytest
from conftest import sql
from test_template_cache import unique_yaml

from bindu_schema import cache, differ, loader, plan, server
from bindu_schema import compile as compiler


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home" / "cache"
    monkeypatch.setattr(cache, "root", lambda: root)
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    return root


class Boom:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def entry(cache_dir: Path, path: Path) -> Path:
    return cache_dir / "schema" / f"{cache.key('schema', path.read_bytes())}.pickle"


def test_directory_and_key_are_private(cache_dir: Path, tmp_path: Path) -> None:
    loader.load(unique_yaml(tmp_path))
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache_dir / "schema").stat().st_mode) == 0o700
    assert stat.S_IMODE((cache_dir / "key").stat().st_mode) == 0o600
    assert len(list((cache_dir / "schema").glob("*.pickle"))) == 1


@pytest.mark.parametrize("with_tag", [False, True], ids=["plain_pickle", "forged_tag"])
def test_a_planted_pickle_never_runs(cache_dir: Path, tmp_path: Path, with_tag: bool) -> None:
    path = unique_yaml(tmp_path)
    expected = loader.loads(path.read_bytes(), str(path))
    loader.load(path)  # creates the folder and the key
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Boom(marker))
    planted = (b"\0" * 32 if with_tag else b"") + payload
    entry(cache_dir, path).write_bytes(planted)
    assert loader.load(path) == expected
    assert not marker.exists(), "the planted pickle was executed"
    # The bad entry was dropped and replaced by a good one.
    assert entry(cache_dir, path).read_bytes() != planted


def test_a_valid_entry_of_another_schema_is_a_miss(cache_dir: Path, tmp_path: Path) -> None:
    mine, other = unique_yaml(tmp_path), unique_yaml(tmp_path, tables=1)
    expected = loader.load(mine)
    loader.load(other)
    # Our own authentic entry for `other`, moved under the key of `mine`.
    entry(cache_dir, mine).write_bytes(entry(cache_dir, other).read_bytes())
    got = loader.load(mine)
    assert got == expected
    assert len(got.tables) == 2


@pytest.mark.parametrize("what", ["root", "kind", "key"])
def test_a_cache_others_can_write_is_not_used(cache_dir: Path, tmp_path: Path, what: str) -> None:
    path = unique_yaml(tmp_path)
    loader.load(path)
    k = cache.key("schema", path.read_bytes())
    assert cache.get("schema", k) is not None
    target = {"root": cache_dir, "kind": cache_dir / "schema", "key": cache_dir / "key"}[what]
    target.chmod(0o777 if what != "key" else 0o644)
    assert cache.get("schema", k) is None
    cache.put("schema", "0" * 64, "x")
    assert not (cache_dir / "schema" / ("0" * 64 + ".pickle")).exists()


def test_an_enum_value_added_to_the_cached_database_is_noticed(
    dev_server, tmp_path: Path, cache_dir: Path
) -> None:
    path = unique_yaml(tmp_path)
    text = path.read_text().replace(
        "tables:", "enums:\n  probe_state:\n    values: [one, two]\ntables:", 1
    )
    path.write_text(text)
    schema = loader.load(path)
    name = server.template_name(compiler.compile_schema(schema))
    with plan.desired_database(schema, dev_server) as url:
        assert url.database == name
        before = server.immutable_token(url)
        differ._inspect_one(url, "public")  # fills the inspection cache
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            cur.execute("BEGIN READ WRITE")
            cur.execute("ALTER TYPE probe_state ADD VALUE 'tampered'")
        conn.commit()
    finally:
        conn.close()
    values = "SELECT enumlabel FROM pg_enum ORDER BY enumsortorder"
    with plan.desired_database(schema, dev_server) as again:
        assert again.database == name
        assert sql(again, values) == [("one",), ("two",)]  # rebuilt, not served tampered
        inspected, _ = differ._inspect_one(again, "public")
        enums = {str(k): list(v.elements) for k, v in inspected.enums.items()}
        assert enums == {'"public"."probe_state"': ["one", "two"]}
        assert server.immutable_token(again) is not None
    assert before is not None


def test_the_token_names_the_catalog_fingerprint(dev_server, tmp_path: Path) -> None:
    schema = loader.load(unique_yaml(tmp_path))
    with plan.desired_database(schema, dev_server) as url:
        token = server.immutable_token(url)
        fingerprint = server.catalog_fingerprint(url)
    assert token is not None
    assert token.endswith(hashlib.sha256(fingerprint.encode()).hexdigest())
    assert "pg_enum:" in fingerprint and "pg_rewrite:" in fingerprint
