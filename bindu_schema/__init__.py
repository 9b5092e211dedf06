"""bindu-schema: Bindu's PostgreSQL schema in YAML, diffed with migra, as Alembic revisions."""

__version__ = "0.1.0"


def ensure_tenant(url: str, did: str, *, ini: str | None = None) -> str:
    """Create or upgrade the tenant schema of `did` to the head of generated/; return its
    name (bindu_schema.tenants.ensure_tenant; imported on first call, so importing
    bindu_schema stays light)."""
    from .tenants import ensure_tenant as _ensure_tenant

    return _ensure_tenant(url, did, ini=ini)


__all__ = ["__version__", "ensure_tenant"]
