"""Fused Triton MLP vs eager and torch.compile'd PyTorch, forward and forward+backward, bf16 (needs a CUDA GPU).

    python scripts/bench_mlp.py --out mlp_bench.json
    python scripts/bench_mlp.py --tokens 65536 --hidden 1536 --act relu2 \
        --compile-modes default max-autotune-no-cudagraphs
    python scripts/bench_mlp.py --sweep --tokens 98304 --hidden 1792   # time every kernel config first

Every variant computes down(act(up(x))) for x (tokens, 512) -> hidden -> 512 with bf16 weights and inputs and
returns dx, dW_up, dW_down; timings are triton.testing.do_bench medians, measured side by side in one process.
TFLOP/s counts 4*T*D*H for the forward and 12*T*D*H for forward+backward; the ceiling is a measured bf16 matmul
(8192^3 through cuBLAS). The floor of a shape is the sum of cuBLAS times of its six matmuls alone (bf16 out, no
activation): the fused MLP runs two of them in Triton with the activation in their epilogues and the other four
through cuBLAS, so it can beat the compiled MLP by at most (compiled time) / (floor). --sweep times every kernel
config of SWEEP_CONFIGS on each matmul with an epilogue (against cuBLAS on the same shape), then runs the comparison
with the best two configs per epilogue.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference import fused_mlp  # noqa: E402
from reference.fused_mlp import fused_mlp_fwd, mlp_reference  # noqa: E402


def fused(x, w_up, w_down, act):
    return fused_mlp_fwd(x, w_up, w_down, act)[0]


def mlp_variants(compile_modes: list[str]) -> dict:
    variants = {"eager": mlp_reference}
    for mode in compile_modes:
        variants[f"compile:{mode}"] = torch.compile(mlp_reference, mode=None if mode == "default" else mode,
                                                    dynamic=False)
    variants["fused"] = fused
    return variants


def sweep_configs() -> list:
    """The configs worth timing on an H100/H200 (a first sweep of 15 kept these: reference/fused_mlp_notes.md)."""
    c = fused_mlp.mlp_config
    return [c(128, 256, 64, 3, 8), c(128, 256, 64, 2, 8, flatten=True), c(256, 128, 64, 3, 8),
            c(128, 128, 64, 2, 4, progs_per_sm=0), c(128, 128, 64, 4, 8, flatten=True), c(128, 128, 64, 4, 8),
            c(128, 128, 64, 2, 4, progs_per_sm=2), c(128, 256, 64, 3, 8, progs_per_sm=0)]


def config_name(cfg) -> str:
    k = cfg.kwargs
    return (f"{k['BLOCK_M']}x{k['BLOCK_N']}x{k['BLOCK_K']} s{cfg.num_stages} w{cfg.num_warps} "
            f"p{k['PROGS_PER_SM']}{'F' if k['FLATTEN'] else ''}")


def signs_match(signs: Tensor, pre: Tensor) -> bool:
    """The kernel's and torch's sums of the same products may differ in sign where pre ~ 0 (h ~ 0 there)."""
    if signs.shape[1] == 0:  # relu^2 keeps none
        return True
    flipped = fused_mlp.mlp_unpack_signs(signs, pre.shape[1]) != torch.signbit(pre)
    return not (flipped & (pre.abs() > 1e-3)).any().item()


def sweep_epilogues(do_bench, configs: list, tokens: int, dim: int, hidden: int, act: str,
                    device: str = "cuda") -> list[dict]:
    """Every config on the forward (act) and backward (act') matmuls, checked against torch, beside cuBLAS alone."""
    torch.manual_seed(0)
    x, dy = (torch.randn(tokens, dim, device=device, dtype=torch.bfloat16) for _ in range(2))
    w_up = (torch.randn(hidden, dim, device=device) / dim**0.5).bfloat16()
    w_down_t = (torch.randn(hidden, dim, device=device) / hidden**0.5).bfloat16()  # Wd^T, as the backward passes it
    pre = x.float() @ w_up.float().t()
    h = fused_mlp.mlp_activation(pre, act).bfloat16()
    signs = fused_mlp.mlp_pack_signs(torch.signbit(pre), fused_mlp.mlp_sign_bytes(hidden, act))
    want = {fused_mlp.MLP_EPI_ACT: h.float(),
            fused_mlp.MLP_EPI_DACT: (dy.float() @ w_down_t.float().t()) * fused_mlp.mlp_dact(h, signs, act)}
    operands = {fused_mlp.MLP_EPI_ACT: (x, w_up, {}), fused_mlp.MLP_EPI_DACT: (dy, w_down_t, {"h": h, "signs": signs})}
    rows = []
    for epi, (a, b, extra) in operands.items():
        cublas_ms = do_bench(lambda: a @ b.t(), warmup=25, rep=100, return_mode="median")
        rows.append({"epilogue": epi, "act": act, "config": "cuBLAS a@b.T (no epilogue)", "ms": cublas_ms})
        for cfg in configs:
            kw = dict(cfg.kwargs, num_warps=cfg.num_warps, num_stages=cfg.num_stages)

            def run():
                return fused_mlp.mlp_gemm(a, b, epi, act, kernel=fused_mlp.mlp_gemm_kernel, **extra, **kw)

            row = {"epilogue": epi, "act": act, "config": config_name(cfg), "cfg": cfg}
            try:
                out, out_signs = run()
                row["rel_err"] = ((out.float() - want[epi]).norm() / want[epi].norm()).item()
                row["signs_ok"] = signs_match(out_signs, pre) if epi == fused_mlp.MLP_EPI_ACT else True
                row["ms"] = do_bench(run, warmup=25, rep=100, return_mode="median")
            except Exception as e:  # out of shared memory, a pass that refuses the config
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
            rows.append(row)
    flops = 2 * tokens * dim * hidden
    print(f"\nsweep {tokens}x{dim}->{hidden} {act}: {'epi':>3} {'config':<28} {'ms':>7} {'TF/s':>6} {'rel err':>8}")
    for r in rows:
        err = r.get("error") or f"{r.get('rel_err', 0):.1e}{'' if r.get('signs_ok', True) else ' SIGNS WRONG'}"
        ms = f"{r['ms']:>7.3f} {flops / r['ms'] / 1e9:>6.0f}" if "ms" in r else f"{'-':>7} {'-':>6}"
        print(f"{'':>{len(str(tokens)) + 22}}{r['epilogue']:>3} {r['config']:<28} {ms} {err}")
    return rows


def best_configs(rows: list[dict], per_epilogue: int = 2) -> list:
    picked = []
    for epi in (fused_mlp.MLP_EPI_ACT, fused_mlp.MLP_EPI_DACT):
        ok = sorted((r for r in rows if r["epilogue"] == epi and "cfg" in r and "ms" in r and r["rel_err"] < 1e-2
                     and r["signs_ok"]), key=lambda r: r["ms"])
        picked += [r["cfg"] for r in ok[:per_epilogue] if r["cfg"] not in picked]
    return picked


def gemm_floor_ms(do_bench, tokens: int, dim: int, hidden: int) -> float:
    """Sum of cuBLAS times of the six matmuls of forward+backward at this shape (no MLP built on them runs faster)."""
    x, dy = (torch.randn(tokens, dim, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    h = torch.randn(tokens, hidden, device="cuda", dtype=torch.bfloat16)
    w_up, w_down_t = (torch.randn(hidden, dim, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    mms = [lambda: x @ w_up.t(), lambda: h @ w_down_t, lambda: dy @ w_down_t.t(), lambda: dy.t() @ h,
           lambda: h @ w_up, lambda: h.t() @ x]
    return sum(do_bench(fn, warmup=25, rep=100, return_mode="median") for fn in mms)


def matmul_ceiling_tflops(do_bench, m: int, k: int, n: int) -> float:
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    ms = do_bench(lambda: a @ b, warmup=50, rep=300, return_mode="median")
    return 2 * m * k * n / (ms * 1e-3) / 1e12


def bench_shape(do_bench, variants: dict, tokens: int, dim: int, hidden: int, act: str,
                device: str = "cuda") -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(tokens, dim, device=device, dtype=torch.bfloat16, requires_grad=True)
    w_up = (torch.randn(hidden, dim, device=device) / dim**0.5).bfloat16().requires_grad_(True)
    w_down = (torch.randn(dim, hidden, device=device) / hidden**0.5).bfloat16().requires_grad_(True)
    dy = torch.randn(tokens, dim, device=device, dtype=torch.bfloat16)
    inputs = (x, w_up, w_down)
    ref_inputs = [t.detach().float().requires_grad_(True) for t in inputs]  # fp32 ground truth, same values
    ref_y = mlp_reference(*ref_inputs, act)
    ref_grads = torch.autograd.grad(ref_y, ref_inputs, dy.float())
    flops_fwd, flops_all = 4 * tokens * dim * hidden, 12 * tokens * dim * hidden
    rows = []
    for name, fn in variants.items():
        t0 = time.perf_counter()
        y = fn(x, w_up, w_down, act)  # first call: compile / autotune
        grads = torch.autograd.grad(y, inputs, dy)
        if x.is_cuda:
            torch.cuda.synchronize()
        warm_s = time.perf_counter() - t0
        errors = [((g.float() - r).norm() / r.norm()).item() for g, r in zip([y, *grads], [ref_y, *ref_grads])]

        def fwd():
            with torch.no_grad():
                fn(x, w_up, w_down, act)

        def fwd_bwd():
            torch.autograd.grad(fn(x, w_up, w_down, act), inputs, dy)

        def fwd_bwd_x10():  # back to back, as in training: the CPU queues ahead, launch latency hides
            for _ in range(10):
                fwd_bwd()

        ms_fwd = do_bench(fwd, warmup=25, rep=200, return_mode="median")
        ms_all = do_bench(fwd_bwd, warmup=25, rep=200, return_mode="median")
        ms_x10 = do_bench(fwd_bwd_x10, warmup=25, rep=200, return_mode="median") / 10
        rows.append({"variant": name, "tokens": tokens, "dim": dim, "hidden": hidden, "act": act,
                     "fwd_ms": ms_fwd, "fwd_bwd_ms": ms_all, "fwd_bwd_b2b_ms": ms_x10,
                     "fwd_tflops": flops_fwd / (ms_fwd * 1e-3) / 1e12,
                     "fwd_bwd_tflops": flops_all / (ms_all * 1e-3) / 1e12, "max_rel_err_vs_fp32": max(errors),
                     "first_call_s": warm_s})
    return rows


def print_mlp_table(rows: list[dict], ceiling: float, baseline: str) -> None:
    """f+b: one forward+backward per do_bench call (its first kernel waits on the CPU); b2b: ten back to back."""
    print(f"{'shape':<27} {'variant':<30} {'fwd ms':>6} {'f+b ms':>6} {'TF/s':>5} {'%ceil':>5} {'vs ' + baseline:>19} "
          f"{'b2b ms':>6} {'vs base':>7} {'floor':>5} {'/floor':>6} {'rel err':>7}")
    for r in rows:
        shape = f"{r['tokens']}x{r['dim']}->{r['hidden']} {r['act']}"
        base = next((b for b in rows if b["variant"] == baseline and b["tokens"] == r["tokens"]
                     and b["hidden"] == r["hidden"] and b["act"] == r["act"]), None)
        speedup = f"{base['fwd_bwd_ms'] / r['fwd_bwd_ms']:.2f}x" if base else "-"
        b2b = f"{base['fwd_bwd_b2b_ms'] / r['fwd_bwd_b2b_ms']:.2f}x" if base else "-"
        print(f"{shape:<27} {r['variant']:<30} {r['fwd_ms']:>6.3f} {r['fwd_bwd_ms']:>6.3f} "
              f"{r['fwd_bwd_tflops']:>5.0f} {r['fwd_bwd_tflops'] / ceiling:>5.0%} {speedup:>19} "
              f"{r['fwd_bwd_b2b_ms']:>6.3f} {b2b:>7} {r['floor_ms']:>5.3f} {r['fwd_bwd_ms'] / r['floor_ms']:>6.2f} "
              f"{r['max_rel_err_vs_fp32']:>7.1e}")


def parse_mlp_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 98304 = 786432 tokens per step over 8 GPUs (the records' batch); 32768 for a smaller micro-batch.
    ap.add_argument("--tokens", type=int, nargs="+", default=[32768, 98304])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--hidden", type=int, nargs="+", default=[1536, 1792])
    ap.add_argument("--act", nargs="+", default=["leaky_relu2", "relu2"], choices=sorted(fused_mlp.MLP_ACT_SLOPES))
    ap.add_argument("--compile-modes", nargs="*", default=["default"],
                    help="torch.compile modes to compare against, the first is the speedup baseline ('default' = "
                         "no mode; 'max-autotune-no-cudagraphs' adds minutes of autotuning per shape)")
    ap.add_argument("--sweep", action="store_true",
                    help="first time every config of sweep_configs() at the largest shape, then compare with the best")
    ap.add_argument("--out", type=Path, help="write results (rows, ceiling, device, versions, autotune picks) here")
    return ap.parse_args(argv)


def run_mlp_bench(argv: list[str] | None = None) -> int:
    args = parse_mlp_args(argv)
    if not torch.cuda.is_available() or fused_mlp.triton is None:
        print("pgolf-audit: error: bench_mlp needs a CUDA GPU and triton", file=sys.stderr)
        return 2
    import triton
    from triton.testing import do_bench

    device = torch.cuda.get_device_name()
    ceiling = matmul_ceiling_tflops(do_bench, 8192, 8192, 8192)
    print(f"device: {device}; torch {torch.__version__}, triton {triton.__version__}")
    print(f"bf16 matmul ceiling: {ceiling:.0f} TFLOP/s (8192^3, cuBLAS)")
    sweep_rows = []
    if args.sweep:
        for act in args.act:
            sweep_rows += sweep_epilogues(do_bench, sweep_configs(), max(args.tokens), args.dim, max(args.hidden), act)
        fused_mlp.mlp_gemm_tuned.configs[:] = best_configs(sweep_rows)
    # One compiled graph per (shape, act, grad mode): past dynamo's default limit of 8 it would silently run eager.
    torch._dynamo.config.recompile_limit = 256
    variants = mlp_variants(args.compile_modes)
    rows = []
    for hidden in args.hidden:
        for tokens in sorted(args.tokens, reverse=True):  # the largest first: the autotuner times configs on it
            floor = gemm_floor_ms(do_bench, tokens, args.dim, hidden)
            for act in args.act:
                print(f"... {tokens}x{args.dim}->{hidden} {act} (first calls compile and autotune)", file=sys.stderr)
                shape_rows = bench_shape(do_bench, variants, tokens, args.dim, hidden, act)
                rows += [dict(r, floor_ms=floor) for r in shape_rows]
    baseline = f"compile:{args.compile_modes[0]}" if args.compile_modes else "eager"
    print_mlp_table(rows, ceiling, baseline)
    if args.out:
        picks = {str(k): str(v) for k, v in fused_mlp.mlp_gemm_tuned.cache.items()}
        sweep = [{k: v for k, v in r.items() if k != "cfg"} for r in sweep_rows]
        args.out.write_text(json.dumps({"device": device, "torch": torch.__version__, "triton": triton.__version__,
                                        "ceiling_tflops": ceiling, "rows": rows, "sweep": sweep,
                                        "autotune": picks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_mlp_bench())
