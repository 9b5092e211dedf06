"""SQL identifiers in statement text: the patterns and the unquoting every reader of
planned SQL (hazards, online DDL, revision rendering, reports) shares."""

from __future__ import annotations

# A quoted identifier ("" escapes a quote) or a bare one (letters, digits, _, $; non-ASCII).
IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)'
# An optionally schema-qualified name; group 1 is the unqualified part.
QNAME = rf"(?:{IDENT}\s*\.\s*)?({IDENT})"


def unquote(ident: str) -> str:
    """The name PostgreSQL stores: quoted as written, bare folded to lower case."""
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()
