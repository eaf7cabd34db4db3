"""Start/end lines of statements.

libcst's PositionProvider records a range for every node (1.5x a parse on a 90 KB file); findings only need
statement lines. The fast path reads them from the stdlib `ast` (a C parser, ~10% of a libcst parse): both trees
list statements in the same source order, so pairing them in one pre-order walk gives each libcst statement its
lines. When `ast` cannot parse the code (Python 3.12 syntax on an older interpreter) or the two walks disagree, one
code-generation pass that counts newlines is used instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import libcst as cst
from libcst._nodes.internal import CodegenState

from auditor.syntax import python_ast

_TRACKED = (cst.SimpleStatementLine, cst.BaseCompoundStatement, cst.BaseSmallStatement)


def _cst_statements(body: object) -> Iterator[cst.CSTNode]:
    """Statements (simple-statement lines and compound statements) in source pre-order."""
    if isinstance(body, cst.SimpleStatementSuite):  # `if x: a; b` on one line: one group, like a line
        yield body
        return
    for statement in getattr(body, "body", ()):
        yield statement
        if isinstance(statement, cst.BaseCompoundStatement):
            yield from _cst_children(statement)


def _cst_children(statement: cst.BaseCompoundStatement) -> Iterator[cst.CSTNode]:
    yield from _cst_statements(statement.body)
    for handler in getattr(statement, "handlers", ()):
        yield from _cst_statements(handler.body)
    orelse = getattr(statement, "orelse", None)
    if isinstance(orelse, cst.If):  # elif: ast nests it as an If inside orelse
        yield orelse
        yield from _cst_children(orelse)
    elif orelse is not None:
        yield from _cst_statements(orelse.body)
    final = getattr(statement, "finalbody", None)
    if final is not None:
        yield from _cst_statements(final.body)


def _ast_groups(body: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """ast statements grouped like libcst: small statements sharing a line form one group; compound ones alone.

    An `elif` is an If inside `orelse` in both trees, and `else: if` is too, so one generic walk matches both.
    """
    group: list[ast.stmt] = []
    for statement in body:
        compound = isinstance(statement, _AST_COMPOUND)
        if group and (compound or statement.lineno != group[-1].end_lineno):
            yield group
            group = []
        if not compound:
            group.append(statement)
            continue
        yield [statement]
        yield from _ast_groups(statement.body)
        for handler in getattr(statement, "handlers", ()):
            yield from _ast_groups(handler.body)
        yield from _ast_groups(getattr(statement, "orelse", []))
        yield from _ast_groups(getattr(statement, "finalbody", []))
    if group:
        yield group


_AST_COMPOUND = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
)


def _from_ast(module: cst.Module, body: list[ast.stmt], offset: int) -> dict[int, tuple[int, int]] | None:
    """Spans from the stdlib parser's statements (lines counted `offset` after the module's first line); None when
    the two statement walks disagree."""
    spans: dict[int, tuple[int, int]] = {}
    cst_iter = _cst_statements(module)
    for group in _ast_groups(body):
        node = next(cst_iter, None)
        first, last = group[0], group[-1]
        compound = isinstance(node, cst.BaseCompoundStatement)
        if node is None or compound != isinstance(first, _AST_COMPOUND):
            return None
        start = first.lineno
        if isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and first.decorator_list:
            start = first.decorator_list[0].lineno  # libcst statements start at their first decorator
        spans[id(node)] = (start - offset, (last.end_lineno or start) - offset)
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            if len(node.body) != len(group):
                return None
            for small, statement in zip(node.body, group):
                spans[id(small)] = (statement.lineno - offset, (statement.end_lineno or statement.lineno) - offset)
    if next(cst_iter, None) is not None:
        return None
    return spans


class _LineState(CodegenState):
    """Counts lines while tokens are emitted; `leading_lines` are skipped so a statement starts at its code."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.spans: dict[int, tuple[int, int]] = {}
        self._starts: dict[int, int] = {}

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value:
            self.line += value.count("\n")

    def before_codegen(self, node: cst.CSTNode) -> None:
        if isinstance(node, _TRACKED):
            leading = getattr(node, "leading_lines", ())
            self._starts[id(node)] = self.line + len(leading)

    def after_codegen(self, node: cst.CSTNode) -> None:
        if isinstance(node, _TRACKED):
            start = self._starts.pop(id(node))
            last = self.tokens[-1] if self.tokens else ""
            end = self.line - 1 if last.endswith("\n") else self.line
            self.spans[id(node)] = (start, max(start, end))


def _from_codegen(module: cst.Module) -> dict[int, tuple[int, int]]:
    state = _LineState(module)
    module._codegen(state)
    return state.spans


def statement_spans(
    module: cst.Module, code: str | None = None, statements: list[ast.stmt] | None = None, offset: int = 0
) -> dict[int, tuple[int, int]]:
    """Map id(statement node) -> (first line, last line), 1-based, for the given module object.

    `statements`: the module's top-level statements as the stdlib parsed them, `offset` lines into a larger text
    (a file walked statement by statement); else they are parsed from `code`.
    """
    if statements is None and code is not None:
        tree = python_ast(code)
        statements, offset = (tree.body if tree is not None else None), 0
    if statements is not None:
        spans = _from_ast(module, statements, offset)
        if spans is not None:
            return spans
    return _from_codegen(module)
