"""Issue 17's closing check: a database holding every object kind and option the format
declares is inspected, and the YAML plans to no changes against that same database (no
statement, no drift), on PostgreSQL 18 and 15; rendered into an empty database it gives an
equal catalog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, dev_args
from pgcatalog import snapshot

from bindu_schema import compile as compiler
from bindu_schema import loader, server
from bindu_schema.settings import DatabaseURL

pytestmark = pytest.mark.acceptance

EVERYTHING = r"""
CREATE TYPE state AS ENUM ('submitted', 'working', 'done');
CREATE DOMAIN did AS text NOT NULL DEFAULT 'did:unknown'
    CONSTRAINT did_prefix CHECK (VALUE LIKE 'did:%');
COMMENT ON DOMAIN did IS 'an agent''s identifier';
CREATE TYPE money_amount AS (amount numeric(12,2), currency char(3));
COMMENT ON TYPE money_amount IS 'an amount and its currency';
CREATE SEQUENCE ticket_numbers AS integer START WITH 1000 INCREMENT BY 5 CACHE 10;
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END;$$;
CREATE FUNCTION tenant_of(did text) RETURNS text LANGUAGE sql IMMUTABLE STRICT
    PARALLEL SAFE COST 5 AS $$SELECT split_part(did, ':', 2)$$;
CREATE FUNCTION owned(n integer) RETURNS SETOF integer LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public ROWS 20 AS $$SELECT generate_series(1, n)$$;
CREATE PROCEDURE archive(older_than interval) LANGUAGE plpgsql
    AS $$BEGIN PERFORM older_than; END;$$;

CREATE TABLE bookings (
    id integer NOT NULL,
    owner did,
    state state NOT NULL DEFAULT 'submitted',
    price money_amount,
    ticket bigint DEFAULT nextval('ticket_numbers'),
    during tstzrange,
    code text,
    cancelled boolean,
    CONSTRAINT bookings_pkey PRIMARY KEY (id) INCLUDE (code) DEFERRABLE,
    CONSTRAINT bookings_code UNIQUE NULLS NOT DISTINCT (code) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&) WHERE (NOT cancelled),
    CONSTRAINT bookings_positive CHECK (id > 0) NO INHERIT
);
CREATE SEQUENCE countdown AS smallint START WITH 100 INCREMENT BY -1 MINVALUE 0
    MAXVALUE 100 CYCLE OWNED BY bookings.code;
CREATE UNIQUE INDEX bookings_owner_state ON bookings (owner, state) NULLS NOT DISTINCT
    WITH (deduplicate_items = off, fillfactor = 80);  -- in the order the YAML renders them
COMMENT ON INDEX bookings_owner_state IS 'one per owner and state';
CREATE TRIGGER state_changed AFTER UPDATE OF state ON bookings FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION audit('state', 'it''s');
CREATE CONSTRAINT TRIGGER checked AFTER INSERT ON bookings DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER bulk_deleted AFTER DELETE ON bookings REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION audit();
CREATE TRIGGER paused AFTER INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION audit();
ALTER TABLE bookings DISABLE TRIGGER paused;
"""


def test_inspect_of_everything_plans_clean(
    cli: Callable[..., Result],
    make_db: Callable[[], DatabaseURL],
    dev_server: DatabaseURL,
    tmp_path: Path,
) -> None:
    live = make_db()
    conn = server.connect(live)
    try:
        with conn.cursor() as cur:
            cur.execute(EVERYTHING)
        conn.commit()
    finally:
        conn.close()

    inspected = cli("inspect", "--database-url", live.sqlalchemy, "--strict")
    assert inspected.code == 0, inspected.text  # --strict: nothing was left out
    path = tmp_path / "everything.yaml"
    path.write_text(inspected.out)

    plan = cli(
        "plan", "--schema", str(path), "--database-url", live.sqlalchemy, *dev_args(dev_server)
    )
    assert plan.code == 0, plan.text  # no statement, no drift

    rendered = make_db()
    server.load_ddl(rendered, compiler.compile_schema(loader.load(path)))
    assert snapshot(rendered) == snapshot(live)
