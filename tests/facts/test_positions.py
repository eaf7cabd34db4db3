"""Statement lines from the stdlib-ast fast path agree with the code-generation path, and it falls back cleanly."""
import ast

import libcst as cst

from auditor.facts.positions import _from_ast, _from_codegen, statement_spans

CODE = '''import os

@decorator
def f(x):  # comment
    if x: a = 1; b = 2
    elif x > 2:
        c = (
            3)
    else:
        if x:
            pass
    try:
        d = 4
    except ValueError:
        e = 5
    finally:
        g = 6
    for i in range(3):
        h = i
    else:
        k = 0
    return x


class C:
    y = f"{os.sep}"
'''


def test_ast_path_matches_codegen_starts():
    module = cst.parse_module(CODE)
    fast = _from_ast(module, ast.parse(CODE).body, 0)
    assert fast is not None
    slow = _from_codegen(module)
    assert set(slow) <= set(fast)  # the fast path also records one-line suites (`if x: a; b`)
    assert {k: fast[k][0] for k in slow} == {k: v[0] for k, v in slow.items()}


def test_falls_back_when_stdlib_cannot_parse():
    code = 'x = f"{"nested"}"\n'  # PEP 701: libcst parses it, Python 3.11's ast does not
    module = cst.parse_module(code)
    spans = statement_spans(module, code)
    assert sorted(spans.values()) == [(1, 1), (1, 1)]


def test_statements_parsed_elsewhere_are_placed_by_their_offset():
    """A statement cut from a larger file (facts.pieces): its stdlib lines are the file's, its spans its own."""
    text = "def f(x):\n    y = x\n    return y\n"
    offset = 40
    tree = ast.parse("\n" * offset + text)
    module = cst.parse_module(text)
    spans = statement_spans(module, text, tree.body, offset)
    assert sorted(spans.values()) == sorted(statement_spans(module, text).values())
    assert (1, 3) in spans.values() and (2, 2) in spans.values()
