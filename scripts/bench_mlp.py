"""Fused Triton MLP vs eager and torch.compile'd PyTorch, forward and forward+backward, bf16 (needs a CUDA GPU).

    python scripts/bench_mlp.py --out mlp_bench.json
    python scripts/bench_mlp.py --tokens 65536 --hidden 1536 --act relu2 \
        --compile-modes default max-autotune-no-cudagraphs

Every variant computes down(act(up(x))) for x (tokens, 512) -> hidden -> 512 with bf16 weights and inputs and
returns dx, dW_up, dW_down; timings are triton.testing.do_bench medians, measured side by side in one process.
TFLOP/s counts 4*T*D*H for the forward and 12*T*D*H for forward+backward; the ceiling is a measured bf16 matmul
(8192^3 and the MLP's own up-projection shape through cuBLAS).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference import fused_mlp  # noqa: E402
from reference.fused_mlp import fused_mlp_fwd, mlp_reference  # noqa: E402


def fused_variant(recompute_h: bool):
    def run(x, w_up, w_down, act):
        return fused_mlp_fwd(x, w_up, w_down, act, recompute_h)[0]
    return run


def mlp_variants(compile_modes: list[str]) -> dict:
    variants = {"eager": mlp_reference}
    for mode in compile_modes:
        variants[f"compile:{mode}"] = torch.compile(mlp_reference, mode=None if mode == "default" else mode,
                                                    dynamic=False)
    variants["fused (recompute h)"] = fused_variant(True)
    variants["fused (store h)"] = fused_variant(False)
    return variants


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

        ms_fwd = do_bench(fwd, warmup=25, rep=200, return_mode="median")
        ms_all = do_bench(fwd_bwd, warmup=25, rep=200, return_mode="median")
        rows.append({"variant": name, "tokens": tokens, "dim": dim, "hidden": hidden, "act": act,
                     "fwd_ms": ms_fwd, "fwd_bwd_ms": ms_all, "fwd_tflops": flops_fwd / (ms_fwd * 1e-3) / 1e12,
                     "fwd_bwd_tflops": flops_all / (ms_all * 1e-3) / 1e12, "max_rel_err_vs_fp32": max(errors),
                     "first_call_s": warm_s})
    return rows


def print_mlp_table(rows: list[dict], ceiling: float, baseline: str) -> None:
    print(f"{'shape':<26} {'variant':<34} {'fwd ms':>8} {'f+b ms':>8} {'f+b TF/s':>9} {'%ceil':>6} "
          f"{'vs ' + baseline:>22} {'rel err':>8}")
    for r in rows:
        shape = f"{r['tokens']}x{r['dim']}->{r['hidden']} {r['act']}"
        base = next((b for b in rows if b["variant"] == baseline and b["tokens"] == r["tokens"]
                     and b["hidden"] == r["hidden"] and b["act"] == r["act"]), None)
        speedup = f"{base['fwd_bwd_ms'] / r['fwd_bwd_ms']:.2f}x" if base else "-"
        print(f"{shape:<26} {r['variant']:<34} {r['fwd_ms']:>8.3f} {r['fwd_bwd_ms']:>8.3f} "
              f"{r['fwd_bwd_tflops']:>9.1f} {r['fwd_bwd_tflops'] / ceiling:>6.1%} {speedup:>22} "
              f"{r['max_rel_err_vs_fp32']:>8.1e}")


def parse_mlp_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 98304 = 786432 tokens per step over 8 GPUs (the records' batch); 32768 for a smaller micro-batch.
    ap.add_argument("--tokens", type=int, nargs="+", default=[32768, 98304])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--hidden", type=int, nargs="+", default=[1536, 1792])
    ap.add_argument("--act", nargs="+", default=["leaky_relu2"], choices=sorted(fused_mlp.MLP_ACT_SLOPES))
    ap.add_argument("--compile-modes", nargs="+", default=["default"],
                    help="torch.compile modes to compare against, the first is the speedup baseline ('default' = "
                         "no mode; 'max-autotune-no-cudagraphs' adds minutes of autotuning per shape)")
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
    shape_ceiling = matmul_ceiling_tflops(do_bench, max(args.tokens), args.dim, max(args.hidden))
    print(f"device: {device}; torch {torch.__version__}, triton {triton.__version__}")
    print(f"bf16 matmul ceiling: {ceiling:.0f} TFLOP/s (8192^3, cuBLAS); {shape_ceiling:.0f} TFLOP/s at "
          f"{max(args.tokens)}x{args.dim}x{max(args.hidden)}")
    # One compiled graph per (shape, act, grad mode): past dynamo's default limit of 8 it would silently run eager.
    torch._dynamo.config.recompile_limit = 256
    variants = mlp_variants(args.compile_modes)
    rows = []
    for act in args.act:
        for hidden in args.hidden:
            for tokens in args.tokens:
                print(f"... {tokens}x{args.dim}->{hidden} {act} (first calls compile and autotune)", file=sys.stderr)
                rows += bench_shape(do_bench, variants, tokens, args.dim, hidden, act)
    baseline = f"compile:{args.compile_modes[0]}" if args.compile_modes else "eager"
    print_mlp_table(rows, ceiling, baseline)
    if args.out:
        picks = {str(k): str(v) for k, v in fused_mlp.mlp_matmul_kernel.cache.items()}
        args.out.write_text(json.dumps({"device": device, "torch": torch.__version__, "triton": triton.__version__,
                                        "ceiling_tflops": ceiling, "shape_ceiling_tflops": shape_ceiling,
                                        "rows": rows, "autotune": picks}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_mlp_bench())
