"""bindu-schema: Bindu's PostgreSQL schema in YAML, diffed with migra, as Alembic revisions.

The application's API (bindu_schema.runtime) is re-exported here; each call imports it on
first use, so importing bindu_schema stays light and never imports the planning tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncEngine

__version__ = "0.1.0"


def ensure_tenant(url: str | sa.Engine, did: str, *, ini: str | Path | None = None) -> str:
    """Create or upgrade the tenant schema of `did` to head; return its name."""
    from .runtime import ensure_tenant as _impl

    return _impl(url, did, ini=ini)


async def ensure_tenant_async(
    engine_or_url: str | AsyncEngine, did: str, *, ini: str | Path | None = None
) -> str:
    """ensure_tenant through asyncpg: an AsyncEngine or a postgresql+asyncpg:// URL."""
    from .runtime import ensure_tenant_async as _impl

    return await _impl(engine_or_url, did, ini=ini)


def migrate(url: str | sa.Engine, *, ini: str | Path | None = None) -> None:
    """Upgrade public to head from the packaged revisions."""
    from .runtime import migrate as _impl

    _impl(url, ini=ini)


async def migrate_async(engine_or_url: str | AsyncEngine, *, ini: str | Path | None = None) -> None:
    """migrate through asyncpg."""
    from .runtime import migrate_async as _impl

    await _impl(engine_or_url, ini=ini)


__all__ = ["__version__", "ensure_tenant", "ensure_tenant_async", "migrate", "migrate_async"]
