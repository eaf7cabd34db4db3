"""The statement-by-statement walk gives the same facts as one walk of the whole file, and reuses what it saw."""

import re
from pathlib import Path

import pytest

from auditor.facts import pieces
from auditor.facts.pieces import Memo, module_ir
from auditor.load.errors import Unanalyzable

ROOT = Path(__file__).resolve().parents[2]
TEMP = re.compile(r"t::[0-9a-f]+\.\d+|t::\d+|@[0-9a-f]+\.\d+|@\d+")


def _n(text: object) -> str:
    return TEMP.sub("T", str(text))


def _deps(val) -> list[str]:
    return sorted(_n(d) for d in val.deps)


def signature(ir) -> tuple:
    """The IR with temporaries' names blanked: separately walked statements name them after their own text."""
    ops = [(o.kind, o.line, o.end_line, o.func, o.seq, o.loops, o.grad, _n(o.sym), _deps(o.val)) for o in ir.ops]
    functions = [(q, f.line, f.end_line, sorted(f.locals), sorted(f.reads)) for q, f in ir.functions.items()]
    loops = [(k, v.func, v.line, v.end_line, v.targets, v.iter_text) for k, v in ir.loops.items()]
    knobs = [(k, str(v.expr), v.line) for k, v in ir.knobs.items()]
    flows = sorted((_n(d), line, _deps(v)) for d, v, line in ir.flows)
    return ops, functions, loops, knobs, flows, ir.classes, ir.imports, len(ir.opaque), len(ir.pos_access)


SOURCES = sorted((ROOT / "fixtures").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES[::5], ids=lambda p: str(p.relative_to(ROOT)))
def test_same_facts_as_one_walk_of_the_whole_file(path):
    code = path.read_text()
    try:
        whole = pieces._walk_whole(code, code.splitlines())
    except Unanalyzable:
        pytest.skip("not analysable")
    assert signature(module_ir(code, Memo())) == signature(whole)


SHARED = '''
def evaluate(model, val_tokens):
    with torch.no_grad():
        loss = model(val_tokens[:-1], val_tokens[1:])
    return loss
'''


@pytest.fixture
def walked(monkeypatch) -> list[str]:
    """The texts walked from now on (the memo's misses)."""
    calls: list[str] = []
    original = pieces.walk_piece

    def counting(text, *args, **kwargs):
        calls.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(pieces, "walk_piece", counting)
    return calls


def test_a_shared_function_is_walked_once_and_placed_at_its_own_lines(walked):
    first = "import torch\n" + SHARED
    second = "import torch\nimport os\n\nX = int(os.environ.get('X', '3'))\n\n" + SHARED
    memo = Memo()
    module_ir(first, memo)
    walked.clear()
    ir = module_ir(second, memo)
    assert all("def evaluate" not in text for text in walked) and len(walked) == 2  # `import os`, `X = ...`
    assert signature(ir) == signature(pieces._walk_whole(second, second.splitlines()))
    assert ir.functions["evaluate"].line == second.splitlines().index("def evaluate(model, val_tokens):") + 1
    assert ir.knobs["X"].line == 4


MODEL = """
import torch


class Model(torch.nn.Module):  # the header may carry a comment
    \"\"\"A docstring member.\"\"\"

    scale = 2

    def __init__(self, table):
        super().__init__()
        self.table = table

    @torch.no_grad()
    def score(self, val_tokens):
        return self.table[val_tokens[1:]] * self.scale
"""


def test_a_class_is_walked_member_by_member(walked):
    memo = Memo()
    module_ir(MODEL, memo)
    walked.clear()
    edited = MODEL.replace("self.table = table", "self.table = table\n        self.extra = 1")
    ir = module_ir(edited, memo)
    assert len(walked) == 1 and walked[0].startswith("class Model(torch.nn.Module):") and "def __init__" in walked[0]
    assert "def score" not in walked[0]  # the unchanged method comes from the memo
    assert signature(ir) == signature(pieces._walk_whole(edited, edited.splitlines()))
    assert ir.functions["Model.score"].line == edited.splitlines().index("    @torch.no_grad()") + 1


CUTS = {"lines": pieces.line_pieces, "stdlib": pieces._ast_pieces}


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
@pytest.mark.parametrize(
    "header",
    ["@dataclass\nclass C:", "class C(make_base()):", "class C(Base[int]):"],
    ids=["decorated", "call-in-bases", "subscript-in-bases"],
)
def test_classes_whose_header_makes_facts_are_walked_whole(header, cut):
    code = f"{header}\n    a = 1\n\n    def f(self):\n        return self.a\n"
    texts = [text for text, _, _ in cut(code, code.splitlines())]
    assert texts == [code]
    assert signature(module_ir(code, Memo())) == signature(pieces._walk_whole(code, code.splitlines()))


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_a_class_with_dotted_bases_and_keywords_is_cut_into_members(cut):
    code = "class C(nn.Module, metaclass=abc.ABCMeta):  # c\n    a = 1\n\n    def f(self):\n        return self.a\n"
    header = "class C(nn.Module, metaclass=abc.ABCMeta):  # c\n"
    assert [(text, offset) for text, offset, _ in cut(code, code.splitlines())] == [
        (header + "    a = 1\n", 0),
        (header + "    def f(self):\n        return self.a\n", 2),
    ]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_cut_by_lines_is_the_stdlib_cut(path):
    """Both cuts give the same texts, so the memo serves a file whichever cut it took."""
    code = path.read_text()
    by_ast = pieces._ast_pieces(code, code.splitlines())
    if by_ast is None:
        pytest.skip("the stdlib cannot parse it")
    by_lines = pieces.line_pieces(code, code.splitlines())
    assert [(text, offset) for text, offset, _ in by_lines] == [(text, offset) for text, offset, _ in by_ast]


def test_a_file_whose_statements_were_all_seen_is_not_parsed(monkeypatch):
    memo = Memo()
    module_ir(MODEL, memo)
    parsed: list[str] = []
    monkeypatch.setattr(pieces, "python_ast", lambda code: parsed.append(code))
    monkeypatch.setattr(pieces, "parse", lambda code: parsed.append(code))
    module_ir(MODEL.replace("\nimport torch\n", "import torch\n\n"), memo)  # the same statements, other lines
    assert parsed == []


def test_a_statement_is_walked_again_when_an_alias_it_reads_means_something_else():
    body = "\n\ndef mix(a, b):\n    return bxor(a, b)\n"
    numpy_alias = "from numpy import bitwise_xor as bxor" + body
    torch_alias = "from torch import bitwise_xor as bxor" + body
    memo = Memo()
    first = module_ir(numpy_alias, memo)
    second = module_ir(torch_alias, memo)
    calls = lambda ir: [o.sym for o in ir.ops if o.kind == "call"]  # noqa: E731
    assert calls(first) == ["numpy.bitwise_xor"] and calls(second) == ["torch.bitwise_xor"]
    assert len(memo.entries["def mix(a, b):\n    return bxor(a, b)\n"]) == 2  # one text, two walks


def test_memo_drops_the_least_recently_used_walks_past_its_limit():
    memo = Memo(limit=1)
    module_ir("a = 1\nb = 2\n", memo)
    assert list(memo.entries) == ["b = 2\n"] and memo.size > 1


def _long_function(name: str, line: str) -> str:
    body = "".join(f"    x{i} = {line.format(i=i)}\n" for i in range(40))
    return f"def {name}(val_tokens):\n{body}    return x0\n"


BIG = _long_function("big", "val_tokens[{i}:] * {i}")
MIX = _long_function("mix", "bxor(val_tokens[{i}:], {i})")


def test_a_piece_walked_by_one_process_serves_another_through_the_shared_folder(tmp_path, walked):
    assert len(BIG) >= pieces.SHARED_MIN
    code = "import torch\n\n" + BIG
    first, second = Memo(), Memo()
    first.share(tmp_path)
    second.share(tmp_path)
    module_ir(code, first)
    walked.clear()
    ir = module_ir(code, second)
    assert walked == ["import torch\n"]  # under SHARED_MIN characters: walked again, not shared
    assert signature(ir) == signature(pieces._walk_whole(code, code.splitlines()))
    (shared,) = tmp_path.iterdir()
    assert shared.stat().st_size < sum(len(data) for _, data in first.entries[BIG]) / 2  # compressed: /tmp may be RAM


def test_a_text_walked_under_other_imports_keeps_both_walks_in_the_shared_folder(tmp_path):
    numpy, torch = "from numpy import bxor\n" + MIX, "from torch import bxor\n" + MIX
    first, second, third = Memo(), Memo(), Memo()
    for memo in (first, second, third):
        memo.share(tmp_path)
    module_ir(torch, first)
    module_ir(numpy, second)
    module_ir(torch, second)  # the second process adds its walk to the first's
    assert [dict(reads) for reads, _ in third._read_shared(MIX)] == [{"bxor": "torch.bxor"}, {"bxor": "numpy.bxor"}]


def test_a_shared_folder_that_cannot_be_written_costs_the_sharing_only(tmp_path):
    memo = Memo()
    memo.share(tmp_path / "gone")
    code = "import torch\n\n" + BIG
    assert signature(module_ir(code, memo)) == signature(pieces._walk_whole(code, code.splitlines()))
    assert not (tmp_path / "gone").exists()


def test_a_syntax_error_is_reported_at_the_file_line():
    code = "import os\n\n\ndef f(:\n    pass\n"
    with pytest.raises(Unanalyzable) as whole:
        pieces.parse(code)
    with pytest.raises(Unanalyzable) as split:
        module_ir(code, Memo())
    assert str(split.value) == str(whole.value) and "line 5" in str(split.value)  # libcst points past `(:`


NEWER = '''"""Module docstring.

Column-0 text inside a string: def not_a_statement():
"""
import torch


@torch.no_grad()
@other
def evaluate(model, val_tokens):
    loss = model(val_tokens[:-1], val_tokens[1:])
    return loss
# a trailing comment
if __name__ == "__main__":
    evaluate(None, None)
else:
    pass
'''


def test_a_file_is_cut_by_lines_without_a_stdlib_parse_of_it(monkeypatch):
    parsed: list[str] = []
    real = pieces.python_ast
    monkeypatch.setattr(pieces, "python_ast", lambda code: parsed.append(code) or real(code))
    lines = NEWER.splitlines()
    assert [(a, b) for a, b in pieces.statement_lines(lines, 1, len(lines), "")] == [(1, 4), (5, 5), (8, 12), (14, 17)]
    memo = Memo()
    ir = module_ir(NEWER, memo)
    assert NEWER not in parsed and len(memo.entries) == 4
    assert signature(ir) == signature(pieces._walk_whole(NEWER, lines))


WRONG_CUT = "import os\nx = os.path.join('a',\n'b')\ny = x\n"  # `'b')` at column 0 looks like a statement


def test_a_wrong_cut_by_lines_is_made_again_by_the_stdlib(walked):
    lines = WRONG_CUT.splitlines()
    assert pieces.statement_lines(lines, 1, len(lines), "") == [(1, 1), (2, 2), (3, 3), (4, 4)]
    ir = module_ir(WRONG_CUT, Memo())
    assert "x = os.path.join('a',\n'b')\n" in walked
    assert signature(ir) == signature(pieces._walk_whole(WRONG_CUT, lines))


def test_a_wrong_cut_in_code_the_stdlib_cannot_parse_walks_the_whole_file(monkeypatch):
    monkeypatch.setattr(pieces, "python_ast", lambda code: None)  # newer syntax than this interpreter
    ir = module_ir(WRONG_CUT, Memo())
    assert signature(ir) == signature(pieces._walk_whole(WRONG_CUT, WRONG_CUT.splitlines()))


def test_a_walk_leaves_no_reference_cycle_behind():
    """Scan workers pause the cyclic GC during an audit: a walker must be freed by reference counting alone."""
    import gc

    from auditor.facts.walk import Walker

    code = (ROOT / "fixtures/examples/illegal_record/train_gpt.py").read_text()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        module_ir(code, Memo())
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, Walker)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cyclic == []
