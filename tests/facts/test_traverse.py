"""`traverse` calls a visitor's hooks exactly as libcst's own `visit` does, minus the token nodes it skips."""

from pathlib import Path

import libcst as cst
import pytest

from auditor.facts.traverse import _TOKENS, traverse
from auditor.syntax import parse_module

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = (cst.If, cst.For, cst.While)
SOURCES = sorted((ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "reference").glob("*.py"))


class Recorder(cst.CSTVisitor):
    def __init__(self, skip_children_of: type | None = None) -> None:
        self.events: list[tuple] = []
        self.skip = skip_children_of

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not isinstance(node, _TOKENS):
            self.events.append(("visit", id(node)))
        return self.skip is None or not isinstance(node, self.skip)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if not isinstance(original_node, _TOKENS):
            self.events.append(("leave", id(original_node)))

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if isinstance(node, BLOCKS):
            self.events.append(("enter", id(node), attribute))

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        if isinstance(original_node, BLOCKS):
            self.events.append(("exit", id(original_node), attribute))


def _same_order(module: cst.Module, skip: type | None = None) -> None:
    stock, ours = Recorder(skip), Recorder(skip)
    module.visit(stock)
    traverse(module, ours, frozenset(BLOCKS))
    attributes = {e for e in ours.events if e[0] in ("enter", "exit")}
    # libcst also reports attributes that hold only tokens (whitespace, colons): ours never enters those
    expected = [e for e in stock.events if e[0] in ("visit", "leave") or e in attributes]
    assert ours.events == expected
    assert any(e[0] == "enter" for e in ours.events) == any(e[0] == "enter" for e in stock.events)


@pytest.mark.parametrize("path", SOURCES[::7], ids=lambda p: str(p.relative_to(ROOT)))
def test_same_hooks_in_the_same_order_as_libcst(path):
    _same_order(parse_module(path.read_text()))


def test_every_syntax_form_and_children_skipped_on_request():
    code = '''
@deco(1)
async def f(a, /, b: int = 2, *args, c, **kw) -> "T":
    global g
    x = [i async for i in a if i] + {k: v for k, v in b.items()} | {*args}
    y = lambda q=1: (yield q) if x else -q
    async with ctx() as (m, n):
        del m[1:2, ::3]
    while x := b:
        try:
            assert x, "msg"
        except* ValueError as e:
            raise e from None
        else:
            break
        finally:
            pass
    for i in range(3):
        continue
    else:
        print(f"{x!r:>{n}}", end="")
    match y:
        case [1, *rest] | {"k": _} if rest:
            return await z
    import os.path as p
    from . import (a as b, c)
class C(Base, metaclass=M):
    z: list[int] = []
'''
    module = parse_module(code)
    _same_order(module)
    _same_order(module, skip=cst.Lambda)
