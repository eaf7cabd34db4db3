"""Start/end lines of statements, from one code-generation pass.

libcst's PositionProvider records a range for every node (1.5x a parse on a 90 KB file); findings only need
statement lines, so this state records just those while counting newlines in the emitted tokens.
"""
from __future__ import annotations

import libcst as cst
from libcst._nodes.internal import CodegenState

_TRACKED = (cst.SimpleStatementLine, cst.BaseCompoundStatement, cst.BaseSmallStatement)


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


def statement_spans(module: cst.Module) -> dict[int, tuple[int, int]]:
    """Map id(statement node) -> (first line, last line), 1-based, for the given module object."""
    state = _LineState(module)
    module._codegen(state)
    return state.spans
