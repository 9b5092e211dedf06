CREATE TABLE kept (
    id INTEGER NOT NULL,
    CONSTRAINT kept_pkey PRIMARY KEY (id)
);

CREATE OR REPLACE FUNCTION managed()
RETURNS integer
LANGUAGE sql
AS $function$
SELECT 1
$function$;
