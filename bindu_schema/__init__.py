"""bindu-schema: Bindu's PostgreSQL schema in YAML, diffed with migra, shipped as Alembic revisions."""

__version__ = "0.1.0"
