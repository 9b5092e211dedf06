CREATE TABLE notes (
    id UUID NOT NULL,
    body TEXT NOT NULL,
    plain TEXT,
    empty TEXT,
    CONSTRAINT notes_pkey PRIMARY KEY (id)
);

CREATE INDEX notes_body ON notes (body);

COMMENT ON TABLE notes IS 'Notes: it''s a table with ''quotes''';

COMMENT ON COLUMN notes.id IS 'Primary key chosen by the application';

COMMENT ON COLUMN notes.body IS 'Multi-line
comment – with ümlauts';

COMMENT ON COLUMN notes.empty IS '';

COMMENT ON INDEX notes_body IS 'For lookups by body';
