"""The desired schema as frozen dataclasses. Nothing but data lives here.

Each kind's dataclasses live in its module under kinds/ and are re-exported here, so
`model.Table`, `model.Trigger`, ... keep working; the Schema holds each kind's objects
under the kind's key (its own field for the kinds that have one, `others` for the rest).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from .kinds.columns import Column
from .kinds.constraints import (
    Check,
    Exclusion,
    ExclusionElement,
    ForeignKey,
    PrimaryKey,
    Unique,
)
from .kinds.enums import Enum
from .kinds.extensions import Extension
from .kinds.functions import Argument, Function
from .kinds.indexes import Index, IndexItem
from .kinds.tables import Table
from .kinds.triggers import Trigger

__all__ = [
    "Argument",
    "Check",
    "Column",
    "Enum",
    "Exclusion",
    "ExclusionElement",
    "Exclude",
    "Extension",
    "ForeignKey",
    "Function",
    "Index",
    "IndexItem",
    "PrimaryKey",
    "Schema",
    "Table",
    "Trigger",
    "Unique",
]


@dataclass(frozen=True)
class Exclude:
    """Objects that exist in databases but are not managed here."""

    tables: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()  # a bare name matches every overload


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    functions: tuple[Function, ...] = ()
    enums: tuple[Enum, ...] = ()
    extensions: tuple[Extension, ...] = ()
    exclude: Exclude = field(default_factory=Exclude)
    source_sha256: str = ""
    # Kinds without a field of their own: (key, objects) in registry order.
    others: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def objects(self, key: str) -> tuple[Any, ...]:
        """The objects of the kind with this YAML key."""
        if key in _fields():
            found: tuple[Any, ...] = getattr(self, key)
            return found
        return next((objs for k, objs in self.others if k == key), ())

    def table(self, name: str) -> Table | None:
        return self._tables_by_name.get(name)

    @cached_property
    def _tables_by_name(self) -> dict[str, Table]:
        """Each table by name, built on first use: checks look up every foreign key's
        target, and a scan per lookup was quadratic in the table count."""
        return {t.name: t for t in reversed(self.tables)}  # the first declared wins

    def function(self, name: str) -> Function | None:
        """The function of that name (of overloads, the first declared)."""
        return next((f for f in self.functions if f.name == name), None)

    def content_sha256(self) -> str:
        """Hash of the model itself (independent of YAML formatting and comments)."""
        data = asdict(self)
        data.pop("source_sha256")
        if not data["others"]:
            data.pop("others")  # the same hash as before kinds without a field existed
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _fields() -> set[str]:
    """The kinds with a field of their own."""
    return {f.name for f in fields(Schema)} - {"exclude", "source_sha256", "others"}
