"""Small libcst helpers shared by the load layer and the facts walk."""

from __future__ import annotations

import ast
import functools
import io
import tokenize
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
    """libcst.parse_module, retried with `space_keywords` when libcst's node validation refuses valid Python."""
    try:
        return cst.parse_module(code)
    except cst.CSTValidationError:
        return cst.parse_module(space_keywords(code))


_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "for", "lambda", "async", "await"})


def space_keywords(code: str) -> str:
    """`'RANK'in env and'X'in env` -> `'RANK' in env and 'X' in env`, line numbers unchanged.

    Python accepts a keyword glued to a string or number (minifiers emit it); libcst's node validation rejects it.
    A space is put at every such boundary, found with the tokenizer so strings and comments are left alone.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return code
    glued: dict[int, list[int]] = {}
    for a, b in zip(tokens, tokens[1:]):
        words = a.type == tokenize.NAME and a.string in _KEYWORDS or b.type == tokenize.NAME and b.string in _KEYWORDS
        if words and a.end == b.start and a.type in _GLUEABLE and b.type in _GLUEABLE:
            glued.setdefault(b.start[0], []).append(b.start[1])
    if not glued:
        return code
    lines = code.splitlines(keepends=True)
    for row, columns in glued.items():
        line = lines[row - 1]
        for column in sorted(columns, reverse=True):
            line = line[:column] + " " + line[column:]
        lines[row - 1] = line
    return "".join(lines)


_GLUEABLE = frozenset({tokenize.NAME, tokenize.NUMBER, tokenize.STRING, tokenize.OP})

