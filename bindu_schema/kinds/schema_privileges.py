"""A privilege on "the schema this runs in" as one statement (grants: schema:).

GRANT ... ON SCHEMA needs the schema's name, and a revision names no schema (one file
migrates public and every tenant schema; env.py sets the search_path). So a revision runs
the GRANT / REVOKE as a DO block that formats the current schema's name with %I:

    DO $grant$BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(),
    'app_rw'); END$grant$

The role is a string literal (quote_literal) formatted with %I, PUBLIC a keyword in the
template; the dollar-quote tag is one the body does not hold. `read` understands such a
block with PostgreSQL's parsers (the PL/pgSQL one for the body, the SQL one for the
format() call and the GRANT it builds), so the plan classifies it, and `to_block` proves
that the block runs exactly the GRANT it replaces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.enums import GrantTargetType, ObjectType, RoleSpecType
from pglast.parser import ParseError, parse_plpgsql_json

PUBLIC = "public"  # the pseudo-role, as the YAML and the inspection write it
_STAND_IN = "bindu_current_schema"  # the schema's %I while reading a block


@dataclass(frozen=True)
class SchemaGrant:
    """One GRANT or REVOKE on a schema, for one role."""

    is_grant: bool
    privileges: tuple[str, ...]  # lower case, sorted; () is ALL
    role: str  # "public" for PUBLIC
    schema: str | None = None  # None: the current schema (a DO block)


def block(verb: str, privileges: Sequence[str], role: str) -> str:
    """GRANT / REVOKE `privileges` (["all"]: every one) on the current schema for `role`."""
    from ..literals import quote_literal

    word = "TO" if verb == "GRANT" else "FROM"
    privs = ", ".join(p.upper() for p in sorted(privileges))
    if role == PUBLIC:
        template = f"{verb} {privs} ON SCHEMA %I {word} PUBLIC"
        call = f"format({quote_literal(template)}, current_schema())"
    else:
        template = f"{verb} {privs} ON SCHEMA %I {word} %I"
        call = f"format({quote_literal(template)}, current_schema(), {quote_literal(role)})"
    body = f"BEGIN EXECUTE {call}; END"
    tag, n = "$grant$", 0
    while tag in body:  # a role name holding the tag cannot end the body
        n += 1
        tag = f"$grant{n}$"
    return f"DO {tag}{body}{tag}"


def of_grant(stmt: ast.GrantStmt) -> SchemaGrant | None:
    """A GRANT / REVOKE on one schema for one role, without GRANT OPTION; else None."""
    objects, grantees = stmt.objects or (), stmt.grantees or ()
    if (
        stmt.objtype != ObjectType.OBJECT_SCHEMA
        or stmt.targtype != GrantTargetType.ACL_TARGET_OBJECT
        or len(objects) != 1
        or len(grantees) != 1
        or stmt.grant_option
    ):
        return None
    spec = grantees[0]
    if spec.roletype == RoleSpecType.ROLESPEC_PUBLIC:
        role = PUBLIC
    elif spec.roletype == RoleSpecType.ROLESPEC_CSTRING and spec.rolename:
        role = str(spec.rolename)
    else:
        return None
    if any(p.cols for p in stmt.privileges or ()):
        return None
    privs = tuple(sorted(str(p.priv_name) for p in stmt.privileges or ()))
    schema = str(objects[0].sval)
    return SchemaGrant(bool(stmt.is_grant), privs, role, schema)


def read(sql: str) -> SchemaGrant | None:
    """The grant a DO block of `block`'s shape runs (schema None); None: another DO."""
    try:
        fn = json.loads(parse_plpgsql_json(sql))[0]["PLpgSQL_function"]
    except (ParseError, ValueError, KeyError, IndexError, TypeError):
        return None
    steps = fn.get("action", {}).get("PLpgSQL_stmt_block", {}).get("body", [])
    # the block: one dynamic EXECUTE (no INTO, no USING), then the implicit RETURN
    if len(steps) != 2 or set(steps[1]) != {"PLpgSQL_stmt_return"}:
        return None
    ex = steps[0].get("PLpgSQL_stmt_dynexecute")
    if not isinstance(ex, dict) or set(ex) != {"lineno", "query"}:
        return None
    try:
        select = parse_sql("SELECT " + ex["query"]["PLpgSQL_expr"]["query"])
    except (ParseError, KeyError, TypeError):
        return None
    if len(select) != 1 or not isinstance(select[0].stmt, ast.SelectStmt):
        return None
    s = select[0].stmt
    targets = s.targetList or ()
    if len(targets) != 1 or s.fromClause or s.whereClause:
        return None
    call = targets[0].val
    if not isinstance(call, ast.FuncCall) or _names(call) != ["format"]:
        return None
    args = list(call.args or ())
    if not 2 <= len(args) <= 3 or not all(_text(a) is not None for a in args[:1] + args[2:]):
        return None
    here = args[1]
    if not (
        isinstance(here, ast.FuncCall) and _names(here) == ["current_schema"] and not here.args
    ):
        return None
    template = _text(args[0]) or ""
    pieces = template.split("%I")
    role_arg = _text(args[2]) if len(args) == 3 else None
    # %I for the schema, and for the role exactly when the role is an argument; no other %
    if len(pieces) != (3 if role_arg is not None else 2) or any("%" in p for p in pieces):
        return None
    from ..compile import quote

    names = [quote(_STAND_IN)] + ([quote(role_arg)] if role_arg is not None else [])
    text = pieces[0] + "".join(n + p for n, p in zip(names, pieces[1:], strict=True))
    try:
        inner = parse_sql(text)
    except ParseError:
        return None
    if len(inner) != 1 or not isinstance(inner[0].stmt, ast.GrantStmt):
        return None
    found = of_grant(inner[0].stmt)
    if found is None or found.schema != _STAND_IN:
        return None
    if role_arg is None and found.role != PUBLIC:
        return None
    return SchemaGrant(found.is_grant, found.privileges, found.role, None)


def _names(call: ast.FuncCall) -> list[str]:
    return [str(n.sval) for n in call.funcname or ()]


def _text(node: object) -> str | None:
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def to_block(g: SchemaGrant) -> str:
    """The DO block that runs `g` on the current schema, proved to read back as `g`."""
    verb = "GRANT" if g.is_grant else "REVOKE"
    sql = block(verb, list(g.privileges) or ["all"], g.role)
    back = read(sql)
    if back is None or back != SchemaGrant(g.is_grant, g.privileges, g.role, None):
        from ..statements import StatementError

        raise StatementError(f"a schema privilege did not survive its DO block: {sql}")
    return sql
