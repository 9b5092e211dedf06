"""A table's own options: `unlogged: true`, storage parameters (`options: {fillfactor: 70,
autovacuum_enabled: false, ...}`) and `replica_identity: default|full|nothing|{index: name}`.

UNLOGGED and WITH (...) are in SQLAlchemy's CREATE TABLE; REPLICA IDENTITY is an ALTER
TABLE after the table's indexes and keys (phase LINKS). migra diffs UNLOGGED (SET LOGGED /
UNLOGGED, a rewrite: TABLE_REWRITE here); storage parameters and replica identity it never
compares: fidelity.py reads them and writes ALTER TABLE SET (...) / RESET (...) and
REPLICA IDENTITY.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..catalog import Facts
    from ..compile import DDL
    from ..statements import Record
    from .tables import Table

# The storage parameters of a table (PostgreSQL 15..18), each with its JSON Schema. toast.*
# parameters and those of one server version only are left out.
_INT = "integer"
_NUM = "number"
_BOOL = "boolean"
PARAMETERS: dict[str, dict[str, Any]] = {
    "fillfactor": {"type": _INT, "minimum": 10, "maximum": 100},
    "toast_tuple_target": {"type": _INT, "minimum": 128, "maximum": 8160},
    "parallel_workers": {"type": _INT, "minimum": 0, "maximum": 1024},
    "autovacuum_enabled": {"type": _BOOL},
    "vacuum_index_cleanup": {"enum": ["auto", "on", "off"]},
    "vacuum_truncate": {"type": _BOOL},
    "autovacuum_vacuum_threshold": {"type": _INT, "minimum": 0, "maximum": 2147483647},
    "autovacuum_vacuum_scale_factor": {"type": _NUM, "minimum": 0, "maximum": 100},
    "autovacuum_vacuum_insert_threshold": {"type": _INT, "minimum": -1, "maximum": 2147483647},
    "autovacuum_vacuum_insert_scale_factor": {"type": _NUM, "minimum": 0, "maximum": 100},
    "autovacuum_analyze_threshold": {"type": _INT, "minimum": 0, "maximum": 2147483647},
    "autovacuum_analyze_scale_factor": {"type": _NUM, "minimum": 0, "maximum": 100},
    "autovacuum_vacuum_cost_delay": {"type": _NUM, "minimum": 0, "maximum": 100},
    "autovacuum_vacuum_cost_limit": {"type": _INT, "minimum": 1, "maximum": 10000},
    "autovacuum_freeze_min_age": {"type": _INT, "minimum": 0, "maximum": 1000000000},
    "autovacuum_freeze_max_age": {"type": _INT, "minimum": 100000, "maximum": 2000000000},
    "autovacuum_freeze_table_age": {"type": _INT, "minimum": 0, "maximum": 2000000000},
    "autovacuum_multixact_freeze_min_age": {"type": _INT, "minimum": 0, "maximum": 1000000000},
    "autovacuum_multixact_freeze_max_age": {
        "type": _INT,
        "minimum": 10000,
        "maximum": 2000000000,
    },
    "autovacuum_multixact_freeze_table_age": {
        "type": _INT,
        "minimum": 0,
        "maximum": 2000000000,
    },
    "log_autovacuum_min_duration": {"type": _INT, "minimum": -1, "maximum": 2147483647},
    "user_catalog_table": {"type": _BOOL},
}
REPLICA_IDENTITIES = ("default", "full", "nothing")


@dataclass(frozen=True)
class ReplicaIdentity:
    kind: str  # default | full | nothing | index
    index: str | None = None


def option_text(value: Any) -> str:
    """A parameter's value as written into WITH (...) and read back from pg_class: the
    one spelling per value, so the YAML and the catalog compare equal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _option_value(name: str, text: str) -> Any:
    """The YAML value of a parameter read from pg_class.reloptions."""
    typ = PARAMETERS[name].get("type")
    if typ == _BOOL:
        return text.lower() in ("true", "on", "yes", "1")
    if typ == _INT:
        return int(text)
    if typ == _NUM:
        f = float(text)
        return int(f) if f.is_integer() else f
    return text


_TABLE_OPTIONS = """
SELECT c.oid, c.relpersistence, c.reloptions, c.relreplident,
       (SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = c.oid AND x.indisreplident)
FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p')
"""


def _persistence_change(sql: str) -> bool:
    """Whether an ALTER TABLE sets a table LOGGED or UNLOGGED (a rewrite of the table)."""
    from pglast import ast, parse_sql
    from pglast.enums import AlterTableType

    words = {AlterTableType.AT_SetLogged, AlterTableType.AT_SetUnLogged}
    stmt = parse_sql(sql)[0].stmt
    return isinstance(stmt, ast.AlterTableStmt) and any(
        isinstance(c, ast.AlterTableCmd) and c.subtype in words for c in stmt.cmds or ()
    )


class TableOptions(base.TablePart):
    rename_rank = 5

    def fragments(self) -> dict[str, dict[str, Any]]:
        return {
            "unlogged": {
                "type": "boolean",
                "description": "UNLOGGED: not written to the WAL (emptied after a crash, "
                "not replicated)",
            },
            "options": {
                "type": "object",
                "description": "storage parameters (WITH (...)): fillfactor, autovacuum_*, ...",
                "properties": {k: dict(v) for k, v in PARAMETERS.items()},
                "additionalProperties": False,
                "minProperties": 1,
            },
            "replica_identity": {
                "description": "what logical replication writes of an old row: default (the "
                "primary key), full, nothing, or {index: name} (a unique index or key)",
                "oneOf": [
                    {"enum": list(REPLICA_IDENTITIES)},
                    base.entry({"index": dict(base.NAME)}, ["index"]),
                ],
            },
        }

    def build(self, section: dict[str, Any]) -> dict[str, Any]:
        ri = section.get("replica_identity")
        return {
            "unlogged": bool(section.get("unlogged", False)),
            "options": tuple(
                (k, option_text(v)) for k, v in sorted((section.get("options") or {}).items())
            ),
            "replica_identity": (
                None
                if ri is None
                else ReplicaIdentity("index", str(ri["index"]))
                if isinstance(ri, dict)
                else ReplicaIdentity(str(ri))
            ),
        }

    def check(self, ctx: base.CheckContext, t: Table, tp: base.PathKey) -> None:
        ri = t.replica_identity
        if ri is None or ri.index is None:
            return
        keys = [ix.name for ix in t.indexes if ix.unique and ix.where is None]
        keys += [u.name for u in t.uniques]
        if t.primary_key is not None:
            keys.append(t.primary_key.name or f"{t.name}_pkey")
        if ri.index not in keys:
            hint = ctx.did_you_mean(ri.index, keys) or (
                f"its unique indexes and keys: {', '.join(keys)}" if keys else "it has none"
            )
            ctx.err(
                (*tp, "replica_identity", "index"),
                f"table '{t.name}': replica identity index '{ri.index}' is not a unique "
                f"index (without WHERE) or key of the table; {hint}",
            )

    def sa_kwargs(self, t: Table) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if t.unlogged:
            out["prefixes"] = ["UNLOGGED"]
        if t.options:
            # names from PARAMETERS only, values in option_text's spelling (the loader's
            # JSON Schema allows nothing else): SQLAlchemy writes them as given
            out["postgresql_with"] = dict(t.options)
        return out

    def ddl(self, t: Table, table: sa.Table, target_schema: str | None) -> list[tuple[int, DDL]]:
        from ..compile import DDL, qualified, quote

        ri = t.replica_identity
        if ri is None or ri.kind == "default":
            return []
        what = "USING INDEX " + quote(ri.index) if ri.index is not None else ri.kind.upper()
        sql = f"ALTER TABLE {qualified(t.name, target_schema)} REPLICA IDENTITY {what}"
        return [(base.LINKS, DDL(sql, f"replica identity of table {t.name}"))]

    def hazards(self, rec: Record, facts: Facts) -> set[str]:
        from ..hazards import TABLE_REWRITE

        if rec.kind == "AlterTableStmt" and rec.table in facts.tables:
            if _persistence_change(rec.sql):
                return {TABLE_REWRITE}
        return set()

    def inspect(self, state: base.InspectState, tables: dict[int, dict[str, Any]]) -> None:
        for relid, persistence, reloptions, replident, index in state.rows(_TABLE_OPTIONS):
            if relid not in tables:
                continue
            t = tables[relid]
            if persistence == "u":
                t["unlogged"] = True
            options: dict[str, Any] = {}
            for item in reloptions or ():
                name, _, value = str(item).partition("=")
                if name in PARAMETERS:
                    options[name] = _option_value(name, value)
                else:
                    state.warn(
                        f"table {t['__name__']}: storage parameter {name} is not in the "
                        "format; left out"
                    )
            if options:
                t["options"] = options
            if replident == "f":
                t["replica_identity"] = "full"
            elif replident == "n":
                t["replica_identity"] = "nothing"
            elif replident == "i" and index is not None:
                t["replica_identity"] = {"index": index}


PART = TableOptions()
