"""`renamed_from` hints -> ALTER ... RENAME statements (and their reverse).

migra sees a rename as drop + add, which loses data. A hint applies when the old name
exists in the current database and the new one does not; when the new name already
exists the hint has done its job and is ignored; when neither exists it is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import model
from .catalog import Facts
from .compile import qualified, quote
from .errors import BinduSchemaError


@dataclass(frozen=True)
class Rename:
    up: str
    down: str
    obj: str


class RenameError(BinduSchemaError):
    pass


def _miss(obj: str, old: str, where: str) -> RenameError:
    return RenameError(
        f"{obj}: renamed_from '{old}' matches nothing in {where} (neither '{old}' nor the new "
        "name exists there); fix the old name or remove the hint"
    )


def plan_renames(
    schema: model.Schema, facts: Facts, where: str, target_schema: str | None = None
) -> list[Rename]:
    """Renames to run before the diff, in dependency order (tables before their parts)."""
    out: list[Rename] = []
    ts = target_schema or "public"
    for t in schema.tables:
        if t.renamed_from:
            if t.renamed_from in facts.tables and t.name not in facts.tables:
                out.append(
                    Rename(
                        f"ALTER TABLE {qualified(t.renamed_from, ts)} RENAME TO {quote(t.name)};",
                        f"ALTER TABLE {qualified(t.name, ts)} RENAME TO {quote(t.renamed_from)};",
                        f"table {t.name}",
                    )
                )
            elif t.name not in facts.tables:
                raise _miss(f"table '{t.name}'", t.renamed_from, where)
        if t.name not in facts.tables and not (t.renamed_from and t.renamed_from in facts.tables):
            # A new table: hints on its parts have nothing to rename.
            continue
        src = (
            t.renamed_from
            if (t.renamed_from and t.renamed_from in facts.tables and t.name not in facts.tables)
            else t.name
        )
        qt = qualified(t.name, ts)
        for c in t.columns:
            if not c.renamed_from:
                continue
            old_c, new_c = quote(c.renamed_from), quote(c.name)
            if (src, c.renamed_from) in facts.columns and (src, c.name) not in facts.columns:
                out.append(
                    Rename(
                        f"ALTER TABLE {qt} RENAME COLUMN {old_c} TO {new_c};",
                        f"ALTER TABLE {qt} RENAME COLUMN {new_c} TO {old_c};",
                        f"column {t.name}.{c.name}",
                    )
                )
            elif (src, c.name) not in facts.columns:
                raise _miss(f"column '{t.name}.{c.name}'", c.renamed_from, where)
        for ix in t.indexes:
            if not ix.renamed_from:
                continue
            if ix.renamed_from in facts.indexes and ix.name not in facts.indexes:
                out.append(
                    Rename(
                        f"ALTER INDEX {qualified(ix.renamed_from, ts)} RENAME TO {quote(ix.name)};",
                        f"ALTER INDEX {qualified(ix.name, ts)} RENAME TO {quote(ix.renamed_from)};",
                        f"index {ix.name}",
                    )
                )
            elif ix.name not in facts.indexes:
                raise _miss(f"index '{ix.name}'", ix.renamed_from, where)
        named: list[tuple[str, str | None]] = [
            *((fk.name, fk.renamed_from) for fk in t.foreign_keys),
            *((u.name, u.renamed_from) for u in t.uniques),
            *((ch.name, ch.renamed_from) for ch in t.checks),
        ]
        for name, old in named:
            if not old:
                continue
            if (src, old) in facts.constraints and (src, name) not in facts.constraints:
                out.append(
                    Rename(
                        f"ALTER TABLE {qt} RENAME CONSTRAINT {quote(old)} TO {quote(name)};",
                        f"ALTER TABLE {qt} RENAME CONSTRAINT {quote(name)} TO {quote(old)};",
                        f"constraint {t.name}.{name}",
                    )
                )
            elif (src, name) not in facts.constraints:
                raise _miss(f"constraint '{t.name}.{name}'", old, where)
        for tr in t.triggers:
            if not tr.renamed_from:
                continue
            old_t, new_t = quote(tr.renamed_from), quote(tr.name)
            if (src, tr.renamed_from) in facts.triggers and (src, tr.name) not in facts.triggers:
                out.append(
                    Rename(
                        f"ALTER TRIGGER {old_t} ON {qt} RENAME TO {new_t};",
                        f"ALTER TRIGGER {new_t} ON {qt} RENAME TO {old_t};",
                        f"trigger {t.name}.{tr.name}",
                    )
                )
            elif (src, tr.name) not in facts.triggers:
                raise _miss(f"trigger '{t.name}.{tr.name}'", tr.renamed_from, where)
    return out
