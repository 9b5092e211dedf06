CREATE EXTENSION IF NOT EXISTS citext;

CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE TYPE task_state AS ENUM ('submitted', 'working', 'input-required', 'completed', 'it''s done');

CREATE TYPE priority AS ENUM ('low', 'high');

CREATE TABLE jobs (
    id UUID NOT NULL,
    state task_state DEFAULT 'submitted'::task_state NOT NULL,
    history task_state[] DEFAULT '{}'::task_state[] NOT NULL,
    priority priority,
    email citext,
    CONSTRAINT jobs_pkey PRIMARY KEY (id)
);

CREATE INDEX jobs_email_trgm ON jobs USING gin (email gin_trgm_ops);
