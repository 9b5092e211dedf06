"""`renamed_from` hints -> ALTER ... RENAME statements (and their reverse).

migra sees a rename as drop + add, which loses data. A hint applies when the old name
exists in the current database and the new one does not; when the new name already
exists the hint has done its job and is ignored; when neither exists it is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from . import model, statements
from .catalog import Facts
from .compile import qualified, quote
from .errors import BinduSchemaError
from .statements import Record


@dataclass(frozen=True)
class Rename:
    up: Record
    down: Record
    obj: str


class RenameError(BinduSchemaError):
    pass


def _miss(obj: str, old: str, where: str) -> RenameError:
    return RenameError(
        f"{obj}: renamed_from '{old}' matches nothing in {where} (neither '{old}' nor the new "
        "name exists there); fix the old name or remove the hint"
    )


def _parsed(sql: str, new: str, obj: str) -> Record:
    """The rename, parsed: exactly one RENAME to exactly the declared name."""
    try:
        rec = statements.parse(sql, "RenameStmt")
    except statements.StatementError as exc:
        raise RenameError(f"{obj}: the rename is not one statement ({exc})") from None
    if rec.new_name != new:
        raise RenameError(f"{obj}: the rename would name it {rec.new_name!r}, not {new!r}")
    return rec


def _hint(
    kind: str,
    name: str,
    old: str,
    new: str,
    exists: Callable[[str], bool],
    statement: Callable[[str, str], str],
    where: str,
) -> Rename | None:
    """One renamed_from hint: a Rename when old exists and new does not; None when new
    exists already (applied); an error when neither exists."""
    if exists(old) and not exists(new):
        obj = f"{kind} {name}"
        return Rename(
            _parsed(statement(old, new), new, obj), _parsed(statement(new, old), old, obj), obj
        )
    if not exists(new):
        raise _miss(f"{kind} '{name}'", old, where)
    return None


def plan_renames(
    schema: model.Schema, facts: Facts, where: str, target_schema: str | None = None
) -> list[Rename]:
    """Renames to run before the diff, in dependency order (tables before their parts)."""
    out: list[Rename] = []
    ts = target_schema or "public"
    for t in schema.tables:
        table_rename = None
        if t.renamed_from:
            table_rename = _hint(
                "table",
                t.name,
                t.renamed_from,
                t.name,
                facts.tables.__contains__,
                lambda a, b: f"ALTER TABLE {qualified(a, ts)} RENAME TO {quote(b)};",
                where,
            )
        if table_rename is not None:
            out.append(table_rename)
        elif t.name not in facts.tables:
            continue  # a new table: hints on its parts have nothing to rename
        src = t.renamed_from if table_rename is not None else t.name
        out += _part_renames(t, src or t.name, ts, facts, where)
    return out


def _part_renames(t: model.Table, src: str, ts: str, facts: Facts, where: str) -> list[Rename]:
    """Hints on the columns, indexes, constraints and triggers of table t, which is named
    `src` in the current database."""
    qt = qualified(t.name, ts)

    def on_table(names: Collection[tuple[str, str]]) -> Callable[[str], bool]:
        return lambda n: (src, n) in names

    found = [
        *(
            _hint(
                "column",
                f"{t.name}.{c.name}",
                c.renamed_from,
                c.name,
                on_table(facts.columns),
                lambda a, b: f"ALTER TABLE {qt} RENAME COLUMN {quote(a)} TO {quote(b)};",
                where,
            )
            for c in t.columns
            if c.renamed_from
        ),
        *(
            _hint(
                "index",
                ix.name,
                ix.renamed_from,
                ix.name,
                facts.indexes.__contains__,
                lambda a, b: f"ALTER INDEX {qualified(a, ts)} RENAME TO {quote(b)};",
                where,
            )
            for ix in t.indexes
            if ix.renamed_from
        ),
        *(
            _hint(
                "constraint",
                f"{t.name}.{name}",
                old,
                name,
                on_table(facts.constraints),
                lambda a, b: f"ALTER TABLE {qt} RENAME CONSTRAINT {quote(a)} TO {quote(b)};",
                where,
            )
            for name, old in (
                *((fk.name, fk.renamed_from) for fk in t.foreign_keys),
                *((u.name, u.renamed_from) for u in t.uniques),
                *((ch.name, ch.renamed_from) for ch in t.checks),
            )
            if old
        ),
        *(
            _hint(
                "trigger",
                f"{t.name}.{tr.name}",
                tr.renamed_from,
                tr.name,
                on_table(facts.triggers),
                lambda a, b: f"ALTER TRIGGER {quote(a)} ON {qt} RENAME TO {quote(b)};",
                where,
            )
            for tr in t.triggers
            if tr.renamed_from
        ),
    ]
    return [r for r in found if r is not None]
