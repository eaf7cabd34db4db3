"""Fused MLP kernels against the plain PyTorch path: forward and every gradient.

On CPU the kernels run in Triton's interpreter (conftest sets TRITON_INTERPRET=1) on small odd shapes at fp32
tolerance; the bf16 tests at the trainer's shapes need CUDA.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from reference import fused_mlp  # noqa: E402
from reference.fused_mlp import FusedMLP, fused_mlp_bwd, fused_mlp_fwd, mlp_reference  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def kernels_on_cpu(monkeypatch):
    monkeypatch.setattr(fused_mlp, "MLP_KERNELS_ON_CPU", True)


def grads_of(module: FusedMLP, x, dy, *, fused: bool):
    module.use_triton = fused
    module.zero_grad()
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    y.backward(dy)
    return y.detach(), x.grad, module.up.weight.grad.clone(), module.down.weight.grad.clone()


@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
# (batch, seq, dim, hidden): odd token counts, rows of 16-byte multiples (TMA) but ragged against every tile
@pytest.mark.parametrize("shape", [(3, 13, 20, 44), (1, 37, 36, 76)])
def test_forward_and_gradients_match_plain_path(act, shape):
    b, t, dim, hidden = shape
    torch.manual_seed(0)
    module = FusedMLP(dim, hidden, act).to(DEVICE)
    x = torch.randn(b, t, dim, device=DEVICE)
    dy = torch.randn(b, t, dim, device=DEVICE)
    fused = grads_of(module, x, dy, fused=True)
    plain = grads_of(module, x, dy, fused=False)
    for name, got, want in zip(["y", "dx", "dw_up", "dw_down"], fused, plain):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")


def relative_errors(got, want) -> dict[str, float]:
    return {name: ((g.float() - w).norm() / w.norm()).item()
            for name, g, w in zip(["y", "dx", "dw_up", "dw_down"], got, want)}


@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
def test_bf16_kernels_against_fp32_ground_truth(act):
    # On CPU this checks the bf16 plumbing (casts, stores, saved tensors): Triton 3.9's interpreter rounds
    # fp32 -> bf16 toward zero (GPUs round to nearest), so its errors run about twice a GPU's.
    torch.manual_seed(5)
    module = FusedMLP(40, 72, act).to(DEVICE)
    x = torch.randn(3, 11, 40, device=DEVICE).bfloat16()
    dy = torch.randn(3, 11, 40, device=DEVICE).bfloat16()
    fused = grads_of(module, x, dy, fused=True)
    assert fused[0].dtype == torch.bfloat16 and fused[2].dtype == torch.float32  # fp32 master weights get grads
    ref = FusedMLP(40, 72, act).to(DEVICE)
    ref.up.weight.data, ref.down.weight.data = (module.up.weight.data.bfloat16().float(),
                                                module.down.weight.data.bfloat16().float())
    errors = relative_errors(fused, grads_of(ref, x.float(), dy.float(), fused=False))
    assert max(errors.values()) < 3e-2, errors


def test_fused_path_really_runs_the_kernels(monkeypatch):
    calls = []
    real = fused_mlp.mlp_gemm
    monkeypatch.setattr(fused_mlp, "mlp_gemm", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    module = FusedMLP(32, 64, "leaky_relu2").to(DEVICE)
    x = torch.randn(2, 5, 32, device=DEVICE, dtype=torch.bfloat16 if DEVICE == "cuda" else torch.float32)
    module(x.requires_grad_(True)).sum().backward()
    assert calls == [fused_mlp.MLP_EPI_ACT, fused_mlp.MLP_EPI_DACT]


@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
def test_saved_tensors_are_h_and_sign_bits(act):
    torch.manual_seed(1)
    x, w_up, w_down = (torch.randn(s, device=DEVICE) for s in [(29, 20), (76, 20), (20, 76)])
    _, h, signs = fused_mlp_fwd(x, w_up, w_down, act)
    pre = x @ w_up.t()
    torch.testing.assert_close(h, fused_mlp.mlp_activation(pre, act), rtol=1e-4, atol=1e-5)
    if act == "relu2":
        assert signs.shape == (29, 0)  # relu^2's backward needs no signs
    else:
        assert signs.shape == (29, 16)  # 76 bits -> 10 bytes, padded to 16
        assert torch.equal(fused_mlp.mlp_unpack_signs(signs, 76), pre < 0)


def test_sign_bits_round_trip_and_rebuild_the_derivative():
    torch.manual_seed(2)
    pre = torch.randn(5, 21)
    signs = fused_mlp.mlp_pack_signs(pre < 0, fused_mlp.mlp_sign_bytes(21, "leaky_relu2"))
    assert torch.equal(fused_mlp.mlp_unpack_signs(signs, 21), pre < 0)
    for act in fused_mlp.MLP_ACT_SLOPES:
        pre_ = pre.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(fused_mlp.mlp_activation(pre_, act).sum(), pre_)
        h = fused_mlp.mlp_activation(pre, act)
        torch.testing.assert_close(fused_mlp.mlp_dact(h, signs, act), want, rtol=1e-5, atol=1e-6)


def test_rows_that_tma_cannot_stride_take_the_plain_path():
    x = torch.zeros(1, device=DEVICE, dtype=torch.bfloat16 if DEVICE == "cuda" else torch.float32)
    assert fused_mlp.mlp_use_kernels(x, (32, 64))
    assert not fused_mlp.mlp_use_kernels(x, (30, 64)) and not fused_mlp.mlp_use_kernels(x, (32, 62))
    if DEVICE == "cuda":
        assert not fused_mlp.mlp_use_kernels(x.float(), (32, 64))  # fp32 on the GPU: cuBLAS beats ieee tl.dot
    module = FusedMLP(19, 45, "leaky_relu2")
    x = torch.randn(2, 3, 19)
    torch.testing.assert_close(module(x), mlp_reference(x, module.up.weight, module.down.weight, "leaky_relu2"))


def test_plain_path_when_forced_off_and_hooks_see_inputs(monkeypatch):
    monkeypatch.setenv("FUSED_MLP", "0")
    module = FusedMLP(19, 45)
    assert module.use_triton is False
    seen = []
    module.up.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape))
    x = torch.randn(2, 3, 19)
    torch.testing.assert_close(module(x), mlp_reference(x, module.up.weight, module.down.weight, "relu2"))
    assert seen == [torch.Size([2, 3, 19])]


def test_cpu_training_stays_on_plain_path_without_opt_in(monkeypatch):
    monkeypatch.setattr(fused_mlp, "MLP_KERNELS_ON_CPU", False)
    assert not fused_mlp.mlp_use_kernels(torch.zeros(1))


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown MLP activation"):
        FusedMLP(8, 16, act="gelu")


def test_torch_compile_traces_around_the_custom_op():
    torch.manual_seed(2)
    module = FusedMLP(20, 44, "leaky_relu2").to(DEVICE)
    x = torch.randn(2, 7, 20, device=DEVICE, requires_grad=True)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    y = compiled(x)
    y.sum().backward()
    torch.testing.assert_close(y, mlp_reference(x, module.up.weight, module.down.weight, "leaky_relu2"),
                               rtol=1e-4, atol=1e-5)
    assert x.grad is not None and module.up.weight.grad is not None


@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
def test_custom_ops_pass_opcheck(act):
    torch.manual_seed(3)
    x, w_up, w_down = (torch.randn(s, device=DEVICE) for s in [(11, 20), (44, 20), (20, 44)])
    torch.library.opcheck(fused_mlp_fwd, (x, w_up, w_down, act))
    _, h, signs = fused_mlp_fwd(x, w_up, w_down, act)
    torch.library.opcheck(fused_mlp_bwd, (torch.randn(11, 20, device=DEVICE), x, w_up, w_down, h, signs, act))


# ---------------------------------------------------------------------------------------------------------------
# GPU: bf16 at the trainer's shapes (tokens x 512 -> 1536 / 1792 -> 512)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("hidden", [1536, 1792])
@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
def test_bf16_real_shapes_on_gpu(hidden, act):
    torch.manual_seed(4)
    module = FusedMLP(512, hidden, act).cuda()
    x = torch.randn(8, 1024, 512, device="cuda", dtype=torch.bfloat16)
    dy = torch.randn_like(x) * 1e-2
    fused = grads_of(module, x, dy, fused=True)  # bf16 kernels (weights cast to x's dtype)
    ref_module = FusedMLP(512, hidden, act).cuda()  # fp32 ground truth from the same bf16-rounded values
    ref_module.up.weight.data = module.up.weight.data.bfloat16().float()
    ref_module.down.weight.data = module.down.weight.data.bfloat16().float()
    errors = relative_errors(fused, grads_of(ref_module, x.float(), dy.float(), fused=False))
    assert max(errors.values()) < 1e-2, errors  # bf16 rounding of y, h and dpre: ~4e-3 expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_autocast_and_inductor_on_gpu():
    torch.manual_seed(6)
    module = FusedMLP(512, 1792, "leaky_relu2").cuda()  # fp32 master weights, as the trainer keeps them
    x = torch.randn(4, 2048, 512, device="cuda")
    dy = torch.randn(4, 2048, 512, device="cuda", dtype=torch.bfloat16)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager = grads_of(module, x, dy, fused=True)
        compiled_module = torch.compile(module, fullgraph=True)
        module.zero_grad()
        xc = x.clone().requires_grad_(True)
        y = compiled_module(xc)
        y.backward(dy)
    assert eager[0].dtype == torch.bfloat16
    torch.testing.assert_close(y, eager[0])
    torch.testing.assert_close(xc.grad, eager[1])
    torch.testing.assert_close(module.up.weight.grad, eager[2])

