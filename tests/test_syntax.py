"""libcst parses without its per-node check: same trees, and valid Python the check refuses (keywords glued to
strings or numbers, as minifiers emit) is analysed as written."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from auditor.api import audit_source
from auditor.model import Verdict
from auditor.syntax import parse_module

GLUED = "d=[1,2]\nn=sum(a-(0 if w==0 else c)for w in d)\nx=[v for v in'ab']\nif(x)in[1]:pass\n"
FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py"))


def test_libcst_checked_refuses_it_and_python_accepts_it():
    compile(GLUED, "<glued>", "exec")
    with pytest.raises(cst.CSTValidationError):
        cst.parse_module(GLUED)


def test_glued_code_parses_and_prints_back_as_written():
    assert parse_module(GLUED).code == GLUED
    assert audit_source(GLUED).verdict is Verdict.CLEAN


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_same_tree_as_a_checked_parse(path: Path):
    code = path.read_text()
    assert parse_module(code).deep_equals(cst.parse_module(code))


def test_the_check_is_back_after_a_parse_and_after_a_failed_one():
    parse_module("x = 1\n")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def f(:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")
