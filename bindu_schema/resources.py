"""Where the schema and the Alembic revisions are: in the installed package or the checkout.

The sources stay at the repository root (schema/, generated/); pyproject.toml maps them
into the wheel as bindu_schema/schema and bindu_schema/generated (package-dir), so an
application that installed the wheel needs no alembic.ini and no checkout. An editable
install or a checkout finds the top-level folders beside the package instead.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from alembic.config import Config

from .errors import BinduSchemaError

_PACKAGE = Path(__file__).resolve().parent
# Installed wheel first (bindu_schema/generated), then the checkout (../generated).
_ROOTS = (_PACKAGE, _PACKAGE.parent)


def _find(relative: str) -> Path:
    for root in _ROOTS:
        candidate = root / relative
        if candidate.exists():
            return candidate
    raise BinduSchemaError(
        f"{relative}: not found in the installed bindu_schema package ({_PACKAGE}) nor "
        "beside it; reinstall bindu-schema (the wheel carries it as package data)"
    )


def script_location() -> Path:
    """The Alembic script directory: env.py, script.py.mako and versions/."""
    path = _find("generated")
    if not (path / "env.py").is_file():
        raise BinduSchemaError(f"{path}: no env.py; reinstall bindu-schema")
    return path


def schema_file() -> Path:
    """schema/bindu.yaml, the desired state the revisions were generated from."""
    return _find("schema/bindu.yaml")


# Bindu's own Alembic chain (GetBindu/Bindu alembic/versions), oldest first; the schema
# each leaves is tests/fixtures/bindu_revisions/<revision>.sql (bindu_revisions/ in the wheel).
_REVISION_FIXTURES = "tests/fixtures/bindu_revisions"
BINDU_REVISIONS = (
    "20251207_0001",
    "ef0d61440935",
    "20250614_0001",
    "20260119_0001",
    "20260418_0001",
)


def bindu_revision_sql(revision: str) -> str:
    """The schema Bindu's migrations leave at `revision` (pg_dump text, for psql)."""
    if revision not in BINDU_REVISIONS:
        raise BinduSchemaError(f"{revision}: not one of Bindu's revisions")
    for root, sub in (
        (_PACKAGE, "bindu_revisions"),
        (_PACKAGE.parent, "tests/fixtures/bindu_revisions"),
    ):
        path = root / sub / f"{revision}.sql"
        if path.is_file():
            return path.read_text()
    raise BinduSchemaError(f"{revision}.sql: not in the installed package; reinstall bindu-schema")


def alembic_config(**attributes: object) -> Config:
    """An Alembic Config with no alembic.ini: the packaged script directory, and the
    settings alembic.ini gives the revisions (file names, the schema for env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("truncate_slug_length", "40")
    cfg.set_main_option("bindu_schema.schema", str(_schema_or_default()))
    cfg.attributes["configure_logger"] = False
    for name, value in attributes.items():
        cfg.attributes[name] = value
    return cfg


def _schema_or_default() -> Path:
    try:
        return schema_file()
    except BinduSchemaError:
        return Path("schema/bindu.yaml")  # env.py reports it if it is ever read


def packaged_ini() -> Path:
    """An alembic.ini for the packaged revisions, for the `bindu-schema` commands run
    outside a checkout (where ./alembic.ini and ./schema/bindu.yaml do not exist). Written
    to the temporary directory, once per installed package."""
    location = script_location()
    text = (
        "# written by bindu-schema for the revisions of the installed package\n"
        "[alembic]\n"
        f"script_location = {location}\n"
        "path_separator = os\n"
        "file_template = %%(rev)s_%%(slug)s\n"
        "truncate_slug_length = 40\n"
        f"bindu_schema.schema = {_schema_or_default()}\n"
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"bindu-schema-{digest}.ini"
    if not path.is_file():
        partial = path.with_suffix(f".{digest}.tmp")
        partial.write_text(text)
        partial.replace(path)  # atomic: concurrent commands see a whole file
    return path
