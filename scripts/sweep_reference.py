"""Where the reference trainer's step time goes, and which variant of it is fastest, in one command on one GPU.

    python scripts/sweep_reference.py --out sweep.json [--variants ref,mlp0,...] [--steps 20] [--budget-s 330]

At the baseline config (PRESET=baseline: 9x512, 4 KV heads, vocab 1024, 524,288 tokens/step, seq 1024) on a local
synthetic data set:
1. attention alone: fwd+bwd of one layer's SDPA call per backend (flash, efficient, cuDNN), native GQA and with the
   K/V heads expanded, at the shape of one micro-batch;
2. each variant (VARIANTS) in its own process, built from the trainer's own pieces (reference.train:
   compile_for_training, forward_backward, optimizer_step): the compiles and warm-ups run in parallel (under a
   GPU-memory budget); then the variants time their steps one at a time, so no timed step shares the GPU. Per
   variant: median/mean step ms over --steps steps (CUDA events, after warm-up), and one profiled step's kernel
   time by category (attention, GEMM, fused MLP kernel, other Triton, the rest) plus its top kernels.
Prints two tables last; writes --out (JSON) and a text report with the top kernels next to it.
--smoke runs toy shapes on the CPU (no compile, no profiler) to check the plumbing.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (env overrides on top of PRESET=baseline, attention); attention: "auto" = PyTorch's choice (cuDNN on
# torch 2.11 + H200), "cudnn" / "flash" = that backend first (native GQA, else K/V heads expanded; PyTorch's choice
# when the backend cannot run the shape at all)
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "ref": ({}, "auto"),
    "fused-mlp": ({"FUSED_MLP": "1"}, "auto"),
    "fused-mlp-store-h": ({"FUSED_MLP": "1", "FUSED_MLP_STORE_H": "1"}, "auto"),
    "micro128k": ({"MICRO_BATCH_TOKENS": "131072"}, "auto"),
    "micro512k": ({"MICRO_BATCH_TOKENS": "524288"}, "auto"),
    "flash": ({}, "flash"),
    "autotune": ({"COMPILE_MODE": "max-autotune-no-cudagraphs"}, "auto"),
}
SMOKE_ENV = {"NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "8", "NUM_KV_HEADS": "4", "TRAIN_SEQ_LEN": "128",
             "TRAIN_BATCH_TOKENS": "1024", "MICRO_BATCH_TOKENS": "512", "COMPILE": "0", "OMP_NUM_THREADS": "1",
             "VOCAB_SIZE": "512"}
GPU_MEMORY_BUDGET_GB = 120.0  # of the H200's 139 GiB
CATEGORIES = (("attention", ("flash", "fmha", "sdpa", "attention", "attn", "cudnn")),
              ("fused MLP kernel", ("mlp_matmul_kernel",)),
              ("GEMM", ("gemm", "nvjet", "xmma", "cutlass", "triton_tem", "sm90_", "splitkreduce")),
              ("other Triton", ("triton_",)))


# ------------------------------------------------------------------------------------------------------------------
# Coordination: warm-ups (compiles) run in parallel under a GB budget; then the parent lets one child at a time
# time its steps (a "go" file), so no timed step shares the GPU with a compile, an autotune or another variant.


@contextmanager
def memory_budget(lockdir: Path, gb: float, total: float = GPU_MEMORY_BUDGET_GB):
    """Hold `gb` of the shared budget (at least one holder at a time whatever its size)."""
    ledger = lockdir / "memory.json"

    def change(delta: float, need_room: bool) -> bool:
        with (lockdir / "memory.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            used = json.loads(ledger.read_text()) if ledger.exists() else 0.0
            if need_room and used > 0 and used + delta > total:
                return False
            ledger.write_text(json.dumps(max(0.0, used + delta)))
            return True

    while not change(gb, need_room=True):
        time.sleep(0.5)
    try:
        yield
    finally:
        change(-gb, need_room=False)


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.2)


def expected_peak_gb(micro_tokens: int) -> float:
    return 6.0 + 20.0 * micro_tokens / 131_072  # a guess on the safe side; the measured peak is reported


# ------------------------------------------------------------------------------------------------------------------
# Attention: backend choice and the one-layer microbenchmark


def gqa_support(torch, F, backend) -> str:
    """'native', 'expand' or '' (the backend cannot run a small causal GQA fwd+bwd)."""
    from torch.nn.attention import sdpa_kernel

    q = torch.randn(2, 8, 256, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(2, 4, 256, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    for mode in ("native", "expand"):
        try:
            with sdpa_kernel(backend):
                if mode == "native":
                    y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                else:
                    y = F.scaled_dot_product_attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1),
                                                       is_causal=True)
                y.sum().backward()
            torch.cuda.synchronize()
            return mode
        except RuntimeError:
            continue
    return ""


def expand_kv_sdpa(F):
    """F.scaled_dot_product_attention that repeats K/V heads itself instead of passing enable_gqa."""
    native = F.scaled_dot_product_attention

    def sdpa(q, k, v, *args, enable_gqa=False, **kwargs):
        if enable_gqa and k.size(1) != q.size(1):
            rep = q.size(1) // k.size(1)
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        return native(q, k, v, *args, **kwargs)

    return sdpa


_PROCESS_CONTEXTS: list = []


def configure_attention(mode: str) -> str:
    """Set the SDPA backend priority for this process (before compiling); the label of what was set."""
    if mode == "auto":
        return "auto"
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    first = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}[mode]
    support = gqa_support(torch, F, first)
    if not support:
        return f"auto ({mode} unsupported)"
    rest = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    order = [first] + [b for b in rest if b != first]
    _PROCESS_CONTEXTS.append(sdpa_kernel(order, set_priority=True))  # kept: collecting it would undo it
    _PROCESS_CONTEXTS[-1].__enter__()  # for the life of this process
    if support == "expand":
        F.scaled_dot_product_attention = expand_kv_sdpa(F)
    return f"{mode} ({support} GQA)"


def bench_attention(batch: int, heads: int, kv_heads: int, seq: int, head_dim: int, reps: int = 20) -> list[dict]:
    """One layer's causal SDPA fwd+bwd per backend and GQA form: median ms and TFLOP/s (causal: half the scores)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    flops = 3.5 * 2 * 2 * batch * heads * seq * seq * head_dim / 2  # fwd 2 matmuls; bwd 2.5x fwd
    q = torch.randn(batch, heads, seq, head_dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(batch, kv_heads, seq, head_dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    dy = torch.randn_like(q)
    rows = []
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION}
    for name, backend in backends.items():
        for form in ("native GQA", "expanded K/V"):
            def once():
                kk, vv = (k, v) if form == "native GQA" else (k.repeat_interleave(heads // kv_heads, 1),
                                                              v.repeat_interleave(heads // kv_heads, 1))
                with sdpa_kernel(backend):
                    y = F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=form == "native GQA")
                torch.autograd.grad(y, (q, k, v), dy)

            try:
                for _ in range(3):
                    once()
                torch.cuda.synchronize()
                times = []
                for _ in range(reps):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    once()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end))
                ms = statistics.median(times)
                rows.append(dict(backend=name, form=form, ms=ms, tflops=flops / ms / 1e9, error=None))
            except RuntimeError as exc:
                rows.append(dict(backend=name, form=form, ms=None, tflops=None, error=str(exc).splitlines()[0][:80]))
    return rows


# ------------------------------------------------------------------------------------------------------------------
# One variant (child process)


def kernel_categories(prof, steps: int) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """(ms per step by category, top kernels as (name, ms per step)) from a profiler over `steps` steps."""
    totals: dict[str, float] = {}
    kernels: list[tuple[str, float]] = []
    for event in prof.key_averages():
        us = getattr(event, "self_device_time_total", 0.0) or 0.0  # kernels only: CPU events have none here
        if us <= 0:
            continue
        name = event.key.lower()
        cat = next((c for c, keys in CATEGORIES if any(k in name for k in keys)), "rest")
        totals[cat] = totals.get(cat, 0.0) + us / 1000 / steps
        kernels.append((event.key[:110], us / 1000 / steps))
    kernels.sort(key=lambda kv: -kv[1])
    return totals, kernels[:25]


def run_variant(name: str, attention: str, steps: int, warmup: int, lockdir: Path) -> dict:
    import torch

    from reference import train as trainer
    from reference.config import Hyperparameters
    from reference.data import DistributedTokenLoader

    args = Hyperparameters()
    run = trainer.start_session(args)
    knobs = ("FUSED_MLP", "FUSED_MLP_STORE_H", "MICRO_BATCH_TOKENS", "COMPILE_MODE")
    out: dict = dict(variant=name, env={k: os.environ.get(k) for k in knobs})
    out["attention"] = configure_attention(attention) if run.cuda else "cpu"
    torch.manual_seed(args.seed)
    base_model = trainer.build_model(args, run.device)
    optimizers, muon = trainer.build_optimizers(base_model, args, fused=run.cuda)
    _, model = trainer.compile_for_training(run, base_model, muon)
    micro_tokens, accum_steps = trainer.micro_batching(args, run.world_size)
    out.update(micro_tokens=micro_tokens, accum_steps=accum_steps)
    loader = DistributedTokenLoader(args.train_files, run.rank, run.world_size, run.device)
    losses: list[float] = []
    step_no = 0

    def step() -> torch.Tensor:
        nonlocal step_no
        loss = trainer.forward_backward(run, model, loader, micro_tokens, accum_steps)
        trainer.optimizer_step(args, base_model, optimizers, muon, step_no, 1.0)
        step_no += 1
        return loss

    t0 = time.perf_counter()
    with memory_budget(lockdir, expected_peak_gb(micro_tokens)):
        for _ in range(warmup):  # compiles happen here, in parallel with other variants
            losses.append(float(step()))
        run.sync()
        if run.cuda:
            torch.cuda.empty_cache()
    out["compile_and_warmup_s"] = time.perf_counter() - t0
    (lockdir / f"ready_{name}").touch()
    wait_for(lockdir / f"go_{name}")
    for _ in range(2):
        step()
    run.sync()
    times, block = [], 5  # blocks of steps with no host sync inside, as in the trainer's loop
    for _ in range(max(1, steps // block)):
        t = time.perf_counter()
        if run.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        block_losses = [step() for _ in range(block)]
        if run.cuda:
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / block)
        else:
            times.append(1000 * (time.perf_counter() - t) / block)
        losses += [float(x) for x in block_losses]
    out.update(median_ms=statistics.median(times), mean_ms=statistics.fmean(times), min_ms=min(times),
               max_ms=max(times), block_ms=times, losses=[losses[0], losses[-1]])
    if run.cuda:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            run.sync()
        out["categories_ms"], out["top_kernels"] = kernel_categories(prof, 1)
        out["peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return out


# ------------------------------------------------------------------------------------------------------------------
# Parent


def versions() -> dict:
    import torch

    info = dict(torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0])
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), cudnn=torch.backends.cudnn.version())
    return info


def fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)), "-+-".join("-" * w for w in widths)]
    return "\n".join(lines + [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows])


def report(doc: dict) -> str:
    parts = [f"GPU: {doc['versions'].get('gpu', 'none')}; torch {doc['versions']['torch']}, "
             f"triton {doc['versions']['triton']}, cuDNN {doc['versions'].get('cudnn')}"]
    if doc["attention"]:
        parts.append("\n1. One layer's SDPA fwd+bwd at one micro-batch "
                     f"({doc['attention_shape']}), median of 20")
        parts.append(table(["backend", "form", "ms", "TFLOP/s", "error"],
                           [[r["backend"], r["form"], fmt(r["ms"], ".2f"), fmt(r["tflops"], ".0f"), r["error"] or ""]
                            for r in doc["attention"]]))
    ref = next((v.get("median_ms") for v in doc["variants"] if v["variant"] == "ref"), None)
    cats = [c for c, _ in CATEGORIES] + ["rest"]
    rows = []
    for v in doc["variants"]:
        med = v.get("median_ms")
        c = v.get("categories_ms", {})
        rows.append([v["variant"], v.get("attention", "—"), fmt(v.get("compile_and_warmup_s"), ".0f"), fmt(med, ".1f"),
                     fmt(v.get("mean_ms"), ".1f"), fmt(med / ref if med and ref else None, ".3f"),
                     fmt(v.get("peak_gb"), ".1f")] + [fmt(c.get(k), ".1f") for k in cats] +
                    [(v.get("error") or "")[-60:]])
    parts.append(f"\n2. Variants at the baseline config, {doc['steps']} timed steps each (ms per optimizer step)")
    parts.append(table(["variant", "attention", "compile s", "median", "mean", "x ref", "peak GB"] + cats + ["error"],
                       rows))
    return "\n".join(parts)


def kernels_report(doc: dict) -> str:
    lines = []
    for v in doc["variants"]:
        lines.append(f"\n== {v['variant']} ({v.get('attention')}): top kernels, ms per step")
        lines += [f"{ms:8.2f}  {name}" for name, ms in v.get("top_kernels", [])]
    return "\n".join(lines)


def launch_child(name: str, steps: int, warmup: int, lockdir: Path, env: dict[str, str], workdir: Path):
    overrides, attention = VARIANTS[name]
    child_env = {**os.environ, **env, **overrides, "PRESET": "baseline", "RUN_ID": name,
                 "TORCHINDUCTOR_COMPILE_THREADS": str(max(2, (os.cpu_count() or 2) // len(VARIANTS)))}
    out = workdir / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--attention", attention, "--steps",
           str(steps), "--warmup", str(warmup), "--lockdir", str(lockdir), "--out", str(out)]
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(cmd, cwd=workdir, env=child_env, stdout=log, stderr=subprocess.STDOUT), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON results (a .txt report goes next to it)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (the compile)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="children still running then are killed")
    parser.add_argument("--smoke", action="store_true", help="toy shapes on the CPU, no compile (plumbing check)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--attention", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--lockdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_variant(args.child, args.attention, args.steps, args.warmup, args.lockdir)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return 0
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        parser.error("no CUDA GPU; --smoke runs toy shapes on the CPU")
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="sweep_reference_"))
    lockdir = workdir / "locks"
    lockdir.mkdir()
    from auditor.data.synth import synth_dataset

    data = synth_dataset(workdir / "data", vocab_size=512 if args.smoke else 1024, train_tokens=4_000_000,
                         val_tokens=65_537)
    env = {**data.env(), **(SMOKE_ENV if args.smoke else {})}
    children = {n: launch_child(n, args.steps, args.warmup, lockdir, env, workdir) for n in names}
    doc: dict = dict(versions=versions(), steps=args.steps, smoke=args.smoke, attention=[], variants=[])
    deadline = t0 + args.budget_s
    compiled_by = deadline - 15.0 - 12.0 * len(names)  # leave time to run every timed phase
    while time.monotonic() < compiled_by and any(
            proc.poll() is None and not (lockdir / f"ready_{n}").exists() for n, (proc, _) in children.items()):
        time.sleep(0.5)
    for name, (proc, _) in children.items():
        if proc.poll() is None and not (lockdir / f"ready_{name}").exists():
            proc.kill()  # still compiling (an autotune benchmarks on the GPU): it would disturb the timed phases
    shape = (128, 8, 4, 1024, 64)  # one 131,072-token micro-batch of the baseline config
    doc["attention_shape"] = "B={} H={} KV={} T={} D={}".format(*shape)
    if torch.cuda.is_available():
        doc["attention"] = bench_attention(*shape)
        torch.cuda.empty_cache()
    for name, (proc, out) in children.items():
        if (lockdir / f"ready_{name}").exists():
            (lockdir / f"go_{name}").touch()
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode == 0 and out.exists():
            doc["variants"].append(json.loads(out.read_text()))
        else:
            tail = (workdir / f"{name}.log").read_text(errors="replace").strip().splitlines()[-3:]
            doc["variants"].append(dict(variant=name, error=f"exit {proc.returncode}: {' | '.join(tail)}"))
    doc["wall_s"] = time.monotonic() - t0
    text = report(doc)
    args.out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    args.out.with_suffix(".txt").write_text(text + "\n" + kernels_report(doc) + "\n", encoding="utf-8")
    logs = "\n".join(f"==== {n}\n" + (workdir / f"{n}.log").read_text(errors="replace")[-4000:] for n in names)
    args.out.with_suffix(".logs.txt").write_text(logs, encoding="utf-8")
    print(text)
    print(f"\nwrote {args.out} ({doc['wall_s']:.0f} s)")
    return 0 if all("error" not in v for v in doc["variants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
