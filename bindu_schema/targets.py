"""The targets file of `apply --all-tenants --targets FILE`: the databases of a fleet.

```yaml
targets:
  - name: eu-1                  # a label for the report (default: the database, no password)
    url_env: EU1_DATABASE_URL   # the URL is read from this environment variable ...
    patterns: ['did\\_%']       # LIKE patterns of its tenant schemas (default did\\_%, schema\\_%)
    jobs: 4                     # its concurrency limit (default: --jobs)
  - name: us-1
    url: postgresql://bindu@us-1.internal/bindu   # ... or written here, without a password
    schemas: [did_a, did_b]     # exactly these tenants (instead of patterns)
```

A password is never accepted in the file (use url_env, a .pgpass file or a service). Every
problem is reported as file:line:column with what to do; nothing runs until the whole
file is valid.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import limits, settings, tenancy, tenants
from .errors import BinduSchemaError
from .fleet import Target

MAX_TARGETS = 1_000
MAX_PATTERNS = 100
MAX_SCHEMAS = 100_000
KEYS = ("name", "url", "url_env", "patterns", "schemas", "jobs")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class Problem:
    line: int
    column: int
    message: str


class TargetsError(BinduSchemaError):
    def __init__(self, path: Path, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: (p.line, p.column))
        super().__init__("\n".join(f"{path}:{p.line}:{p.column}: {p.message}" for p in problems))


def _at(node: yaml.Node, message: str) -> Problem:
    return Problem(node.start_mark.line + 1, node.start_mark.column + 1, message)


def _scalar(node: yaml.Node) -> Any:
    return yaml.SafeLoader("").construct_object(node) if isinstance(node, yaml.ScalarNode) else None


def _strings(node: yaml.Node, what: str, most: int, out: list[Problem]) -> list[str]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        out.append(_at(node, f"{what} must be a non-empty list of names"))
        return []
    if len(node.value) > most:
        out.append(_at(node, f"{what}: at most {most} entries"))
        return []
    values = []
    for item in node.value:
        v = _scalar(item)
        if not isinstance(v, str) or not v:
            out.append(_at(item, f"{what}: each entry must be a non-empty string"))
        else:
            values.append(v)
    return values


def _target(
    node: yaml.MappingNode, n: int, jobs: int, path: Path, out: list[Problem]
) -> Target | None:
    before = len(out)
    fields: dict[str, yaml.Node] = {}
    for key_node, value in node.value:
        key = _scalar(key_node)
        if key not in KEYS:
            out.append(_at(key_node, f"unknown key {key!r}; expected one of: {', '.join(KEYS)}"))
        elif key in fields:
            out.append(_at(key_node, f"duplicate key {key!r}"))
        else:
            fields[key] = value
    if ("url" in fields) == ("url_env" in fields):
        out.append(_at(node, "give the database as exactly one of url: or url_env:"))
    url: settings.DatabaseURL | None = None
    if "url_env" in fields:
        var = _scalar(fields["url_env"])
        if not isinstance(var, str) or not _ENV_NAME.match(var):
            out.append(_at(fields["url_env"], "url_env must be an environment variable's name"))
        elif not os.environ.get(var):
            out.append(_at(fields["url_env"], f"the environment variable {var} is not set"))
        else:
            try:
                url = settings.normalize(os.environ[var], f"{path} target {n} ({var})")
            except BinduSchemaError as exc:
                out.append(_at(fields["url_env"], settings.scrub(str(exc))))
    if "url" in fields:
        raw = _scalar(fields["url"])
        if not isinstance(raw, str) or not raw:
            out.append(_at(fields["url"], "url must be a database URL"))
        else:
            try:
                url = settings.normalize(raw, f"{path} target {n}")
            except BinduSchemaError as exc:
                out.append(_at(fields["url"], settings.scrub(str(exc))))
            if url is not None and url.url.password:
                url = None
                out.append(
                    _at(
                        fields["url"],
                        "a password in the targets file; put the URL in an environment "
                        "variable and write url_env: NAME (or use a .pgpass file)",
                    )
                )
    patterns: tuple[str, ...] = tenants.DEFAULT_PATTERNS
    schemas: tuple[str, ...] = ()
    if "patterns" in fields and "schemas" in fields:
        out.append(_at(fields["schemas"], "give patterns: or schemas:, not both"))
    if "patterns" in fields:
        patterns = tuple(_strings(fields["patterns"], "patterns", MAX_PATTERNS, out))
    if "schemas" in fields:
        schemas = tuple(_strings(fields["schemas"], "schemas", MAX_SCHEMAS, out))
        for item, name in zip(fields["schemas"].value, schemas, strict=False):
            if not tenancy.valid_schema_name(name) or not tenants.is_tenant_name(name):
                out.append(
                    _at(item, f"{name!r} is not a tenant schema name (lower-case [a-z0-9_])")
                )
    if "jobs" in fields:
        value = _scalar(fields["jobs"])
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
            out.append(_at(fields["jobs"], "jobs must be a whole number from 1 to 64"))
        else:
            jobs = value
    name = ""
    if "name" in fields:
        value = _scalar(fields["name"])
        if not isinstance(value, str) or not value or len(value) > 200:
            out.append(_at(fields["name"], "name must be a short non-empty string"))
        else:
            name = value
    if len(out) > before or url is None:
        return None
    where = f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
    return Target(name or url.safe, url, patterns, schemas, jobs, where)


def load(path: str | Path, jobs: int = 4) -> list[Target]:
    """The targets of the file; TargetsError (file:line:col of each problem) otherwise."""
    path = Path(path)
    try:
        text = limits.read_bounded(path)
    except OSError as exc:
        raise BinduSchemaError(f"{path}: cannot read the targets file: {exc.strerror}") from None
    except limits.LimitError as exc:
        raise TargetsError(path, [Problem(exc.line, exc.column, exc.message)]) from None
    try:
        root = yaml.compose(text.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise TargetsError(path, [Problem(1, 1, "not UTF-8 text")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise TargetsError(path, [Problem(line, col, f"not valid YAML: {exc.problem}")]) from None
    problems: list[Problem] = []
    entries: yaml.Node | None = None
    if not isinstance(root, yaml.MappingNode):
        raise TargetsError(path, [Problem(1, 1, "expected a mapping with a targets: list")])
    for key_node, value in root.value:
        if _scalar(key_node) == "targets" and entries is None:
            entries = value
        else:
            problems.append(_at(key_node, f"unknown key {_scalar(key_node)!r}; expected targets:"))
    if not isinstance(entries, yaml.SequenceNode) or not entries.value:
        problems.append(_at(entries or root, "targets: must be a non-empty list of databases"))
        raise TargetsError(path, problems)
    if len(entries.value) > MAX_TARGETS:
        raise TargetsError(path, [_at(entries, f"at most {MAX_TARGETS} targets")])
    found: list[Target] = []
    seen: dict[tuple[object, ...], str] = {}
    for n, node in enumerate(entries.value, 1):
        if not isinstance(node, yaml.MappingNode):
            problems.append(_at(node, "each target must be a mapping (url: or url_env:, ...)"))
            continue
        t = _target(node, n, jobs, path, problems)
        if t is None:
            continue
        identity = (*t.url.server_key(), t.url.database)
        if identity in seen:
            problems.append(_at(node, f"the same database as the target at {seen[identity]}"))
            continue
        seen[identity] = t.where.removeprefix(f"{path}:")
        if any(t.name == other.name for other in found):
            problems.append(_at(node, f"two targets named {t.name!r}; give each its own name"))
        found.append(t)
    if problems:
        raise TargetsError(path, problems)
    return found
