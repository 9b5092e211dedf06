-- Loaded into the round-trip database after the golden DDL: all of it is excluded.
CREATE TABLE legacy_sessions (id serial PRIMARY KEY, data jsonb);
CREATE INDEX legacy_sessions_data ON legacy_sessions USING gin (data);
CREATE TABLE legacy_audit (session_id integer REFERENCES legacy_sessions (id));
CREATE FUNCTION legacy_helper() RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION legacy_helper(text) RETURNS integer LANGUAGE sql AS 'SELECT 2';
CREATE FUNCTION legacy_pair(integer, text) RETURNS integer LANGUAGE sql AS 'SELECT 3';
