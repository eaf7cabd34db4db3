"""Fused MLP kernels against the plain PyTorch path: forward and every gradient.

On CPU the kernels run in Triton's interpreter (conftest sets TRITON_INTERPRET=1) on small odd shapes at fp32
tolerance; the bf16 tests at the trainer's shapes need CUDA.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from reference import fused_mlp  # noqa: E402
from reference.fused_mlp import FusedMLP, fused_mlp_bwd, fused_mlp_fwd, mlp_matmul, mlp_reference  # noqa: E402

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
@pytest.mark.parametrize("recompute_h", [True, False])
@pytest.mark.parametrize("shape", [(3, 13, 19, 45), (1, 37, 33, 17)])  # (batch, seq, dim, hidden), none aligned
def test_forward_and_gradients_match_plain_path(act, recompute_h, shape):
    b, t, dim, hidden = shape
    torch.manual_seed(0)
    module = FusedMLP(dim, hidden, act).to(DEVICE)
    module.recompute_h = recompute_h
    x = torch.randn(b, t, dim, device=DEVICE)
    dy = torch.randn(b, t, dim, device=DEVICE)
    fused = grads_of(module, x, dy, fused=True)
    plain = grads_of(module, x, dy, fused=False)
    for name, got, want in zip(["y", "dx", "dw_up", "dw_down"], fused, plain):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")


def relative_errors(got, want) -> dict[str, float]:
    return {name: ((g.float() - w).norm() / w.norm()).item()
            for name, g, w in zip(["y", "dx", "dw_up", "dw_down"], got, want)}


@pytest.mark.parametrize("recompute_h", [True, False])
def test_bf16_kernels_against_fp32_ground_truth(recompute_h):
    # On CPU this checks the bf16 plumbing (casts, stores, saved tensors): Triton 3.9's interpreter rounds
    # fp32 -> bf16 toward zero (GPUs round to nearest), so its errors run about twice a GPU's.
    torch.manual_seed(5)
    module = FusedMLP(40, 72, "leaky_relu2").to(DEVICE)
    module.recompute_h = recompute_h
    x = torch.randn(3, 11, 40, device=DEVICE).bfloat16()
    dy = torch.randn(3, 11, 40, device=DEVICE).bfloat16()
    fused = grads_of(module, x, dy, fused=True)
    assert fused[0].dtype == torch.bfloat16 and fused[2].dtype == torch.float32  # fp32 master weights get grads
    ref = FusedMLP(40, 72, "leaky_relu2").to(DEVICE)
    ref.up.weight.data, ref.down.weight.data = (module.up.weight.data.bfloat16().float(),
                                                module.down.weight.data.bfloat16().float())
    errors = relative_errors(fused, grads_of(ref, x.float(), dy.float(), fused=False))
    assert max(errors.values()) < 3e-2, errors


def test_fused_path_really_runs_the_kernels(monkeypatch):
    calls = []
    real = fused_mlp.mlp_matmul
    monkeypatch.setattr(fused_mlp, "mlp_matmul", lambda *a, **k: calls.append(k) or real(*a, **k))
    module = FusedMLP(19, 45, "leaky_relu2").to(DEVICE)
    module(torch.randn(2, 5, 19, device=DEVICE, requires_grad=True)).sum().backward()
    epilogues = [k.get("epilogue", 0) for k in calls]
    assert epilogues.count(fused_mlp.MLP_EPI_ACT) == 1 and epilogues.count(fused_mlp.MLP_EPI_DACT) == 1
    assert sum(k.get("square_a", False) for k in calls) == 2  # h is rebuilt from s, never stored


@pytest.mark.parametrize("split_k", [1, 3])
@pytest.mark.parametrize("square_a", [True, False])
@pytest.mark.parametrize("m, k, n", [(29, 83, 41), (32, 96, 64)])  # ragged edges; edges aligned to the CPU tile
def test_matmul_kernel_with_square_and_split_k(split_k, square_a, m, k, n):
    torch.manual_seed(1)
    a = torch.randn(k, m, device=DEVICE).t()  # transposed views: strides are honoured
    b = torch.randn(n, k, device=DEVICE).t()
    out, _ = mlp_matmul(a, b, square_a=square_a, split_k=split_k)
    want = (a.square() if square_a else a) @ b
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)


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
    module = FusedMLP(19, 45, "leaky_relu2").to(DEVICE)
    x = torch.randn(2, 7, 19, device=DEVICE, requires_grad=True)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    y = compiled(x)
    y.sum().backward()
    torch.testing.assert_close(y, mlp_reference(x, module.up.weight, module.down.weight, "leaky_relu2"),
                               rtol=1e-4, atol=1e-5)
    assert x.grad is not None and module.up.weight.grad is not None


def test_custom_ops_pass_opcheck():
    torch.manual_seed(3)
    x, w_up, w_down = (torch.randn(s, device=DEVICE) for s in [(11, 19), (45, 19), (19, 45)])
    torch.library.opcheck(fused_mlp_fwd, (x, w_up, w_down, "relu2", True))
    s = torch.relu(x @ w_up.t())
    torch.library.opcheck(fused_mlp_bwd, (torch.randn(11, 19, device=DEVICE), x, w_up, w_down, s, s.new_empty(0)))


# ---------------------------------------------------------------------------------------------------------------
# GPU: bf16 at the trainer's shapes (tokens x 512 -> 1536 / 1792 -> 512)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("hidden", [1536, 1792])
@pytest.mark.parametrize("act", ["relu2", "leaky_relu2"])
@pytest.mark.parametrize("recompute_h", [True, False])
def test_bf16_real_shapes_on_gpu(hidden, act, recompute_h):
    torch.manual_seed(4)
    module = FusedMLP(512, hidden, act).cuda()
    module.recompute_h = recompute_h
    x = torch.randn(8, 1024, 512, device="cuda", dtype=torch.bfloat16)
    dy = torch.randn_like(x) * 1e-2
    fused = grads_of(module, x, dy, fused=True)  # bf16 kernels (weights cast to x's dtype)
    ref_module = FusedMLP(512, hidden, act).cuda()  # fp32 ground truth from the same bf16-rounded values
    ref_module.up.weight.data = module.up.weight.data.bfloat16().float()
    ref_module.down.weight.data = module.down.weight.data.bfloat16().float()
    errors = relative_errors(fused, grads_of(ref_module, x.float(), dy.float(), fused=False))
    assert max(errors.values()) < 1e-2, errors  # bf16 rounding of y, s and dpre: ~4e-3 expected


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


def test_store_h_variant_from_the_environment(monkeypatch):
    assert FusedMLP(8, 16).recompute_h
    monkeypatch.setenv("FUSED_MLP_STORE_H", "1")
    assert not FusedMLP(8, 16).recompute_h
