"""Bindu tenant schemas: the schema name Bindu derives from a DID.

Lower-case; every character outside [a-z0-9_] becomes '_'; 'schema_' in front when it
starts with a digit; a name over 63 characters becomes its first 54 characters, '_', and
the first 8 hex characters of the SHA-256 of the full name.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
# pg_advisory_lock(PUBLIC_LOCK_KEY): taken by generated/env.py around every migration of
# public, and by adopt while it brings public to head.
PUBLIC_LOCK_KEY = 7_235_390_106_112_548_197
# pg_advisory_lock(TENANT_LOCK_CLASS, hashtext(schema)): one lock per tenant schema, taken by
# generated/env.py around every migration of that schema (and so by ensure_tenant). The
# two-key form never collides with the single-key lock env.py takes for public.
TENANT_LOCK_CLASS = 723_539_010
_OUTSIDE = re.compile(r"[^a-z0-9_]")


def schema_name(did: str) -> str:
    if not did:
        raise ValueError("a DID is required to derive a tenant schema name")
    name = _OUTSIDE.sub("_", did.lower())
    if name[0].isdigit():
        name = "schema_" + name
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:54]}_{digest}"
    return name


_VALID = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def valid_schema_name(name: str) -> bool:
    """A name schema_name() can return (and generated/env.py accepts as tenant_schema)."""
    return bool(_VALID.match(name))
