"""Schema-agnostic SQL: drop the `public` qualifier of identifiers in migra's statements.

migra qualifies every name (`"public"."tasks"`, `public.tasks`,
`public.update_updated_at_column()`). A revision in generated/versions/ must migrate
public and every tenant schema alike, so its statements name objects unqualified and
generated/env.py runs them with `search_path` set to the schema being migrated.

The work is done on PostgreSQL's tokens and proved on its parse tree
(statements.unqualify): string literals, dollar-quoted bodies and comments are copied
verbatim, so a `'public.x'::regclass` inside a literal is left alone
(`literal_mentions_public` finds those, so a caller can warn about them).
"""

from __future__ import annotations

from . import statements


def unqualify(sql: str, schema: str = "public") -> str:
    """sql (one statement) with `schema.` / `"schema".` removed in front of identifiers."""
    return statements.unqualify(statements.parse(sql), schema).sql


def literal_mentions_public(sql: str) -> bool:
    """True when a string literal or body still names `public.` (left as written)."""
    return statements.literal_mentions(statements.parse(sql))
