"""The shared types of a plan: a Statement (a parsed record with its hazards and lint
findings) and a Plan. A leaf module: the planner builds these, the renderers, the
revision writer and the resumable split read them, and none of them imports another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import statements
from .statements import Record

if TYPE_CHECKING:
    from .lint import Finding


@dataclass(frozen=True)
class Statement:
    """One planned statement as data (pg-schema-diff's shape): the parsed record, the
    hazards of running it where it runs, squawk's findings."""

    record: Record
    hazards: tuple[str, ...] = ()
    lint: tuple[Finding, ...] = ()

    @property
    def sql(self) -> str:
        return self.record.sql

    @property
    def transactional(self) -> bool:
        """False for CONCURRENTLY and VALIDATE: run outside the revision's transaction."""
        return self.record.transactional

    @classmethod
    def of(cls, sql: str, hazards: tuple[str, ...] = ()) -> Statement:
        """A statement from SQL text (parsed; StatementError unless exactly one)."""
        return cls(statements.parse(sql), hazards)


@dataclass(frozen=True)
class Plan:
    statements: tuple[Statement, ...]
    source_sha256: str
    target: str  # redacted URL
    downgrade: tuple[Statement, ...] = field(default=())
    # Differences the YAML cannot declare (fidelity.py): a human resolves them; plan exits 2.
    drift: tuple[str, ...] = field(default=())
    # Differences that are not drift (column order): shown, never an exit code.
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.statements

    @property
    def clean(self) -> bool:
        """Nothing to run and nothing for a human to resolve."""
        return not self.statements and not self.drift

    def sql(self) -> str:
        return "".join(s.sql.rstrip() + "\n\n" for s in self.statements)
