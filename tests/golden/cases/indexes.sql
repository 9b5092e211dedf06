CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE events (
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    payload JSONB DEFAULT '{}'::jsonb NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    during tstzrange,
    score INTEGER,
    deleted BOOLEAN DEFAULT false NOT NULL,
    addr INET,
    CONSTRAINT events_pkey PRIMARY KEY (id)
);

CREATE INDEX events_addr_spgist ON events USING spgist (addr);

CREATE INDEX events_at_brin ON events USING brin (at);

CREATE INDEX events_at_desc_nulls_last ON events (at DESC NULLS LAST, id);

CREATE INDEX events_during_gist ON events USING gist (during);

CREATE INDEX events_gist_multi ON events USING gist (score, during);

CREATE INDEX events_live ON events (at) WHERE NOT deleted;

CREATE UNIQUE INDEX events_live_unique ON events (name) WHERE deleted = false AND score IS NOT NULL;

CREATE UNIQUE INDEX events_lower_email ON events ((lower(email)));

CREATE INDEX events_lower_email_desc ON events ((lower(email)) text_pattern_ops DESC);

CREATE INDEX events_name_hash ON events USING hash (name);

CREATE INDEX events_name_include ON events (name) INCLUDE (email, score);

CREATE INDEX events_name_pattern ON events (name text_pattern_ops);

CREATE INDEX events_name_pattern_desc ON events (name text_pattern_ops DESC NULLS FIRST);

CREATE INDEX events_payload_expr ON events USING gin (((payload -> 'tags')));

CREATE INDEX events_payload_path ON events USING gin (payload jsonb_path_ops);

CREATE INDEX events_score_asc ON events (score ASC);

CREATE INDEX events_score_nulls_first ON events (score NULLS FIRST);

CREATE INDEX events_upper_name_pattern ON events ((upper(name)) text_pattern_ops);
