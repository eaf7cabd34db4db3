"""Every runnable toy submission under fixtures/trace/ gets the runtime verdict its first line states."""

from __future__ import annotations

import pytest

from conftest import PROBED, expected, fixture_paths

pytest.importorskip("torch")


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.stem)
def test_runtime_verdict(path, traced):
    outcome = traced(path.name)
    want = expected(path)
    if want == {"unanalyzable"}:
        assert not outcome.ran
        assert "ModuleNotFoundError" in outcome.reason and "fused_golf_kernels" in outcome.tail
        return
    assert outcome.ran, outcome.reason + "\n" + outcome.tail
    assert {f.rule for f in outcome.findings} == want, [f.message for f in outcome.findings]


def test_probe_measures_exact_zero_on_a_causal_model(traced):
    [probe] = traced("legal_causal.py").probes
    assert probe.max_diff_before == 0.0 and probe.row_diff_at_k == 0.0 and not probe.leaks


def test_probe_sees_the_peeked_target(traced):
    [probe] = traced("illegal_peek_ahead.py").probes
    assert probe.max_diff_before == 0.0  # nothing before k moves: the leak is p_k itself
    assert probe.row_diff_at_k > 0.1


def test_ledger_records_score_first_order(traced):
    outcome = traced("legal_score_first_ttt.py")
    assert outcome.observed.val_positions_scored == 8192
    assert 0 < outcome.observed.val_positions_trained < 8192  # the last chunk is never trained on


def test_probed_fixtures_exist():
    assert {p.name for p in fixture_paths()} >= set(PROBED)
