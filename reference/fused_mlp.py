"""Fused MLP for the reference trainer: down(act(up(x))) with act = relu(x)^2 or leaky_relu(x, 0.5)^2.

Literate order: plain PyTorch reference -> Triton matmul kernel with fused prologue/epilogue -> launcher ->
custom ops (forward, backward, fake impls, autograd) -> nn.Module. Tests: tests/reference/test_fused_mlp.py
(CPU through TRITON_INTERPRET=1); speed: scripts/bench_mlp.py. Matmul tiling follows the Triton matmul tutorial
(grouped program ordering for L2 reuse); the split of the activation into "sign part" and square follows from
d/dp leaky(p)^2 being expressible from leaky(p) alone.

Why this shape: the MLP's projections have a short inner dimension (512), so the (tokens, hidden) intermediates
cost as much memory traffic as the matmuls cost compute. We keep ONE such tensor per layer for the backward,
s = leaky(pre) (slope 0 for relu^2, 0.5 for leaky^2), written by the up-projection's epilogue:
  h        = s * s                      (squared in the prologue of every matmul that reads h)
  dh/dpre  = 2s where s > 0, else s     (relu: s = 0 there; leaky: d(0.25 p^2)/dp = 0.5 p = s)
so pre, h and dh are never materialized: the backward's first matmul multiplies dy @ W_down by dh/dpre in its
epilogue. With recompute_h=False the forward also writes h and the h-reading matmuls become plain cuBLAS calls
(scripts/bench_mlp.py measures both).
"""

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the plain PyTorch path is used
    triton = None
    tl = None

MLP_ACT_SLOPES = {"relu2": 0.0, "leaky_relu2": 0.5}


# ----------------------------------------------------------------------------------------------------------------
# Plain PyTorch reference (the CPU path and the ground truth of the tests)


def mlp_activation(pre: Tensor, act: str) -> Tensor:
    """relu(pre)^2 or leaky_relu(pre, 0.5)^2."""
    s = F.leaky_relu(pre, MLP_ACT_SLOPES[act]) if act == "leaky_relu2" else F.relu(pre)
    return s.square()


def mlp_reference(x: Tensor, w_up: Tensor, w_down: Tensor, act: str) -> Tensor:
    """down(act(up(x))) with nn.Linear weight layouts: w_up (hidden, dim), w_down (dim, hidden)."""
    return F.linear(mlp_activation(F.linear(x, w_up), act), w_down)  # (..., hidden) -> (..., dim)


# ----------------------------------------------------------------------------------------------------------------
# Triton kernel: C = A @ B with optional squaring of A and an activation epilogue

MLP_EPI_NONE, MLP_EPI_ACT, MLP_EPI_DACT = 0, 1, 2


def mlp_interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def mlp_autotune_configs() -> list:
    if mlp_interpreting():  # one small tile: the interpreter runs every config, and tests use odd, tiny shapes
        return [triton.Config({"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": 16, "GROUP_M": 2})]
    # Hopper: wgmma wants 64-row multiples per warpgroup; 128x256 tiles with 8 warps suit K=512/1536 well.
    shapes = [(128, 256, 64, 3, 8), (128, 128, 64, 4, 4), (128, 128, 64, 4, 8), (64, 256, 64, 4, 4),
              (256, 128, 64, 3, 8), (128, 64, 64, 4, 4), (128, 128, 128, 3, 8)]
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_stages=st, num_warps=nw)
            for bm, bn, bk, st, nw in shapes]


if triton is not None:

    @triton.autotune(configs=mlp_autotune_configs(),
                     key=["M", "N", "K", "SQUARE_A", "EPILOGUE", "STORE_H", "SPLIT_K"])
    @triton.heuristics({"EVEN_K": lambda args: args["K"] % (args["BLOCK_K"] * args["SPLIT_K"]) == 0,
                        "EVEN_M": lambda args: args["M"] % args["BLOCK_M"] == 0,
                        "EVEN_N": lambda args: args["N"] % args["BLOCK_N"] == 0})
    @triton.jit
    def mlp_matmul_kernel(a_ptr, b_ptr, c_ptr, aux_ptr, h_ptr, M, N, K,
                          stride_am, stride_ak, stride_bk, stride_bn, stride_cs, stride_cm, stride_cn,
                          slope,
                          SQUARE_A: tl.constexpr, EPILOGUE: tl.constexpr,
                          STORE_H: tl.constexpr, SPLIT_K: tl.constexpr, PRECISION: tl.constexpr, DOT_FP32: tl.constexpr,
                          EVEN_K: tl.constexpr, EVEN_M: tl.constexpr, EVEN_N: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
        # Grouped ordering: GROUP_M row-blocks share each column-block of B while it sits in L2.
        pid = tl.program_id(0)
        pid_k = tl.program_id(1)  # split-K slice: partial sums go to c_ptr[pid_k]
        num_pid_m = tl.cdiv(M, BLOCK_M)
        num_pid_n = tl.cdiv(N, BLOCK_N)
        group = GROUP_M * num_pid_n
        first_m = (pid // group) * GROUP_M
        group_m = min(num_pid_m - first_m, GROUP_M)
        pid_m = first_m + (pid % group) % group_m
        pid_n = (pid % group) // group_m

        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        # Rows/columns past a ragged edge are wrapped instead of masked (loads stay unmasked; the masked store drops
        # their results). Aligned edges skip the modulo, so the compiler still sees contiguous, vectorizable rows
        # (transposed operands are contiguous along M or N).
        ram = rm if EVEN_M else rm % M
        rbn = rn if EVEN_N else rn % N
        k_tiles = tl.cdiv(K, BLOCK_K * SPLIT_K)  # K tiles per split
        rk = pid_k * k_tiles * BLOCK_K + tl.arange(0, BLOCK_K)
        a_ptrs = a_ptr + ram[:, None] * stride_am + rk[None, :] * stride_ak
        b_ptrs = b_ptr + rk[:, None] * stride_bk + rbn[None, :] * stride_bn

        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        k_end = tl.minimum(K, (pid_k + 1) * k_tiles * BLOCK_K)
        for kt in range(0, k_tiles):
            if EVEN_K:
                a = tl.load(a_ptrs)
                b = tl.load(b_ptrs)
            else:
                k_left = k_end - (pid_k * k_tiles + kt) * BLOCK_K
                a = tl.load(a_ptrs, mask=tl.arange(0, BLOCK_K)[None, :] < k_left, other=0.0)
                b = tl.load(b_ptrs, mask=tl.arange(0, BLOCK_K)[:, None] < k_left, other=0.0)
            if DOT_FP32:  # Triton 3.9's interpreter gets bf16 arithmetic and tl.dot wrong; fp32 is right there
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            if SQUARE_A:  # h = s^2 rebuilt from the saved s; A may feed wgmma from registers, B may not
                a = a * a
            acc = tl.dot(a, b, acc, input_precision=PRECISION)
            a_ptrs += BLOCK_K * stride_ak
            b_ptrs += BLOCK_K * stride_bk

        c_off = rm[:, None] * stride_cm + rn[None, :] * stride_cn
        c_mask = (rm[:, None] < M) & (rn[None, :] < N)
        if EPILOGUE == 1:  # forward up-projection: store s = leaky(pre), optionally h = s^2
            s = tl.where(acc > 0, acc, acc * slope).to(c_ptr.dtype.element_ty)
            tl.store(c_ptr + c_off, s, mask=c_mask)
            if STORE_H:  # square the stored (rounded) s, as the recompute path does
                s32 = s.to(tl.float32)
                tl.store(h_ptr + c_off, (s32 * s32).to(c_ptr.dtype.element_ty), mask=c_mask)
        elif EPILOGUE == 2:  # backward: dpre = (dy @ W_down) * dh/dpre, dh/dpre from the saved s
            s = tl.load(aux_ptr + c_off, mask=c_mask, other=0.0).to(tl.float32)
            dact = tl.where(s > 0, 2.0 * s, s)
            tl.store(c_ptr + c_off, (acc * dact).to(c_ptr.dtype.element_ty), mask=c_mask)
        else:
            tl.store(c_ptr + pid_k * stride_cs + c_off, acc.to(c_ptr.dtype.element_ty), mask=c_mask)


# ----------------------------------------------------------------------------------------------------------------
# Launcher


def mlp_split_k(m: int, n: int, k: int) -> int:
    """Split the long inner dimension of weight gradients (K = tokens) so that the few output tiles fill the GPU."""
    if mlp_interpreting() or k < 8192:
        return 1 if k < 64 else 2  # the interpreter still exercises the split path on small shapes
    tiles = triton.cdiv(m, 128) * triton.cdiv(n, 128)
    sms = torch.cuda.get_device_properties().multi_processor_count
    return max(1, min(k // 4096, triton.cdiv(2 * sms, tiles)))


def mlp_matmul(a: Tensor, b: Tensor, *, square_a: bool = False, epilogue: int = MLP_EPI_NONE,
               aux: Tensor | None = None, slope: float = 0.0, store_h: bool = False,
               split_k: int = 1) -> tuple[Tensor, Tensor | None]:
    """(M, K) @ (K, N) in a's dtype with fp32 accumulation; a and b may be any strided views (transposes are free)."""
    (m, k), n = a.shape, b.shape[1]
    assert b.shape[0] == k and a.dtype == b.dtype
    assert max(a.numel(), b.numel(), m * n) < 2**31, "int32 offsets in the kernel: split the call"
    if epilogue != MLP_EPI_NONE:
        split_k = 1
    out_dtype = torch.float32 if split_k > 1 else a.dtype
    c = torch.empty((split_k, m, n), device=a.device, dtype=out_dtype)
    h = torch.empty((m, n), device=a.device, dtype=a.dtype) if store_h else c
    precision = "ieee" if a.dtype == torch.float32 else "tf32"
    dot_fp32 = mlp_interpreting() and a.dtype == torch.bfloat16

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(n, meta["BLOCK_N"]), split_k)

    mlp_matmul_kernel[grid](a, b, c, aux if aux is not None else c, h, m, n, k,
                            a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1), c.stride(2),
                            slope, SQUARE_A=square_a, EPILOGUE=epilogue, STORE_H=store_h,
                            SPLIT_K=split_k, PRECISION=precision if not dot_fp32 else "ieee", DOT_FP32=dot_fp32)
    out = c.sum(0).to(a.dtype) if split_k > 1 else c[0]
    return out, (h if store_h else None)


# ----------------------------------------------------------------------------------------------------------------
# Custom ops: opaque to torch.compile (fake impls give shapes), differentiable through register_autograd


# CPU tensors take the kernels only when this is set AND TRITON_INTERPRET=1 (the tests do): interpreting is far
# too slow for CPU training, so TRITON_INTERPRET alone does not switch a CPU run onto the kernels.
MLP_KERNELS_ON_CPU = False


def mlp_use_kernels(x: Tensor) -> bool:
    return triton is not None and (x.is_cuda or (MLP_KERNELS_ON_CPU and mlp_interpreting()))


@torch.library.custom_op("pgolf_ref::fused_mlp_fwd", mutates_args=())
def fused_mlp_fwd(x: Tensor, w_up: Tensor, w_down: Tensor, act: str,
                  recompute_h: bool) -> tuple[Tensor, Tensor, Tensor]:
    """x (M, dim) -> (y (M, dim), s (M, hidden), h (M, hidden) or an empty tensor when recompute_h)."""
    slope = MLP_ACT_SLOPES[act]
    if not mlp_use_kernels(x):
        s = F.leaky_relu(x @ w_up.t(), slope)
        h = s * s
        return h @ w_down.t(), s, (h.new_empty(0) if recompute_h else h)
    s, h = mlp_matmul(x, w_up.t(), epilogue=MLP_EPI_ACT, slope=slope, store_h=not recompute_h)
    if recompute_h:
        y, _ = mlp_matmul(s, w_down.t(), square_a=True)
        return y, s, s.new_empty(0)
    return h @ w_down.t(), s, h


@fused_mlp_fwd.register_fake
def fused_mlp_fwd_fake(x: Tensor, w_up: Tensor, w_down: Tensor, act: str, recompute_h: bool):
    m, hidden = x.shape[0], w_up.shape[0]
    s = x.new_empty((m, hidden))
    return x.new_empty((m, w_down.shape[0])), s, (x.new_empty(0) if recompute_h else x.new_empty((m, hidden)))


@torch.library.custom_op("pgolf_ref::fused_mlp_bwd", mutates_args=())
def fused_mlp_bwd(dy: Tensor, x: Tensor, w_up: Tensor, w_down: Tensor, s: Tensor,
                  h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (dx, dw_up, dw_down) from the saved s (and h, when the forward stored it)."""
    dy = dy.contiguous()
    if not mlp_use_kernels(dy):
        dpre = (dy @ w_down) * torch.where(s > 0, 2 * s, s)
        hh = s * s if h.numel() == 0 else h
        return dpre @ w_up, dpre.t() @ x, dy.t() @ hh
    dpre, _ = mlp_matmul(dy, w_down, epilogue=MLP_EPI_DACT, aux=s)  # (M, hidden), dh never materialized
    if h.numel() == 0:  # dw_down^T = h^T @ dy: h as the (squared) A operand
        m, d = dy.shape
        dw_down_t, _ = mlp_matmul(s.t(), dy, square_a=True, split_k=mlp_split_k(s.shape[1], d, m))
        dw_down = dw_down_t.t().contiguous()
    else:
        dw_down = dy.t() @ h
    return dpre @ w_up, dpre.t() @ x, dw_down


@fused_mlp_bwd.register_fake
def fused_mlp_bwd_fake(dy: Tensor, x: Tensor, w_up: Tensor, w_down: Tensor, s: Tensor, h: Tensor):
    return torch.empty_like(x), torch.empty_like(w_up), torch.empty_like(w_down)


def fused_mlp_setup_context(ctx, inputs, output) -> None:
    x, w_up, w_down, _, _ = inputs
    _, s, h = output
    ctx.save_for_backward(x, w_up, w_down, s, h)


def fused_mlp_backward(ctx, dy: Tensor, _ds: Tensor, _dh: Tensor):
    x, w_up, w_down, s, h = ctx.saved_tensors
    dx, dw_up, dw_down = fused_mlp_bwd(dy, x, w_up, w_down, s, h)
    return dx, dw_up, dw_down, None, None


fused_mlp_fwd.register_autograd(fused_mlp_backward, setup_context=fused_mlp_setup_context)


# ----------------------------------------------------------------------------------------------------------------
# Module


class FusedMLP(nn.Module):
    """MLP block whose up/down weights live in nn.Linear modules (GPTQ hooks and state_dict keys see plain Linears).

    The Triton path runs on CUDA (on CPU only in the interpreter tests); FUSED_MLP=0 in the environment, or
    `module.use_triton = False`, forces the plain PyTorch path; FUSED_MLP_STORE_H=1 (or `recompute_h = False`)
    picks the store-h variant, whichever scripts/bench_mlp.py finds faster on the card. Under CUDA autocast the
    kernels run in the autocast dtype; otherwise in x's dtype (weights are cast to it, grads flow back through
    the cast).
    """

    def __init__(self, dim: int, hidden: int, act: str = "relu2") -> None:
        super().__init__()
        if act not in MLP_ACT_SLOPES:
            raise ValueError(f"unknown MLP activation {act!r}; expected one of {sorted(MLP_ACT_SLOPES)}")
        self.act = act
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.use_triton = os.environ.get("FUSED_MLP", "1") != "0"
        # FUSED_MLP_STORE_H=1: the forward also stores h (more memory, cuBLAS for the two matmuls reading h)
        self.recompute_h = os.environ.get("FUSED_MLP_STORE_H", "0") != "1"

    def forward(self, x: Tensor) -> Tensor:
        if not (self.use_triton and mlp_use_kernels(x)):
            # Through the Linear modules (not mlp_reference) so that forward hooks (GPTQ's Hessians) see inputs.
            return self.down(mlp_activation(self.up(x), self.act))
        dtype = torch.get_autocast_dtype("cuda") if x.is_cuda and torch.is_autocast_enabled("cuda") else x.dtype
        with torch.autocast(x.device.type, enabled=False):
            x2 = x.reshape(-1, x.shape[-1]).to(dtype)
            y, _, _ = fused_mlp_fwd(x2, self.up.weight.to(dtype), self.down.weight.to(dtype), self.act,
                                    self.recompute_h)
        return y.reshape(*x.shape[:-1], y.shape[-1])
