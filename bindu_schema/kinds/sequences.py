"""Standalone sequences: `sequences: {name: {type, start, increment, min, max, cache,
cycle, owned_by, comment}}`.

The sequences of serial and identity columns are the columns' (kinds/columns.py); these are
the others: a ticket counter, a sequence several tables draw from. Created through
SQLAlchemy's CreateSequence before the tables (a default `nextval('name')` resolves the
name when the table is created), `OWNED BY` once the tables exist. migra creates and drops
sequences but compares them by name only; their options are compared at catalog fidelity
(fidelity.py: ALTER SEQUENCE with the SEQUENCE_CHANGE hazard), so nothing more is needed
here for changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .. import model
    from ..compile import DDL

KEY = "sequences"
TYPES = ("smallint", "integer", "bigint")
_LIMITS = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


@dataclass(frozen=True)
class Sequence:
    name: str
    type: str = "bigint"
    start: int | None = None
    increment: int | None = None
    min: int | None = None
    max: int | None = None
    cache: int | None = None
    cycle: bool = False
    owned_by: str | None = None  # "table.column"
    comment: str | None = None


def sequences(schema: model.Schema) -> tuple[Sequence, ...]:
    return schema.objects(KEY)


# Sequences that are no column's own: not an identity's, and not a serial column's (owned
# by a column whose default calls nextval() of it).
_SEQUENCES = """
SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin,
       q.seqmax, q.seqcache, q.seqcycle, t.relname, a.attname,
       obj_description(s.oid, 'pg_class')
FROM pg_sequence q
JOIN pg_class s ON s.oid = q.seqrelid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.relnamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_class'::regclass
                  AND i.objid = s.oid AND i.deptype IN ('i', 'e'))
  AND NOT EXISTS (SELECT 1 FROM pg_attrdef ad
                  WHERE ad.adrelid = d.refobjid AND ad.adnum = d.refobjsubid
                    AND pg_get_expr(ad.adbin, ad.adrelid) LIKE 'nextval(%%'
                    AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype))
ORDER BY s.relname
"""

_SEQUENCE_COMMENTS = """
SELECT c.relname, NULL::text, d.description
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass
     AND d.objsubid = 0
WHERE n.nspname = :schema AND c.relkind = 'S'"""

_INT = {"type": "integer"}


class Sequences(base.Kind):
    key = KEY
    word = "sequence"
    relkinds = ("S",)
    comments = (base.CommentSource("sequence", 2, _SEQUENCE_COMMENTS),)

    def fragment(self) -> dict[str, Any]:
        return base.named_map(
            {
                "type": {"enum": list(TYPES)},
                "start": dict(_INT),
                "increment": {"type": "integer", "not": {"const": 0}},
                "min": dict(_INT),
                "max": dict(_INT),
                "cache": {"type": "integer", "minimum": 1},
                "cycle": {"type": "boolean"},
                "owned_by": {"type": "string", "pattern": "^[^.]+\\.[^.]+$"},
                "comment": {"type": "string"},
            }
        )

    def build(self, section: Any) -> tuple[Sequence, ...]:
        return tuple(
            Sequence(
                name=name,
                type=s.get("type", "bigint"),
                start=s.get("start"),
                increment=s.get("increment"),
                min=s.get("min"),
                max=s.get("max"),
                cache=s.get("cache"),
                cycle=s.get("cycle", False),
                owned_by=s.get("owned_by"),
                comment=s.get("comment"),
            )
            for name, s in (section or {}).items()
        )

    def check(self, ctx: base.CheckContext) -> None:
        for s in sequences(ctx.schema):
            path: base.PathKey = (KEY, s.name)
            ctx.check_ident(path, s.name, "sequence")
            ctx.claim(s.name, path, "sequence")
            limit = _LIMITS[s.type]
            for attr in ("start", "min", "max"):
                value = getattr(s, attr)
                if value is not None and not -limit - 1 <= value <= limit:
                    ctx.err(
                        (*path, attr),
                        f"sequence '{s.name}': {attr} {value} does not fit in {s.type}; "
                        "use a bigger type or a smaller value",
                    )
            low, high = s.min, s.max
            if low is not None and high is not None and low >= high:
                ctx.err(
                    (*path, "min"), f"sequence '{s.name}': min must be below max; fix one of them"
                )
            if s.start is not None and (
                (low is not None and s.start < low) or (high is not None and s.start > high)
            ):
                ctx.err(
                    (*path, "start"), f"sequence '{s.name}': start must be within min..max; fix it"
                )
            if s.owned_by is not None:
                table, _, column = s.owned_by.partition(".")
                t = ctx.schema.table(table)
                if t is None or t.column(column) is None:
                    ctx.err(
                        (*path, "owned_by"),
                        f"sequence '{s.name}': owned_by '{s.owned_by}' is not a declared "
                        "table.column; fix it or remove it",
                    )

    def ddl(
        self, schema: model.Schema, target_schema: str | None, md: sa.MetaData
    ) -> list[tuple[int, DDL]]:
        import sqlalchemy as sa
        from sqlalchemy.schema import CreateSequence

        from ..compile import DDL, DIALECT, clean, qualified
        from ..literals import quote_literal

        types = {"smallint": sa.SmallInteger(), "integer": sa.Integer(), "bigint": sa.BigInteger()}
        out: list[tuple[int, DDL]] = []
        for s in sequences(schema):
            seq = sa.Sequence(
                s.name,
                start=s.start,
                increment=s.increment,
                minvalue=s.min,
                maxvalue=s.max,
                cache=s.cache,
                cycle=s.cycle or None,
                data_type=types[s.type],
                schema=target_schema,
            )
            sql = clean(CreateSequence(seq).compile(dialect=DIALECT))
            out.append((base.TYPES, DDL(sql, f"sequence {s.name}")))
            name = qualified(s.name, target_schema)
            if s.owned_by is not None:
                table, _, column = s.owned_by.partition(".")
                col = qualified(column, None)
                sql = f"ALTER SEQUENCE {name} OWNED BY {qualified(table, target_schema)}.{col}"
                out.append((base.LINKS, DDL(sql, f"owner of sequence {s.name}")))
            if s.comment is not None:
                sql = f"COMMENT ON SEQUENCE {name} IS {quote_literal(s.comment)}"
                out.append((base.COMMENTS, DDL(sql, f"comment on sequence {s.name}")))
        return out

    def inspect(self, state: base.InspectState) -> Any:
        from ..introspect import FlowMap

        out: dict[str, Any] = {}
        for row in state.rows(_SEQUENCES):
            name, typ, start, inc, low, high, cache, cycle, table, column, comment = row
            s: dict[str, Any] = {"type": typ}
            limit = _LIMITS.get(typ, _LIMITS["bigint"])
            up = inc > 0
            defaults = {
                "start": low if up else high,
                "increment": 1,
                "min": 1 if up else -limit - 1,
                "max": limit if up else -1,
                "cache": 1,
            }
            for attr, value in (
                ("start", start),
                ("increment", inc),
                ("min", low),
                ("max", high),
                ("cache", cache),
            ):
                if value != defaults[attr]:
                    s[attr] = value
            if cycle:
                s["cycle"] = True
            if table is not None and column is not None:
                s["owned_by"] = f"{table}.{column}"
            if comment is not None:
                s["comment"] = comment
            out[name] = FlowMap(s)
        return out


KIND = Sequences()
