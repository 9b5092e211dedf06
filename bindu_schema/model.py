"""The desired schema as frozen dataclasses. Nothing but data lives here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    serial: bool = False
    identity: str | None = None  # "always" | "by default"
    comment: str | None = None
    renamed_from: str | None = None


@dataclass(frozen=True)
class PrimaryKey:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False
    renamed_from: str | None = None


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]
    renamed_from: str | None = None


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    renamed_from: str | None = None


@dataclass(frozen=True)
class IndexItem:
    """One key of an index: a column name or an SQL expression."""

    column: str | None = None
    expression: str | None = None
    order: str | None = None  # "asc" | "desc"
    nulls: str | None = None  # "first" | "last"
    opclass: str | None = None


@dataclass(frozen=True)
class Index:
    name: str
    items: tuple[IndexItem, ...]
    method: str = "btree"
    unique: bool = False
    where: str | None = None
    include: tuple[str, ...] = ()
    comment: str | None = None
    renamed_from: str | None = None


@dataclass(frozen=True)
class Trigger:
    name: str
    timing: str  # "before" | "after" | "instead of"
    events: tuple[str, ...]
    function: str
    for_each: str = "row"
    when: str | None = None
    renamed_from: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    comment: str | None = None
    primary_key: PrimaryKey | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    checks: tuple[Check, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    renamed_from: str | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Argument:
    name: str | None
    type: str
    default: str | None = None


@dataclass(frozen=True)
class Function:
    name: str
    arguments: tuple[Argument, ...]
    returns: str
    language: str
    body: str
    volatility: str | None = None  # "volatile" | "stable" | "immutable"
    security_definer: bool = False

    @property
    def identity(self) -> str:
        """name(type, type): how PostgreSQL identifies the function."""
        return f"{self.name}({', '.join(a.type for a in self.arguments)})"


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Extension:
    name: str
    schema: str | None = None


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

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def function(self, name: str) -> Function | None:
        return next((f for f in self.functions if f.name == name), None)

    def content_sha256(self) -> str:
        """Hash of the model itself (independent of YAML formatting and comments)."""
        data = asdict(self)
        data.pop("source_sha256")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
