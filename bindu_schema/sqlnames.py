"""SQL identifiers in statement text: the patterns and the unquoting every reader of
planned SQL (hazards, online DDL, revision rendering, reports) shares."""

from __future__ import annotations

# A quoted identifier ("" escapes a quote) or a bare one (letters, digits, _, $; non-ASCII).
# Non-ASCII is written [^\x00-\x7f], not as a range up to \uffff: under re.I Python folds
# the case of every character of a range at compile time (0.1 s per module at import).
IDENT = r'(?:"(?:[^"]|"")+"|(?:[A-Za-z_]|[^\x00-\x7f])(?:[\w$]|[^\x00-\x7f])*)'
# An optionally schema-qualified name; group 1 is the unqualified part.
QNAME = rf"(?:{IDENT}\s*\.\s*)?({IDENT})"


def unquote(ident: str) -> str:
    """The name PostgreSQL stores: quoted as written, bare folded to lower case."""
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()
