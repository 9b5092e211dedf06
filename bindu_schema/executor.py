"""Run planned statements: transactional ones together, CONCURRENTLY ones on their own
in autocommit (PostgreSQL refuses them inside a transaction block)."""

from __future__ import annotations

import psycopg2

from . import online, server
from .errors import DatabaseError
from .settings import DatabaseURL, scrub


def run(url: DatabaseURL, statements: list[str]) -> None:
    conn = server.connect(url)
    try:
        with conn.cursor() as cur:
            for sql in statements:
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
