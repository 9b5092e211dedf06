"""`renamed_from` hints -> ALTER ... RENAME statements (and their reverse).

Each kind writes its own RENAME statement (kinds/); this module checks the hint against
the database and parses what the kind wrote.

migra sees a rename as drop + add, which loses data. A hint applies when the old name
exists in the current database and the new one does not; when the new name already
exists the hint has done its job and is ignored; when neither exists it is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import model, statements
from .catalog import Facts
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


def hint(
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
    """Renames to run before the diff, in dependency order (each kind in registry order;
    a table before its parts)."""
    from . import kinds

    ts = target_schema or "public"
    return [r for kind in kinds.KINDS for r in kind.renames(schema, facts, where, ts)]
