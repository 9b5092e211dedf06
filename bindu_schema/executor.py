"""Run planned statements: transactional ones together, CONCURRENTLY ones on their own
in autocommit (PostgreSQL refuses them inside a transaction block)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2

from . import server, statements
from .errors import DatabaseError
from .settings import DatabaseURL, scrub
from .statements import Record


def run(url: DatabaseURL, todo: Sequence[Record | str], batch: int | None = None) -> None:
    """Run the statements (text is parsed first: exactly one statement each, or nothing
    runs); with `batch`, commit after every `batch` of them (rehearsals on scratch copies:
    dropping a thousand tables in one transaction exhausts the lock table)."""
    records = [r if isinstance(r, Record) else statements.parse(r) for r in todo]
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            # Planned literals are written for this setting (differ.py, literals.py).
            cur.execute("SET standard_conforming_strings = on")
            for n, rec in enumerate(records, 1):
                sql = rec.sql
                if batch and n % batch == 0 and not conn.autocommit:
                    conn.commit()
                transactional = rec.transactional
                if not transactional:
                    conn.commit()
                    conn.autocommit = True
                try:
                    cur.execute(sql)
                except psycopg2.Error as exc:
                    if not conn.autocommit:
                        conn.rollback()
                    detail = (exc.pgerror or str(exc)).strip()
                    raise DatabaseError(
                        f"statement failed on {url.safe}: {scrub(detail, url)}\n{sql}"
                    ) from None
                if not transactional:
                    conn.autocommit = False
        conn.commit()
    finally:
        conn.close()
