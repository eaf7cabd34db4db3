"""Valid Python that libcst's node validation refuses (keywords glued to strings or numbers, as minifiers emit)."""

from __future__ import annotations

import libcst as cst
import pytest

from auditor.api import audit_source
from auditor.facts.pieces import parse
from auditor.model import Verdict
from auditor.syntax import space_keywords

GLUED = "d=[1,2]\nn=sum(a-(0 if w==0 else c)for w in d)\nx=[v for v in'ab']\n"


def test_libcst_refuses_it_and_python_accepts_it():
    compile(GLUED, "<glued>", "exec")
    with pytest.raises(cst.CSTValidationError):
        cst.parse_module(GLUED)


def test_spaces_go_in_at_the_glued_boundaries_only():
    spaced = space_keywords(GLUED)
    assert spaced.splitlines()[1] == "n=sum(a-(0 if w==0 else c) for w in d)"
    assert spaced.splitlines()[2] == "x=[v for v in 'ab']"
    assert spaced.count("\n") == GLUED.count("\n")
    assert space_keywords("s = \"'a'in b\"  # 'x'in y\n") == "s = \"'a'in b\"  # 'x'in y\n"  # strings, comments


def test_such_code_is_analysed_with_its_line_numbers():
    module = parse(GLUED)
    assert module.code.count("\n") == GLUED.count("\n")
    assert audit_source(GLUED).verdict is Verdict.CLEAN
    assert space_keywords("def f(:\n") == "def f(:\n"  # untokenizable text is left for the parser to report
