"""Ledger checks on hand-written event records (no torch): each rule fires on its order of events and not on the
legal order."""

from __future__ import annotations

from auditor.trace.checks import check_ledger, rescore, target_in_hash, training_order, val_calibration
from auditor.trace.ledger import Backward, Ledger, Score, Step, TableRead, Use


def _score(seq, sid, pos, grad=False):
    return Score(seq, float(seq), sid, "ce", grad, 0, list(pos), [1.0] * len(pos))


def _chunked(score_first: bool) -> Ledger:
    """Two chunks of TTT; score-first scores chunk c before its backward, the wrong order after."""
    ledger = Ledger(val_tokens=20, train_backward_seqs=[1, 2])
    seq, sid = 10, 0
    for chunk in (range(1, 6), range(6, 11)):
        train_fwd = _score(seq + (0 if not score_first else 1), sid, chunk, grad=True)
        pure = _score(seq + (1 if not score_first else 0), sid + 1, chunk)
        ledger.scores += [train_fwd, pure]
        ledger.backwards.append(Backward(train_fwd.seq + 2, 0.0, train_fwd.id, list(chunk)))
        ledger.steps.append(Step(train_fwd.seq + 3, 0.0, 1, True, False))
        if not score_first:  # the backward must come before the pure score
            ledger.backwards[-1].seq, pure.seq = seq + 1, seq + 3
        seq, sid = seq + 10, sid + 2
    return ledger


def test_score_first_chunks_are_clean():
    assert check_ledger(_chunked(score_first=True)) == []


def test_train_then_score_is_prequant_ttt():
    [finding] = training_order(_chunked(score_first=False))
    assert finding.rule == "prequant-ttt" and finding.severity == "illegal"
    assert "10 validation positions" in finding.message


def test_free_tensor_step_is_slot_and_training_phase_is_val_in_artifact():
    slot = _chunked(score_first=False)
    for step in slot.steps:
        step.module_params, step.free_params = False, True
    assert [f.rule for f in training_order(slot)] == ["scored-region-slot"]
    during_training = _chunked(score_first=False)
    during_training.train_backward_seqs = [100]
    assert [f.rule for f in training_order(during_training)] == ["val-in-artifact"]


def test_rescore_after_training():
    ledger = _chunked(score_first=True)
    ledger.scores.append(_score(99, 9, range(1, 11)))
    [finding] = rescore(ledger)
    assert finding.rule == "rescore" and "10 validation positions" in finding.message


def test_target_in_hash_needs_the_scored_position_in_the_key():
    ledger = Ledger(scores=[_score(5, 0, range(1, 9))])
    ledger.table_reads = [TableRead(6, 0.0, list(range(0, 8)))]  # context key: position t-1
    assert target_in_hash(ledger) == []
    ledger.table_reads.append(TableRead(7, 0.0, list(range(1, 9))))  # the target's own position
    [finding] = target_in_hash(ledger)
    assert finding.rule == "target-in-hash" and "100%" in finding.evidence[0]


def test_val_inputs_without_a_loss_are_calibration():
    ledger = Ledger(scores=[_score(10, 0, range(101, 110))])
    ledger.uses = [Use(9, 0.0, list(range(100, 109)))]  # feeds the score that follows
    assert val_calibration(ledger) == []
    ledger.uses.insert(0, Use(5, 0.0, list(range(500, 600))))  # nothing scores these
    [finding] = val_calibration(ledger)
    assert finding.rule == "val-calibration" and "100 validation positions" in finding.message


def test_adaptation_after_a_diagnostic_pass_is_prequant_not_rescore():
    """A diagnostic pass scores 1..10, then two adaptation batches train on 1..5 and 6..10, then the final pass.
    The first batch directly follows a scoring run, as score-first training would (rescore); the second is
    adaptation on positions no scoring run just covered (pre-eval TTT)."""
    ledger = Ledger(val_tokens=20, train_backward_seqs=[1])
    ledger.scores = [_score(10, 0, range(1, 11)), _score(40, 3, range(1, 11))]
    ledger.scores += [_score(20, 1, range(1, 6), grad=True), _score(22, 2, range(6, 11), grad=True)]
    ledger.backwards = [Backward(21, 0.0, 1, list(range(1, 6))), Backward(23, 0.0, 2, list(range(6, 11)))]
    ledger.steps = [Step(22, 0.0, 1, True, False), Step(24, 0.0, 2, True, False)]
    found = {f.rule: f.message.split()[0] for f in rescore(ledger)}
    assert found == {"rescore": "5", "prequant-ttt": "5"}
