"""Bounds on a schema file, checked before anything is built from it.

A schema of 1,000 tables is about 1 MB and 60,000 YAML nodes; the limits leave an order
of magnitude above that and stop hostile input (an endless file, a "billion laughs" of
aliases, nesting that overflows the stack, a number too long to convert) in well under a
second, each with the file:line:column where the limit was crossed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import yaml

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 1_000_000  # after expanding every alias
MAX_DEPTH = 64  # a schema needs about 6 levels
MAX_NUMBER_CHARS = 100  # digits of an integer or float in the YAML
MAX_TABLES = 20_000
MAX_COLUMNS = 1_600  # PostgreSQL's own limit per table

_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


@dataclass(frozen=True)
class LimitError(Exception):
    line: int
    column: int
    message: str


def read_bounded(path: Path) -> bytes:
    """The file's bytes; LimitError when it has more than MAX_FILE_BYTES (only one byte
    more is ever read, so /dev/zero or a huge file costs nothing)."""
    with path.open("rb") as f:
        return read_stream(f)


def read_stream(f: BinaryIO) -> bytes:
    raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        head = raw[:MAX_FILE_BYTES]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise LimitError(
            line,
            column,
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
            "a schema file of 1,000 tables is about 1 MB: is this the right file?",
        )
    return raw


def _loc(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def check_nodes(root: yaml.Node) -> None:
    """Depth, expanded size, recursive aliases and number lengths of a composed document.

    One pass over the distinct nodes checks depth and numbers and notices aliases (a node
    met twice); only a document with aliases gets the second pass, which sizes each
    distinct node once (memoized), so it stays linear however far the aliases expand."""
    seen: set[int] = set()
    shared = False
    scalar, mapping = yaml.ScalarNode, yaml.MappingNode
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]  # iterative: no stack overflow
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            line, col = _loc(node)
            raise LimitError(
                line, col, f"nested more than {MAX_DEPTH} levels deep; a schema needs about 6"
            )
        if isinstance(node, scalar):
            if node.tag in _NUMBER_TAGS and len(str(node.value)) > MAX_NUMBER_CHARS:
                line, col = _loc(node)
                raise LimitError(
                    line,
                    col,
                    f"a number of {len(str(node.value)):,} characters (at most "
                    f"{MAX_NUMBER_CHARS}); put it in quotes if it is meant as SQL text",
                )
            continue
        key = id(node)
        if key in seen:
            shared = True
            continue
        seen.add(key)
        if isinstance(node, mapping):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in node.value)
    if shared:
        _check_expansion(root)


def _check_expansion(root: yaml.Node) -> None:
    """Size and height of the document with every alias expanded, memoized per node."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            tall = 1 + max((height[id(c)] for c in children), default=0)
            if total > MAX_NODES:
                line, col = _loc(node)
                raise LimitError(
                    line,
                    col,
                    f"this value expands to more than {MAX_NODES:,} YAML nodes (aliases "
                    "repeat what their anchor holds); write the schema without nested aliases",
                )
            if tall > MAX_DEPTH:
                line, col = _loc(node)
                raise LimitError(
                    line, col, f"nested more than {MAX_DEPTH} levels deep (through aliases)"
                )
            size[key], height[key] = total, tall
            continue
        if key in size:
            continue
        if key in on_path:
            line, col = _loc(node)
            raise LimitError(line, col, "an alias refers to the value that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
