"""GPTQ against round-to-nearest: codes, the Hessian collector, and held-out error on a synthetic layer and a
trained toy LM."""

import copy

import pytest

torch = pytest.importorskip("torch")

from reference.artifact import dequantize_state, quantize_model  # noqa: E402
from reference.fused_mlp import FusedMLP  # noqa: E402
from reference.gptq import collect_hessians, dequantize, gptq_quantize, rtn_quantize  # noqa: E402


def correlated_inputs(n: int, dim: int, *, seed: int):
    """Rows x = z @ A with column energies spread 40x: the anisotropy GPTQ exploits."""
    a = torch.randn(dim, dim, generator=torch.Generator().manual_seed(5)) * torch.linspace(0.05, 2, dim)[:, None]
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) @ a


def output_error(x, w, w_q) -> float:
    return (x @ (w - w_q).t()).square().sum().item()


@pytest.mark.parametrize("bits", [6, 8])
def test_codes_are_int8_in_range_with_one_fp16_scale_per_row(bits):
    w = torch.randn(24, 40) * 3
    for q, scale in [rtn_quantize(w, bits=bits), gptq_quantize(w, torch.eye(40), bits=bits)]:
        qmax = 2 ** (bits - 1) - 1
        assert q.dtype == torch.int8 and q.shape == w.shape and int(q.abs().max()) <= qmax
        assert scale.dtype == torch.float16 and scale.shape == (24,)
        assert (dequantize(q, scale) - w).abs().max() < scale.float().max() * qmax * 0.5  # clipped at most 30%


def test_identity_hessian_means_no_error_propagation():
    w = torch.randn(16, 72)
    assert torch.equal(gptq_quantize(w, torch.eye(72), block_size=32)[0], rtn_quantize(w, bits=6)[0])


@pytest.mark.parametrize("act_order", [False, True])
@pytest.mark.parametrize("block_size", [128, 32])
def test_gptq_cuts_held_out_output_error_of_a_correlated_layer(act_order, block_size):
    w = torch.randn(48, 96, generator=torch.Generator().manual_seed(1))
    calib, held_out = correlated_inputs(2048, 96, seed=2), correlated_inputs(1024, 96, seed=3)
    q, scale = gptq_quantize(w, calib.t() @ calib, bits=6, act_order=act_order, block_size=block_size)
    rtn = output_error(held_out, w, dequantize(*rtn_quantize(w, bits=6)))
    assert output_error(held_out, w, dequantize(q, scale)) < 0.5 * rtn  # measured ~0.35-0.37


def test_dead_inputs_do_not_break_the_factorization():
    x = correlated_inputs(512, 32, seed=4)
    x[:, 7] = 0.0
    q, scale = gptq_quantize(torch.randn(8, 32), x.t() @ x)
    assert torch.isfinite(scale.float()).all() and (q[:, 7] == 0).all()


def test_collect_hessians_sums_outer_products_of_linear_inputs():
    mlp = FusedMLP(12, 20, act="leaky_relu2")
    batches = [torch.randn(3, 5, 12) for _ in range(2)]
    hessians = collect_hessians(mlp, batches)
    assert set(hessians) == {"up", "down"} and mlp.use_triton  # the kernel switch is restored
    x = torch.cat([b.reshape(-1, 12) for b in batches])
    torch.testing.assert_close(hessians["up"], x.t() @ x)
    h = torch.nn.functional.leaky_relu(x @ mlp.up.weight.t(), 0.5).square()
    torch.testing.assert_close(hessians["down"], h.t() @ h, rtol=1e-4, atol=1e-4)
    only_up = collect_hessians(mlp, batches, include=lambda name, mod: name == "up")
    assert set(only_up) == {"up"}


# ---------------------------------------------------------------------------------------------------------------
# A trained toy LM: calibration on training tokens, errors measured on held-out tokens


def with_quantized_linears(model, hessians, bits: int = 6):
    """A copy whose MLP Linears (only) are quantized: the loss increase isolates the Linears' quantizer."""
    quantized = dequantize_state(quantize_model(model, hessians, bits=bits))
    state = model.state_dict()
    state.update({k: quantized[k] for k in ["mlp.up.weight", "mlp.down.weight"]})
    copy_ = copy.deepcopy(model)
    copy_.load_state_dict(state)
    return copy_


def test_gptq_beats_rtn_on_a_trained_toy_lm(trained_toy_lm):
    from toy_lm import toy_loss

    model, train, held_out = trained_toy_lm
    hessians = collect_hessians(model, [train[i:i + 128, :-1] for i in range(0, 512, 128)])  # training tokens
    held_h = collect_hessians(model, [held_out[:, :-1]])
    gptq_model, rtn_model = with_quantized_linears(model, hessians), with_quantized_linears(model, None)

    for name in ["mlp.up", "mlp.down"]:  # squared output error on held-out activations: tr(dW H dW^T)
        w = model.get_submodule(name).weight.detach()
        gptq_err, rtn_err = (torch.trace((w - wq) @ held_h[name] @ (w - wq).t())
                             for wq in (m.get_submodule(name).weight.detach() for m in (gptq_model, rtn_model)))
        assert gptq_err < 0.85 * rtn_err, name  # measured 0.73 (up), 0.43 (down)

    base = toy_loss(model, held_out)
    increase_gptq, increase_rtn = toy_loss(gptq_model, held_out) - base, toy_loss(rtn_model, held_out) - base
    assert 0 < increase_gptq < 0.9 * increase_rtn  # measured 6.0e-4 vs 7.5e-4 nats/token
    increase_int8 = toy_loss(with_quantized_linears(model, None, bits=8), held_out) - base
    assert abs(increase_int8) < 0.25 * increase_gptq  # the int8 round-to-nearest baseline is near lossless


def test_rank_deficient_hessian_is_rescued_by_more_damping():
    torch.manual_seed(0)
    x = torch.randn(4, 64)  # 4 calibration tokens for 64 inputs: H has rank 4, Cholesky fails at damp 1e-9
    q, scale = gptq_quantize(torch.randn(8, 64), x.t() @ x, damp=1e-9)
    assert torch.isfinite(dequantize(q, scale)).all()
