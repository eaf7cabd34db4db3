"""GPTQ and round-to-nearest quantization of Linear weights to signed b-bit codes with one scale per output row.

GPTQ (Frantar et al., 2022, arXiv:2210.17323; algorithm as in IST-DASLab/gptq): quantize a weight matrix column
by column, pushing each column's rounding error onto the not-yet-quantized columns through the inverse Hessian
of the layer's inputs, H = E[x x^T], so the layer's OUTPUT error on calibration inputs stays small. Damping,
the upper Cholesky factor of H^-1, blocked lazy updates and optional activation order follow the reference.
Calibration batches must come from training data or model-generated tokens, never from validation data.
Tests: tests/reference/test_gptq.py.
"""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

# Clip ratios tried for each row's scale (the one with least squared rounding error wins); shared by GPTQ and
# RTN so that comparisons between them isolate the error propagation.
QUANT_CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)


def quant_max_code(bits: int) -> int:
    """Largest code of the symmetric range [-qmax, qmax] (31 for int6, 127 for int8)."""
    return 2 ** (bits - 1) - 1


def row_scales(W: Tensor, *, bits: int) -> Tensor:
    """Per-row scales (fp16-representable, as stored) minimizing each row's round-to-nearest squared error."""
    W = W.float()
    qmax = quant_max_code(bits)
    amax = W.abs().amax(dim=1).clamp_min(1e-8)  # (rows,)
    best_scale, best_err = None, None
    for ratio in QUANT_CLIP_RATIOS:
        scale = (amax * ratio / qmax).half().float().clamp_min(2**-24)  # stored as fp16: quantize with that value
        err = (torch.clamp(torch.round(W / scale[:, None]), -qmax, qmax) * scale[:, None] - W).square().sum(dim=1)
        if best_err is None:
            best_scale, best_err = scale, err
        else:
            better = err < best_err
            best_scale, best_err = torch.where(better, scale, best_scale), torch.minimum(err, best_err)
    return best_scale.half()


def dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """Codes (rows, cols) int8 and scales (rows,) -> float32 weights."""
    return q.float() * scale.float()[:, None]


def rtn_quantize(W: Tensor, *, bits: int) -> tuple[Tensor, Tensor]:
    """Round-to-nearest baseline: (int8 codes, fp16 per-row scales)."""
    scale = row_scales(W, bits=bits)
    qmax = quant_max_code(bits)
    q = torch.clamp(torch.round(W.float() / scale.float()[:, None]), -qmax, qmax)
    return q.to(torch.int8), scale


def gptq_inverse_hessian_factor(H: Tensor, damp: float) -> Tensor:
    """Upper Cholesky factor of (H + damp*mean(diag H)*I)^-1: row i holds the update coefficients for columns i..
    after fixing column i. Damping grows tenfold while the factorization fails (too few calibration tokens)."""
    mean_diag = torch.diag(H).mean()
    for attempt in range(4):
        damped = H + (damp * 10**attempt) * mean_diag * torch.eye(len(H), device=H.device)
        L, info = torch.linalg.cholesky_ex(damped)
        if info == 0:
            return torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)
    raise ValueError(f"Hessian not positive definite even with damping {damp * 1000:g}")


def gptq_quantize(W: Tensor, H: Tensor, *, bits: int = 6, damp: float = 0.01, block_size: int = 128,
                  act_order: bool = False) -> tuple[Tensor, Tensor]:
    """GPTQ of W (rows, cols) given H (cols, cols) = sum of x x^T over calibration inputs: (int8 codes, fp16 scales)."""
    W = W.detach().float().clone()
    H = H.detach().float().clone()
    cols = W.shape[1]
    qmax = quant_max_code(bits)
    scale = row_scales(W, bits=bits)
    s = scale.float()

    dead = torch.diag(H) == 0  # inputs that never fire: their weights cannot matter
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    perm = torch.argsort(torch.diag(H), descending=True) if act_order else None
    if perm is not None:  # quantize columns with the largest input energy first
        W, H = W[:, perm], H[perm][:, perm]
    Hinv = gptq_inverse_hessian_factor(H, damp)

    Q = torch.zeros_like(W)
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            w = W1[:, i]
            q = torch.clamp(torch.round(w / s), -qmax, qmax)
            Q[:, i1 + i] = q
            err = (w - q * s) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] * Hinv1[i, i:][None, :]
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]  # lazy batch update of the columns after this block

    if perm is not None:
        Q = Q[:, torch.argsort(perm)]
    return Q.to(torch.int8), scale


def default_hessian_filter(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear)


def collect_hessians(model: nn.Module, batches: Iterable,
                     *, include: Callable[[str, nn.Module], bool] = default_hessian_filter) -> dict[str, Tensor]:
    """H = sum over calibration tokens of x x^T (float32, on the weight's device) for every included module.

    Each batch is passed as model(batch) (model(*batch) for a tuple/list). Modules with a `use_triton` switch
    (FusedMLP) run their plain path meanwhile, so that their Linear submodules see their inputs.
    """
    hessians: dict[str, Tensor] = {}
    handles, switched = [], []

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).float()
            if name not in hessians:
                hessians[name] = torch.zeros(x.shape[1], x.shape[1], device=x.device)
            hessians[name].addmm_(x.t(), x)
        return hook

    for name, module in model.named_modules():
        if include(name, module):
            handles.append(module.register_forward_hook(make_hook(name)))
        if getattr(module, "use_triton", False):
            module.use_triton = False
            switched.append(module)
    try:
        with torch.no_grad():
            for batch in batches:
                model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    finally:
        for handle in handles:
            handle.remove()
        for module in switched:
            module.use_triton = True
    return hessians
