"""Model, batching and optimizer pieces of the reference trainer; one 2-process torchrun run against 1 process."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")

from reference.data import DistributedTokenLoader  # noqa: E402
from reference.model import GPT  # noqa: E402
from reference.optim import Muon, newton_schulz5, split_params  # noqa: E402
from reference.train import lr_scale, micro_batching  # noqa: E402


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_prediction_at_t_reads_only_tokens_up_to_t(kv_heads):
    torch.manual_seed(0)
    model = GPT(128, 2, 32, 4, kv_heads, 2.0, "leaky_relu2", bigram_vocab_size=32, bigram_dim=8).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.proj.weight.normal_(std=0.1)
            block.mlp.down.weight.normal_(std=0.1)
        model.bigram.embed.weight.normal_()
        model.bigram.proj.weight.normal_(std=0.1)
        x = torch.randint(0, 128, (2, 24))
        y = x.clone()
        y[:, 10] = (y[:, 10] + 1) % 128
        a, b = model(x), model(y)
    assert torch.equal(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_residual_stream_runs_in_the_autocast_dtype_and_fp32_without_it_or_when_asked():
    model = GPT(128, 2, 32, 4, 2, 2.0, bigram_vocab_size=32, bigram_dim=8)
    seen = []
    for block in model.blocks:
        block.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].dtype, inp[1].dtype, out.dtype)))
    x = torch.randint(0, 128, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, x)
    assert set(seen) == {(torch.bfloat16,) * 3}
    seen.clear()
    model(x, x).backward()
    assert set(seen) == {(torch.float32,) * 3}
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)
    model.residual_fp32 = True  # RESIDUAL_FP32=1: fp32 under autocast too
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, x)
    assert set(seen) == {(torch.float32,) * 3}


def test_rope_tables_are_built_once_and_stay_out_of_the_state_dict():
    model = GPT(128, 1, 32, 4, 2, 2.0, max_seq_len=16)
    attn = model.blocks[0].attn
    assert attn.rope_cos.shape == (1, 1, 16, 4) and not any("rope" in k for k in model.state_dict())
    model(torch.randint(0, 128, (1, 16)))
    with pytest.raises(ValueError, match="longer than the model's max_seq_len 16"):
        model(torch.randint(0, 128, (1, 17)))


def test_kv_heads_set_the_key_value_width():
    full, gqa = (GPT(128, 1, 64, 8, kv, 2.0) for kv in (8, 2))
    assert full.blocks[0].attn.c_k.weight.shape == (64, 64) and gqa.blocks[0].attn.c_k.weight.shape == (16, 64)


def test_every_parameter_has_exactly_one_optimizer():
    model = GPT(128, 3, 32, 4, 2, 3.5, bigram_vocab_size=32, bigram_dim=8)
    matrices, embeddings, scalars = split_params(model)
    ids = [id(p) for group in (matrices, embeddings, scalars) for p in group]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert all(p.ndim == 2 for p in matrices) and len(embeddings) == 2
    names = {id(p): n for n, p in model.named_parameters()}
    assert not any("resid_mix" in names[id(p)] or "skip" in names[id(p)] for p in matrices)


def test_newton_schulz_orthogonalises_a_batch():
    g = torch.randn(3, 16, 48)
    s = torch.linalg.svdvals(newton_schulz5(g, steps=10).float())
    assert s.min() > 0.5 and s.max() < 1.5  # singular values pushed near 1, batch and wide shape kept


def test_muon_step_moves_each_matrix_by_lr_times_an_orthogonal_update():
    p = torch.nn.Parameter(torch.zeros(8, 8))
    p.grad = torch.randn(8, 8)
    Muon([p], lr=0.1, momentum=0.0, backend_steps=10).step()
    s = torch.linalg.svdvals(p.detach() / -0.1)
    assert (s - 1).abs().max() < 0.35


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_every_world_size_trains_on_the_same_global_batch(world_size, toy_data):
    class Args:
        micro_batch_tokens, train_batch_tokens, train_seq_len = 1024, 2048, 128

    micro, accum = micro_batching(Args, world_size)
    assert micro * accum * world_size == 2048
    pattern = str(toy_data.data_path / "fineweb_train_*.bin")
    loaders = [DistributedTokenLoader(pattern, r, world_size, torch.device("cpu")) for r in range(world_size)]
    steps = [[loader.next_batch(micro, 128) for _ in range(accum)] for loader in loaders]
    inputs = sorted(t for rank in steps for x, _ in rank for t in x.flatten().tolist())
    single = DistributedTokenLoader(pattern, 0, 1, torch.device("cpu"))
    reference = sorted(t for _ in range(2) for t in single.next_batch(1024, 128)[0].flatten().tolist())
    assert len(inputs) == 2048 and abs(sum(inputs) - sum(reference)) < 0.02 * sum(reference)


def test_micro_batching_rejects_a_batch_that_does_not_split():
    class Args:
        micro_batch_tokens, train_batch_tokens, train_seq_len = 1024, 3000, 128

    with pytest.raises(ValueError, match="does not split"):
        micro_batching(Args, 2)


@pytest.mark.parametrize(("progress", "expected"), [(0.0, 0.0), (0.05, 0.5), (0.5, 1.0), (0.8, 1.0), (0.9, 0.5),
                                                    (1.0, 0.0)])
def test_lr_scale_warms_up_and_down(progress, expected):
    assert lr_scale(progress, 0.1, 0.2) == pytest.approx(expected)


def test_two_processes_match_one_process(pipeline_run, records_copy, toy_data, trainer):
    """torchrun with 2 ranks (gloo on CPU) against the 1-process toy run: same global batch, so the same loss
    curve, and the same scores after calibration, quantization and evaluation split over ranks (sliding windows and
    TTT chunks included), up to the order of reductions."""
    one_process, _ = pipeline_run
    two_processes = trainer(records_copy, toy_data, 2, RUN_ID="ranks")

    def curve(text: str) -> list[float]:
        return [float(v) for v in re.findall(r"^step:\d+/40 train_loss:(\S+)", text, re.M)]

    def scores(text: str) -> dict[str, float]:
        return {s: float(v) for s, v in re.findall(r"^(\S+)_exact val_loss:\S+ val_bpb:(\S+)", text, re.M)}

    one, two = curve(one_process), curve(two_processes)
    assert len(one) == len(two) == 40 and one[-1] < one[0] - 0.5
    assert max(abs(a - b) for a, b in zip(one, two)) < 0.02
    assert set(scores(one_process)) == set(scores(two_processes)) == {
        "final_int5_roundtrip", "final_int5_sliding_window", "legal_ttt"}
    for stage, bpb in scores(one_process).items():
        assert scores(two_processes)[stage] == pytest.approx(bpb, abs=1e-3), stage  # measured: equal to 8 digits


def test_ema_and_swa_average_the_weights():
    from reference.train import Averager

    p = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        p.weight.fill_(0.0)
    ema, swa = Averager(p, "ema", 0.5, 1), Averager(p, "swa", 0.0, 2)
    for step, value in enumerate((2.0, 4.0, 6.0, 8.0), start=1):
        with torch.no_grad():
            p.weight.fill_(value)
        ema.update(step, scale=1.0)  # EMA every step
        swa.update(step, scale=0.5)  # SWA every 2nd step of the warm-down: 4 and 8
    assert torch.allclose(ema.avg[0], torch.full((2, 2), 6.125))  # 0 -> 1 -> 2.5 -> 4.25 -> 6.125
    assert torch.allclose(swa.avg[0], torch.full((2, 2), 6.0))
    swa.apply()
    assert torch.equal(p.weight, torch.full((2, 2), 6.0))
    with pytest.raises(ValueError, match="AVERAGING"):
        Averager(p, "mean", 0.5, 1)


@pytest.mark.parametrize(("preset", "expected"), [
    ("baseline", "9 512 8 4 2.0 relu2 0 1024 524288 none False 6 0 False"),
    ("pr1250", "11 512 8 8 3.5 leaky_relu2 3072 2048 786432 ema True 5 64 True"),
])
def test_one_env_var_selects_a_preset(preset, expected):
    import subprocess
    import sys

    fields = ("num_layers model_dim num_heads num_kv_heads mlp_mult mlp_act bigram_vocab_size train_seq_len "
              "train_batch_tokens averaging gptq_enabled quant_bits eval_stride ttt_enabled")
    code = f"from reference.config import Hyperparameters as H; print(*(getattr(H, f) for f in {fields.split()!r}))"
    env = {"PATH": "", "PRESET": preset}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == expected.split()
    override = subprocess.run([sys.executable, "-c", code], env={**env, "NUM_KV_HEADS": "2"}, capture_output=True,
                              text=True, check=True).stdout
    assert override.split()[3] == "2"
    bad = subprocess.run([sys.executable, "-c", code], env={"PRESET": "gpt5"}, capture_output=True, text=True)
    assert bad.returncode != 0 and "PRESET='gpt5'" in bad.stderr


def test_self_generated_calibration_reads_no_data():
    from reference.train import sample_sequences

    torch.manual_seed(0)
    model = GPT(64, 1, 32, 4, 2, 2.0).eval()
    a = sample_sequences(model, 3, 20, 1, 0.8, seed=5, device=torch.device("cpu"))
    b = sample_sequences(model, 3, 20, 1, 0.8, seed=5, device=torch.device("cpu"))
    assert a.shape == (3, 20) and torch.equal(a, b) and (a[:, 0] == 1).all()
    assert 0 <= int(a.min()) and int(a.max()) < 64 and len(set(a[:, 1:].flatten().tolist())) > 5
