"""Evaluation in process: byte LUTs against decoded text, exact coverage of windows, score-first TTT ordering."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
spm = pytest.importorskip("sentencepiece")

import torch.nn.functional as F  # noqa: E402

from reference import evaluate as ev  # noqa: E402
from reference.data import load_validation_tokens  # noqa: E402
from reference.model import GPT  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup(toy_data):
    torch.manual_seed(0)
    sp = spm.SentencePieceProcessor(model_file=str(toy_data.tokenizer_path))
    val = load_validation_tokens(str(toy_data.data_path / "fineweb_val_*.bin"), 128)
    model = GPT(512, 2, 64, 4, 2, 2.0, "relu2", bigram_vocab_size=64, bigram_dim=16).eval()
    with torch.no_grad():  # non-zero residual branches so that context matters
        for block in model.blocks:
            block.attn.proj.weight.normal_(std=0.05)
            block.mlp.down.weight.normal_(std=0.05)
    return sp, val, model, ev.build_byte_luts(sp, 512, CPU)


def decoded_bytes(sp, tokens: list[int]) -> int:
    """UTF-8 bytes of the text the targets spell: each BOS-delimited document decoded on its own."""
    total, doc = 0, []
    for token in tokens + [sp.bos_id()]:
        if token == sp.bos_id():
            total += len(sp.decode(doc).encode("utf-8"))
            doc = []
        else:
            doc.append(token)
    return total


def test_bpb_is_nll_sum_over_decoded_bytes(setup):
    sp, val, model, luts = setup
    loss, bpb = ev.evaluate(model, val, 128, 0, 8, luts, 0, 1, CPU, False)
    with torch.no_grad():  # independent: plain forward over consecutive sequences, targets are val[1:]
        x, y = val[:-1].view(-1, 128).long(), val[1:].view(-1, 128).long()
        nll = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none")
    nll_sum = nll.double().sum().item()
    n_bytes = decoded_bytes(sp, val[1:].tolist())
    # the first target follows the first token; a document cut there would differ, the split starts with BOS
    assert val[0].item() == sp.bos_id()
    assert loss == pytest.approx(nll_sum / (val.numel() - 1), rel=1e-9)
    assert bpb == pytest.approx(nll_sum / math.log(2) / n_bytes, rel=1e-9)  # one byte off would be ~1e-4


@pytest.mark.parametrize(("total", "seq_len", "stride"), [(1024, 128, 64), (1000, 128, 48), (64, 128, 16),
                                                          (640, 128, 0), (513, 128, 128), (300, 100, 7)])
def test_windows_score_every_target_exactly_once(total, seq_len, stride):
    spans = ev.windows(total, seq_len, stride)
    scored = [j for _, start, end in spans for j in range(start, end)]
    assert scored == list(range(total))
    for ws, start, end in spans:
        assert 0 <= ws <= start < end <= ws + seq_len  # scored targets lie inside the window
        assert ws == 0 or end - ws == seq_len  # later windows are full: the most context possible
        assert end - start <= (stride or seq_len) or ws == 0


def test_sliding_window_sees_more_context_than_the_plain_split(setup):
    _, val, model, luts = setup
    plain = ev.evaluate(model, val, 128, 0, 8, luts, 0, 1, CPU, False)
    sliding = ev.evaluate(model, val, 128, 32, 8, luts, 0, 1, CPU, False)
    assert plain != sliding
    spans = ev.windows(val.numel() - 1, 128, 32)  # same targets, so the byte total is the same
    weights = [ev.token_bytes(luts, val[s:e], val[s + 1 : e + 1]).sum().item() for _, s, e in spans]
    assert sum(weights) == ev.token_bytes(luts, val[:-1], val[1:]).sum().item()


def test_ttt_scores_each_chunk_before_training_on_it(setup, monkeypatch):
    _, val, model, luts = setup
    events = []
    score, train = ev.score_windows, ev.ttt_train_chunk
    monkeypatch.setattr(ev, "score_windows", lambda fn, v, spans, *a: (events.append(("score", spans)),
                                                                         score(fn, v, spans, *a)))
    monkeypatch.setattr(ev, "ttt_train_chunk", lambda m, p, o, v, start, end, *a: (events.append(
        ("train", (start, end))), train(m, p, o, v, start, end, *a)))
    state = {k: t.clone() for k, t in model.state_dict().items()}
    try:
        ev.evaluate_ttt(model, model, val, 128, 64, 8, luts, 0, 1, CPU, False, chunk_tokens=2048, epochs=2,
                        lr=1e-3, train_blocks=1, log=lambda _: None)
    finally:
        model.load_state_dict(state)
    scored_until, trained = 0, []
    for kind, what in events:
        if kind == "score":
            scored_until = max([scored_until] + [end for _, _, end in what])
        else:
            assert what[1] <= scored_until  # every trained target was scored before
            trained.append(what)
    n_chunks = math.ceil((val.numel() - 1) / 2048)
    assert trained == [(c * 2048, (c + 1) * 2048) for c in range(n_chunks - 1)]  # never the last chunk
    assert scored_until == val.numel() - 1


def test_ttt_without_epochs_is_the_sliding_score(setup):
    _, val, model, luts = setup
    sliding = ev.evaluate(model, val, 128, 64, 8, luts, 0, 1, CPU, False)
    ttt = ev.evaluate_ttt(model, model, val, 128, 64, 8, luts, 0, 1, CPU, False, chunk_tokens=2048, epochs=0,
                          lr=1e-3, train_blocks=1, log=lambda _: None)
    assert ttt == pytest.approx(sliding, rel=1e-12)


def test_scored_columns_are_sliced_in_runs_of_equal_columns():
    spans = ev.windows(320, 128, 64)  # (0, 0, 128), (0, 128, 192), (64, 192, 256), (128, 256, 320)
    assert ev.column_runs(spans) == [(0, 1, 0, 128), (1, 4, 64, 128)]
    assert ev.column_runs(ev.windows(300, 128, 0)) == [(0, 2, 0, 128), (2, 3, 84, 128)]
