CREATE TYPE "Order Status" AS ENUM ('new', 'done');

CREATE OR REPLACE FUNCTION "Touch Me"()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    NEW."select" := now();
    RETURN NEW;
END;
$function$;

CREATE TABLE "user" (
    "order" INTEGER NOT NULL,
    "select" TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    "group" TEXT,
    "CamelCase" TEXT,
    "with space" "Order Status",
    CONSTRAINT user_pkey PRIMARY KEY ("order"),
    CONSTRAINT user_group_key UNIQUE ("group"),
    CONSTRAINT "check" CHECK ("order" > 0)
);

CREATE TABLE "größe" (
    "schlüssel" INTEGER NOT NULL,
    "名前" TEXT,
    user_order INTEGER,
    CONSTRAINT "größe_pkey" PRIMARY KEY ("schlüssel")
);

CREATE TABLE first (
    "ref.id" INTEGER,
    "say ""hi""" TEXT
);

CREATE TABLE "later.table" (
    "the.id" INTEGER NOT NULL,
    CONSTRAINT later_pkey PRIMARY KEY ("the.id")
);

CREATE INDEX index ON "user" ("select", "CamelCase");

CREATE INDEX "größe_名前_idx" ON "größe" ("名前");

ALTER TABLE "größe" ADD CONSTRAINT "größe_user_fkey" FOREIGN KEY(user_order) REFERENCES "user" ("order");

ALTER TABLE first ADD CONSTRAINT first_later_fkey FOREIGN KEY("ref.id") REFERENCES "later.table" ("the.id") ON DELETE SET NULL;

CREATE TRIGGER trigger BEFORE UPDATE ON "user"
FOR EACH ROW
EXECUTE FUNCTION "Touch Me"();

COMMENT ON TABLE "user" IS 'reserved word as a table name';

COMMENT ON COLUMN "user"."group" IS 'reserved column';

COMMENT ON TABLE "größe" IS 'Größe – non-ASCII table';

COMMENT ON COLUMN "größe"."名前" IS '名前の列';
