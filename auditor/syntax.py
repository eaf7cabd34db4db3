"""Small libcst helpers shared by the load layer and the facts walk."""

from __future__ import annotations

import ast
import functools
import warnings

import libcst as cst


def dotted(node: cst.BaseExpression) -> str:
    """`torch.nn.functional` for a Name/Attribute chain; "" for anything else."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


@functools.lru_cache(maxsize=2)
def python_ast(code: str) -> ast.Module | None:
    """The stdlib parse of a text, None when this interpreter cannot parse it (shared: read it, never change it).

    The loader (imports) and the facts walk (statement lines) both need it for the same text, one after the other.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def parse_module(code: str) -> cst.Module:
    """libcst.parse_module without libcst's check of every node as it is built.

    Each node's constructor re-checks invariants (whitespace around keywords, balanced parentheses) that a tree the
    parser built from source already holds: 10% of a parse on real scripts (libcst's own PERF note on
    `CSTNode.__post_init__` suggests the same). The check also refuses valid Python that minifiers emit (a keyword
    glued to a string or number, `for v in'ab'`); unchecked, such code parses and prints back as written.
    """
    cst.CSTNode.__post_init__ = _unchecked
    try:
        return cst.parse_module(code)
    finally:
        cst.CSTNode.__post_init__ = _checked


def _unchecked(self: cst.CSTNode) -> None:
    pass


_checked = cst.CSTNode.__post_init__
