"""Folders that ship the same script share its linked facts: every run setting still gives its own facts."""

import re
from pathlib import Path

import pytest

from auditor import api
from auditor.facts.bundle import RunEvidence, build_facts, link
from auditor.facts.pieces import Memo, module_ir

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    ROOT / "fixtures/examples/illegal_record/train_gpt.py",
    ROOT / "fixtures/rescore/legal_diagnostics_then_ttt.py",
    ROOT / "fixtures/rescore/illegal_ttt_then_full_eval.py",
]
KNOB = re.compile(r"environ\.get\(\s*[\"'](\w+)")


def _runs(code: str) -> list[tuple[dict[str, str], RunEvidence]]:
    """No settings; every knob the script reads switched on; a run whose logs printed every line the script prints."""
    knobs = {f"knob:{name}": "1" for name in KNOB.findall(code)}
    printed = tuple(re.findall(r"print\(f?[\"']([^\"'{]{12,})", code))
    return [({}, RunEvidence()), (knobs, RunEvidence()), ({}, RunEvidence("title", printed))]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.parent.name + "/" + p.name)
def test_shared_linked_facts_give_the_same_facts_as_a_fresh_analysis(path):
    code = path.read_text()
    runs = _runs(code)
    api._linked.cache_clear()
    shared = [api.analyse(code, env, run).to_json() for env, run in runs + runs[::-1]]
    fresh = [build_facts(link(module_ir(code, Memo())), env, run).to_json() for env, run in runs + runs[::-1]]
    assert shared == fresh
    assert api._linked.cache_info().misses == 1  # one link for all six analyses
    assert len({str(facts) for facts in fresh}) > 1  # the settings do change the facts
