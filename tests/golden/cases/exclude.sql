SET check_function_bodies = off;

CREATE OR REPLACE FUNCTION managed()
RETURNS integer
LANGUAGE sql
AS $function$
SELECT 1
$function$;

CREATE TABLE kept (
    id INTEGER NOT NULL,
    CONSTRAINT kept_pkey PRIMARY KEY (id)
);
