"""Consent for hazardous statements: which hazard types block `revision` and `apply`.

Blocked by default: DELETES_DATA and ENUM_REBUILD (an enum that loses a value). The set
can be changed in pyproject.toml:

    [tool.bindu-schema]
    blocked_hazards = ["DELETES_DATA", "TABLE_REWRITE"]

and each run can let some through with `--allow-hazards DELETES_DATA[,OTHER]`.
A refusal is exit status 3 with the refused statements listed; nothing is written or applied.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import hazards
from .errors import EXIT_REFUSED, BinduSchemaError

DEFAULT_BLOCKED = frozenset({hazards.DELETES_DATA, hazards.ENUM_REBUILD})


class RefusedError(BinduSchemaError):
    exit_code = EXIT_REFUSED


def _names(values: Iterable[str], where: str) -> frozenset[str]:
    out: set[str] = set()
    for value in values:
        for name in (n.strip().upper() for n in value.split(",")):
            if not name:
                continue
            if name not in hazards.EXPLANATIONS:
                raise BinduSchemaError(
                    f"{where}: unknown hazard type '{name}'; known: {', '.join(hazards.ALL)}"
                )
            out.add(name)
    return frozenset(out)


def parse_allowed(values: Sequence[str]) -> frozenset[str]:
    return _names(values, "--allow-hazards")


def blocked(project_root: Path | None = None) -> frozenset[str]:
    """The blocked hazard types: [tool.bindu-schema] blocked_hazards, else DEFAULT_BLOCKED."""
    path = (project_root or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return DEFAULT_BLOCKED
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BinduSchemaError(f"{path}: cannot read the hazard policy: {exc}") from None
    section = data.get("tool", {}).get("bindu-schema", {})
    if "blocked_hazards" not in section:
        return DEFAULT_BLOCKED
    value = section["blocked_hazards"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BinduSchemaError(f"{path}: [tool.bindu-schema] blocked_hazards must be a list")
    return _names(value, f"{path} [tool.bindu-schema] blocked_hazards")


def refused(
    hazard_lists: Sequence[Sequence[str]], allowed: frozenset[str], block: frozenset[str]
) -> list[int]:
    """Indexes of the entries carrying a blocked hazard that was not allowed."""
    return [i for i, hs in enumerate(hazard_lists) if set(hs) & (block - allowed)]


def refusal_message(
    what: str,
    items: Sequence[tuple[str, Sequence[str]]],
    allowed: frozenset[str],
    block: frozenset[str],
) -> str:
    needed = sorted({h for _, hs in items for h in hs} & (block - allowed))
    lines = [
        f"refused: {what} has {len(items)} statement(s) with blocked hazards "
        f"({', '.join(needed)}); nothing was written or applied."
    ]
    for sql, hs in items:
        lines.append(f"  -- {', '.join(h for h in hs)}")
        lines.extend(f"  {line}" for line in sql.strip().splitlines())
    lines.append(
        f"Review them, then rerun with --allow-hazards {','.join(needed)} to accept; "
        "for a rename use renamed_from in the YAML instead of drop + add."
    )
    return "\n".join(lines)
