"""Run planned statements: transactional ones together, CONCURRENTLY ones on their own
in autocommit (PostgreSQL refuses them inside a transaction block)."""

from __future__ import annotations

import psycopg2

from . import online, server
from .errors import DatabaseError
from .settings import DatabaseURL, scrub


def run(url: DatabaseURL, statements: list[str], batch: int | None = None) -> None:
    """Run the statements; with `batch`, commit after every `batch` of them (rehearsals on
    scratch copies: dropping a thousand tables in one transaction exhausts the lock table)."""
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            for n, sql in enumerate(statements, 1):
                if batch and n % batch == 0 and not conn.autocommit:
                    conn.commit()
                transactional = online.is_transactional(sql)
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
