"""End to end at toy size: the generated single-file submission trains, quantizes, compresses, reloads from the
compressed bytes, evaluates (full split, sliding window, score-first TTT) from a records folder, and its log is
what the record review parses."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("sentencepiece")

from auditor.load.logs import parse_log_file  # noqa: E402


@pytest.fixture(scope="module")
def run(pipeline_run):
    stdout, folder = pipeline_run
    (runs,) = parse_log_file(folder / "logs" / "reference.txt")
    return stdout, runs, folder


def test_loss_decreases(run):
    _, log, _ = run
    periodic = {s.step: s.val_loss for s in log.periodic}
    assert set(periodic) == {0, 20, 40}
    assert periodic[40] < periodic[20] < periodic[0] - 0.5


def test_log_parses_with_the_record_review(run, toy_data):
    stdout, log, folder = run
    code_bytes = (folder / "train_gpt.py").stat().st_size
    model_bytes = (folder / "final_model.int5.ptz").stat().st_size
    assert (log.seed, log.steps_done, log.steps_total, log.train_shards) == (7, 40, 40, 1)
    assert log.val_tokens == 8192
    assert (log.code_bytes, log.model_bytes, log.total_bytes) == (code_bytes, model_bytes, code_bytes + model_bytes)
    assert log.total_label == "int5+lzma"
    assert log.stages == ("periodic", "final_int5_roundtrip", "final_int5_sliding_window", "ttt_sliding:done",
                          "legal_ttt")
    assert log.final.stage == "legal_ttt" and log.final.exact
    assert [t.stage for t in log.calibration] == ["gptq:collected"]
    assert log.total_eval_time_s is not None
    assert "legal_ttt val_loss:" in stdout


def test_reloaded_artifact_scores_like_the_trained_model(run):
    _, log, _ = run
    in_memory = [s for s in log.periodic if s.step == 40][0].val_bpb  # AVERAGING=none: the weights that get packed
    reloaded = log.best("final_int5_roundtrip").val_bpb
    assert abs(reloaded - in_memory) < 0.01 * in_memory  # int5 GPTQ on the toy model: measured 0.02%


def test_sliding_and_ttt_scores_are_of_the_same_model(run):
    _, log, _ = run
    full, sliding, ttt = (log.best(s).val_bpb for s in ("final_int5_roundtrip", "final_int5_sliding_window",
                                                         "legal_ttt"))
    # the same targets scored with more context (sliding) or after adapting on earlier chunks (TTT): at toy size
    # neither moves the score far; a window that skipped or double-counted targets would
    assert abs(sliding - full) < 0.05 * full and abs(ttt - sliding) < 0.05 * sliding
    assert log.best("ttt_sliding:done").val_bpb == pytest.approx(ttt, abs=1e-4)
