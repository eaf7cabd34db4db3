"""The reference trainer against the challenge's baseline `train_gpt.py` on GPUs, in one command.

    python scripts/bench_reference.py --baseline PATH/TO/baseline/train_gpt.py --out bench_reference.json

The val_bpb comparison of issue #6, one call per script on one H200 (each call ~4.5 min: data ~12 s, the first run
~120 s with its cold compile, each later seed 60-70 s from inductor's cache), then the tables of both:

    SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
    STD=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    A=(--phases base --seeds 1337,42,2025 --corpus "$SP/**/*.py" --corpus "$STD/**/*.py")  # globs quoted
    python scripts/bench_reference.py --baseline B/train_gpt.py "${A[@]}" --scripts baseline --out base.json
    python scripts/bench_reference.py --baseline B/train_gpt.py "${A[@]}" --scripts reference --out ref.json
    python scripts/bench_reference.py --merge base.json ref.json --out merged.json

Data: the 4M-token toy set (`auditor.data.synth`) by default, which both scripts memorise within ~60 steps (one
seed's val_bpb then moves by 0.03); with --corpus GLOB (repeatable) a set built from those files on the machine
(`auditor.data.corpus`: deduplicated, split by file, a 1024-piece BPE trained on a sample, encoded on every core),
cut to what --steps reads, so no token is seen twice (site-packages + stdlib on the H200: 11-13 s). The data line
prints the sha256 of shards and tokenizer, so calls on different machines can show they used the same data.

1. baseline config, one GPU, the same --steps for both: the challenge's baseline script vs the reference with
   PRESET=baseline (--scripts picks one or both; --ref-env KEY=VALUE adds env vars to the reference's runs, e.g.
   RESIDUAL_FP32=1) -> step time (slope of train_time between step 10 and the last step), MFU, the pre-quant
   val_bpb both print at the last step (same LR schedule: warm-down over the last 8% of the steps) and the one
   after their quantization round trip; once per --seeds seed, with means, sample standard deviations and, with
   both scripts (or --merge), Welch's t-test of reference - baseline;
2. PR #1250 config (PRESET=pr1250, TTT and GPTQ off: step time only, each run stopped once its training loop
   ends), 8 vs 4 KV heads, --kv-steps steps (each run ~105 s);
3. with two GPUs or more: the reference at the baseline config under `torchrun --nproc_per_node=2` -> its loss
   curve against the one-GPU run (same global batch) and the step-time ratio.
Runs of one phase go to different GPUs in parallel when there are enough, else one after the other; every run
gets what is left of --budget-s and is reported as killed or skipped when nothing is. Prints the tables and writes
--out. The log parser (auditor.load.logs) needs neither libcst nor the rest of the auditor.

MFU = model FLOPs per step / step time / peak dense bf16 FLOP/s (H100 SXM and H200: 989 TFLOP/s; --peak-tflops to
override). Model FLOPs per token = 6 x (matmul weights incl. the tied head) + 6 x layers x seq_len x dim (causal
attention scores and values, forward and backward); the same formula for both scripts, which share the shape.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.load.logs import parse_log_file  # noqa: E402

REFERENCE = ROOT / "reference" / "records" / "reference_trainer" / "train_gpt.py"
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}
# model shapes of the two presets (reference/config.py), for the FLOP count
SHAPES = {
    "baseline": dict(layers=9, dim=512, kv_heads=4, heads=8, mlp_mult=2.0, vocab=1024, seq_len=1024, bigram_dim=0,
                     batch_tokens=524_288),
    "pr1250": dict(layers=11, dim=512, kv_heads=8, heads=8, mlp_mult=3.5, vocab=1024, seq_len=2048, bigram_dim=112,
                   batch_tokens=786_432),
}
# --smoke: toy shapes on the CPU (8 heads so that 8 and 4 KV heads both divide them)
SMOKE_ENV = {"NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "8", "MLP_MULT": "2", "TRAIN_SEQ_LEN": "128",
             "TRAIN_BATCH_TOKENS": "2048", "MICRO_BATCH_TOKENS": "1024", "BIGRAM_VOCAB_SIZE": "64",
             "BIGRAM_DIM": "16", "VAL_BATCH_SIZE": "8192", "OMP_NUM_THREADS": "1"}
TRAINING_DONE = "peak memory allocated"  # the reference's line after its training loop (CUDA only)
STEP_LINE = re.compile(r"^step:(\d+)/\d+ train_loss:(\S+) train_time:(\d+)ms", re.M)


@dataclass
class Run:
    label: str
    script: Path
    env: dict[str, str]
    shape: dict
    nproc: int = 1
    kind: str = ""  # "baseline" or "reference" for the baseline-config runs of table 1
    seed: str = ""
    gpus: list[int] = field(default_factory=list)
    # step-time-only runs stop at this line (the reference logs it right after its training loop): no artifact/eval
    stop_at: str | None = None
    # results
    ok: bool = False
    error: str | None = None
    wall_s: float | None = None
    step_ms: float | None = None
    mfu: float | None = None
    val_bpb: float | None = None  # pre-quant, at the last step
    final_stage: str | None = None
    final_bpb: float | None = None  # after quantization round trip
    curve: dict[int, float] = field(default_factory=dict)  # step -> train loss


def flops_per_token(layers: int, dim: int, kv_heads: int, heads: int, mlp_mult: float, vocab: int, seq_len: int,
                    bigram_dim: int, **_) -> float:
    kv_dim = dim // heads * kv_heads
    per_layer = 2 * dim * dim + 2 * dim * kv_dim + 2 * dim * int(mlp_mult * dim)
    matmul = layers * per_layer + vocab * dim + bigram_dim * dim
    return 6.0 * matmul + 6.0 * layers * seq_len * dim


def gpu_names() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in PEAK_TFLOPS.items():  # "H100 PCIe" before "H100"
        if key in name:
            return value
    return None


@dataclass
class Launched:
    proc: subprocess.Popen
    log: Path
    start: float
    timeout: float


def launch(run: Run, workdir: Path, timeout: float) -> Launched:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **run.env}
    if run.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, run.gpus))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, str(run.script)]
    if run.nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={run.nproc}",
               str(run.script)]
    log = workdir / "stdout.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return Launched(proc, log, time.monotonic(), timeout)


def wait_or_stop(run: Run, job: Launched) -> bool:
    """Wait for the run to exit, or stop it once its log shows `run.stop_at`; whether it was stopped so."""
    while job.proc.poll() is None:
        if time.monotonic() - job.start > job.timeout:
            job.proc.kill()
            job.proc.wait()
            run.error = f"killed after {job.timeout:.0f} s"
            return False
        if run.stop_at and run.stop_at in job.log.read_text(encoding="utf-8", errors="replace"):
            job.proc.terminate()
            job.proc.wait()
            return True
        time.sleep(0.5)
    return False


def collect(run: Run, job: Launched, steps: int, peak: float | None) -> None:
    stopped = wait_or_stop(run, job)
    run.wall_s = time.monotonic() - job.start
    text = job.log.read_text(encoding="utf-8", errors="replace")
    points = {int(s): (float(loss), float(ms)) for s, loss, ms in STEP_LINE.findall(text)}
    run.curve = {s: loss for s, (loss, _) in sorted(points.items())}
    first = min((s for s in points if s >= min(10, steps // 3)), default=None)
    last = max(points, default=None)  # the last logged step (both scripts log steps 1-10, then every 10th)
    if first is not None and last is not None and last > first:
        run.step_ms = (points[last][1] - points[first][1]) / (last - first)
        if peak:
            flops = flops_per_token(**run.shape) * run.shape["batch_tokens"]
            run.mfu = flops / (run.step_ms / 1000) / (peak * 1e12)
    runs = parse_log_file(job.log)
    if runs:
        parsed = runs[-1]
        last = [s for s in parsed.periodic if s.step == steps]
        run.val_bpb = last[-1].val_bpb if last else None
        if parsed.final is not None:
            run.final_stage, run.final_bpb = parsed.final.stage, parsed.final.val_bpb
    run.ok = (job.proc.returncode == 0 or stopped) and run.step_ms is not None
    if not run.ok and run.error is None:
        tail = " | ".join(line for line in text.strip().splitlines()[-3:])
        run.error = f"exit {job.proc.returncode}: {tail[-400:]}"


def run_phase(runs: list[Run], n_gpus: int, workroot: Path, deadline: float, steps: dict[str, int],
              peak: float | None) -> None:
    """Parallel on disjoint GPUs when they fit, else one after the other (no GPU: one at a time)."""
    pending = list(runs)
    while pending:
        batch, free = [], list(range(n_gpus))
        for run in list(pending):
            if len(free) >= run.nproc or (not batch and n_gpus == 0):
                run.gpus, free = free[: run.nproc], free[run.nproc :]
                batch.append(run)
                pending.remove(run)
        jobs = []
        for run in batch:
            left = deadline - time.monotonic()
            if left < 30:
                run.error = "skipped: out of time budget"
                continue
            jobs.append((run, launch(run, workroot / run.label.replace(" ", "_"), left)))
        for run, job in jobs:
            collect(run, job, steps[run.label], peak)
            print(f"  {run.label}: {'ok' if run.ok else run.error} ({run.wall_s:.0f} s)", flush=True)


def fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths)), "-+-".join("-" * w for w in widths)]
    return "\n".join(lines + [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows])


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else None


def kind_summary(runs: list[Run]) -> dict:
    """Means and sample standard deviations over the seeds of one script, with the per-seed values."""
    out: dict = {"seeds": [r.seed for r in runs if r.val_bpb is not None]}  # the runs that got to the last step
    for key in ("step_ms", "val_bpb", "final_bpb"):
        values = [getattr(r, key) for r in runs if getattr(r, key) is not None]
        out[key + "_values"] = values
        out[key], out[key + "_std"] = mean_std(values)
    return out


def welch_test(reference: list[float], baseline: list[float]) -> dict | None:
    """Welch's t-test of reference - baseline: one-sided p of 'reference worse' (greater) and the two-sided p."""
    if len(reference) < 2 or len(baseline) < 2:
        return None
    from auditor.record.stats import welch

    test = welch(reference, baseline, "greater")
    return dict(diff=sum(reference) / len(reference) - sum(baseline) / len(baseline), t=test.t, df=test.df,
                p_reference_worse=test.p, p_two_sided=min(1.0, 2 * min(test.p, 1 - test.p)))


def base_table(runs: list[Run], steps: int, gpu: str) -> dict:
    """Table 1 (a row per run, then means over seeds, then the Welch tests); the summary that goes into the JSON."""
    print(f"\n1. Baseline config (9x512, 4 KV heads, vocab 1024), {steps} steps, 1 x {gpu}")
    by_kind = {kind: [r for r in runs if r.kind == kind] for kind in ("baseline", "reference")}
    summary = {kind: kind_summary(group) for kind, group in by_kind.items() if group}
    base_ms = summary.get("baseline", {}).get("step_ms")
    rows = []
    for run in runs:
        ratio = run.step_ms / base_ms if run.step_ms and base_ms else None
        rows.append([run.label, run.seed, fmt(run.step_ms, ".1f"), fmt(run.mfu and 100 * run.mfu, ".1f"),
                     fmt(ratio, ".3f"), fmt(run.val_bpb, ".4f"),
                     f"{run.final_stage or '—'} {fmt(run.final_bpb, '.4f')}", run.error or ""])
    ref_ms = summary.get("reference", {}).get("step_ms")
    summary["reference_over_baseline"] = ref_ms / base_ms if base_ms and ref_ms else None
    for kind, m in summary.items():
        if isinstance(m, dict) and len(m["seeds"]) > 1:  # seeds whose run reached the last step
            ratio = m["step_ms"] / base_ms if m["step_ms"] and base_ms else None
            rows.append([f"{kind} mean ± sd", f"{len(m['seeds'])} seeds",
                         f"{fmt(m['step_ms'], '.1f')} ± {fmt(m['step_ms_std'], '.1f')}", "", fmt(ratio, ".3f"),
                         f"{fmt(m['val_bpb'], '.4f')} ± {fmt(m['val_bpb_std'], '.4f')}",
                         f"{fmt(m['final_bpb'], '.4f')} ± {fmt(m['final_bpb_std'], '.4f')}", ""])
    print(table(["run", "seed", "step ms", "MFU %", "x baseline", f"val_bpb@{steps}", "after quantization", "error"],
                rows))
    if "baseline" in summary and "reference" in summary:
        for key, what in (("val_bpb", f"val_bpb@{steps} (pre-quant)"),
                          ("final_bpb", "after quantization (int8+zlib vs int6+LZMA)")):
            test = welch_test(summary["reference"][key + "_values"], summary["baseline"][key + "_values"])
            summary[key + "_welch"] = test
            if test:
                print(f"reference - baseline, {what}: {test['diff']:+.4f}; Welch t = {test['t']:.2f}, "
                      f"df = {test['df']:.1f}, one-sided p(reference worse) = {test['p_reference_worse']:.3f}, "
                      f"two-sided p = {test['p_two_sided']:.3f}")
    return summary


def kv_table(kv8: Run, kv4: Run, steps: int) -> float | None:
    print(f"\n2. PR #1250 config (11x512, MLP 3.5x, BigramHash 3072x112, seq 2048, 786,432 tokens/step), "
          f"{steps} steps")
    ratio = kv8.step_ms / kv4.step_ms if kv8.step_ms and kv4.step_ms else None
    print(table(["KV heads", "step ms", "MFU %", "error"],
                [[k, fmt(r.step_ms, ".1f"), fmt(r.mfu and 100 * r.mfu, ".1f"), r.error or ""]
                 for k, r in (("8", kv8), ("4", kv4))]) + f"\nstep time 8 KV / 4 KV: {fmt(ratio, '.3f')}")
    return ratio


def two_gpu_table(reference: Run, two: Run, steps: int) -> dict:
    shared = sorted(set(reference.curve) & set(two.curve))
    gap = max((abs(reference.curve[s] - two.curve[s]) for s in shared), default=None)
    speedup = reference.step_ms / two.step_ms if reference.step_ms and two.step_ms else None
    print(f"\n3. 1 vs 2 GPUs, reference at the baseline config (same global batch), {steps} steps")
    print(table(["GPUs", "step ms", "final train loss", "val_bpb", "error"],
                [[str(r.nproc), fmt(r.step_ms, ".1f"), fmt(r.curve[max(r.curve)] if r.curve else None, ".4f"),
                  fmt(r.val_bpb, ".4f"), r.error or ""] for r in (reference, two)]))
    print(f"speed-up 2 GPUs / 1 GPU: {fmt(speedup, '.3f')}; largest |train loss gap| over {len(shared)} logged "
          f"steps: {fmt(gap, '.4f')}")
    return dict(max_abs_loss_gap=gap, steps_compared=len(shared), speedup=speedup)


def build_data(args, workroot: Path) -> tuple[dict[str, str], dict]:
    """The data set every run reads: the toy set, or --corpus files; (its env vars, a description for the JSON)."""
    t0 = time.monotonic()
    vocab = 512 if args.smoke else 1024
    if args.corpus:
        from auditor.data.corpus import corpus_dataset, expand

        # every token the longest run reads once, no more: at most one epoch (the +1 per micro-batch span aside)
        need = int(args.steps * (2048 if args.smoke else SHAPES["baseline"]["batch_tokens"]) * 1.01)
        data = corpus_dataset(expand(args.corpus), workroot / "data", vocab_size=vocab,
                              val_tokens=args.corpus_val_tokens, max_train_tokens=need)
    else:
        from auditor.data.synth import synth_dataset

        data = synth_dataset(workroot / "data", vocab_size=vocab, train_tokens=4_000_000,
                             val_tokens=65_537 if args.smoke else 1_048_577)
    from auditor.data.corpus import digest
    from auditor.data.shards import read_shard

    train_tokens = sum(read_shard(f).size for f in data.train_files)
    batch = 2048 if args.smoke else SHAPES["baseline"]["batch_tokens"]
    info = dict(source="corpus " + " ".join(args.corpus) if args.corpus else "synth (pydoc topics)",
                data_path=str(data.data_path), sha256=digest(data), train_tokens=train_tokens,
                val_tokens=sum(read_shard(f).size for f in data.val_files), build_s=time.monotonic() - t0,
                epochs=args.steps * batch / train_tokens)
    print(f"data: {info['source']}: {train_tokens:,} train / {info['val_tokens']:,} val tokens "
          f"({info['epochs']:.2f} epochs in {args.steps} steps), sha256 {info['sha256']} ({info['build_s']:.0f} s)",
          flush=True)
    return data.env(), info


def run_from_json(doc: dict) -> Run:
    fields = {k: v for k, v in doc.items() if k in Run.__dataclass_fields__}
    return Run(**{**fields, "script": Path(fields["script"]),
                  "curve": {int(k): v for k, v in fields.get("curve", {}).items()}})


def merge(paths: list[Path], out: Path) -> int:
    """Table 1 over the baseline-config runs of earlier --out files (e.g. one call per script), with the tests."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    runs = [run_from_json(r) for d in docs for r in d["runs"] if r.get("kind") in ("baseline", "reference")]
    steps = {d["steps"] for d in docs}
    if not runs or len(steps) != 1:
        print("pgolf-audit: error: --merge needs files with baseline-config runs of one --steps", file=sys.stderr)
        return 2
    digests = {d.get("data", {}).get("sha256") for d in docs}
    print(f"data sha256: {', '.join(sorted(str(x) for x in digests))}"
          + ("" if len(digests) == 1 else "  (DIFFERENT DATA: the comparison is void)"))
    summary = base_table(runs, steps.pop(), " / ".join(sorted({g for d in docs for g in d["gpus"][:1]})) or "?")
    out.write_text(json.dumps(dict(merged=[str(p) for p in paths], same_data=len(digests) == 1,
                                   data=[d.get("data") for d in docs], runs=[asdict(r) for r in runs],
                                   baseline_config=summary), indent=1, default=str), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="the challenge's baseline train_gpt.py")
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    parser.add_argument("--steps", type=int, default=120, help="optimizer steps at the baseline config")
    parser.add_argument("--kv-steps", type=int, default=20, help="optimizer steps at the PR #1250 config")
    parser.add_argument("--seeds", default="1337",
                        help="comma list: the baseline-config pair runs once per seed (val_bpb mean ± std)")
    parser.add_argument("--phases", default="base,kv,two", help="which of base, kv, two (two: with 2+ GPUs) to run")
    parser.add_argument("--scripts", default="baseline,reference",
                        help="which side(s) of the baseline-config pair to run (one call each; --merge joins them)")
    parser.add_argument("--ref-env", action="append", default=[], metavar="KEY=VALUE",
                        help="env var for the reference's baseline-config runs (repeatable), e.g. RESIDUAL_FP32=1")
    parser.add_argument("--corpus", action="append", metavar="GLOB",
                        help="build the data from these files (repeatable; `**` recursive), e.g. the .py files of "
                             "site-packages, instead of the 4M-token toy set")
    parser.add_argument("--corpus-val-tokens", type=int, default=2_097_152, help="val split size with --corpus")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="no runs: table 1 and the Welch tests over the runs of earlier --out files")
    parser.add_argument("--budget-s", type=float, default=520.0, help="wall clock for everything after the data")
    parser.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s per GPU (default: by GPU name)")
    parser.add_argument("--workdir", type=Path, help="where data and runs go (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true",
                        help="toy shapes, no GPU needed: checks that every run and table works (numbers mean nothing)")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    if args.baseline is None or not args.baseline.is_file():
        parser.error(f"--baseline {args.baseline}: no such file")
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    sides = {p.strip() for p in args.scripts.split(",") if p.strip()}
    seeds = [s.strip() for s in args.seeds.split(",") if s.strip()]
    if not phases or phases - {"base", "kv", "two"} or not seeds or not all(s.isdigit() for s in seeds):
        parser.error("--phases takes base, kv, two; --seeds a comma list of integers")
    if not sides or sides - {"baseline", "reference"}:
        parser.error("--scripts takes baseline, reference")
    if not all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", kv) for kv in args.ref_env):
        parser.error("--ref-env takes KEY=VALUE")
    ref_env = dict(kv.split("=", 1) for kv in args.ref_env)
    names = gpu_names()
    if not names and not args.smoke:
        parser.error("no NVIDIA GPU found (nvidia-smi); --smoke runs toy shapes on the CPU")
    peak = peak_tflops(names[0], args.peak_tflops) if names else None
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="bench_reference_"))
    t0 = time.monotonic()
    try:
        data_env, data_info = build_data(args, workroot)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"GPUs: {len(names)} x {names[0] if names else 'none'}", flush=True)
    deadline = time.monotonic() + args.budget_s

    common = {**data_env, "MAX_WALLCLOCK_SECONDS": "0", "VAL_LOSS_EVERY": "0", "TRAIN_LOG_EVERY": "10",
              "WARMUP_STEPS": "5", **(SMOKE_ENV if args.smoke else {})}
    warmdown = max(1, round(0.087 * args.steps))  # the baseline's 1200 of ~13,800 steps on 8xH100
    base_env = {**common, "ITERATIONS": str(args.steps), "WARMDOWN_ITERS": str(warmdown)}
    ref_base_env = {**base_env, "PRESET": "baseline", "WARMDOWN_FRAC": str(warmdown / args.steps), **ref_env}
    kv_env = {**common, "PRESET": "pr1250", "ITERATIONS": str(args.kv_steps), "TTT_ENABLED": "0",
              "GPTQ_ENABLED": "0", "EVAL_STRIDE": "0", "WARMUP_STEPS": "3"}
    tag = (lambda seed: f" seed {seed}") if len(seeds) > 1 else (lambda seed: "")
    variant = "".join(f" {kv}" for kv in args.ref_env)
    base_runs = [run for seed in seeds for run in (
        Run(f"baseline script{tag(seed)}", args.baseline.resolve(), {**base_env, "SEED": seed}, SHAPES["baseline"],
            kind="baseline", seed=seed),
        Run(f"reference baseline{variant}{tag(seed)}", REFERENCE, {**ref_base_env, "SEED": seed}, SHAPES["baseline"],
            kind="reference", seed=seed)) if run.kind in sides]
    kv8 = Run("reference pr1250 kv8", REFERENCE, {**kv_env, "NUM_KV_HEADS": "8"}, SHAPES["pr1250"],
              stop_at=TRAINING_DONE)
    kv4 = Run("reference pr1250 kv4", REFERENCE, {**kv_env, "NUM_KV_HEADS": "4"},
              {**SHAPES["pr1250"], "kv_heads": 4}, stop_at=TRAINING_DONE)
    one_gpu_ref = next((r for r in base_runs if r.kind == "reference"), None)
    two = Run("reference baseline 2 GPUs", REFERENCE, {**ref_base_env, "SEED": seeds[0]}, SHAPES["baseline"],
              nproc=2)
    multi = (len(names) >= 2 or args.smoke) and "two" in phases and one_gpu_ref is not None
    selected = ([base_runs] if "base" in phases else []) + ([[kv8, kv4]] if "kv" in phases else []) + \
        ([[two]] if multi else [])
    every = [r for phase in selected for r in phase]
    steps = {r.label: (args.kv_steps if "pr1250" in r.label else args.steps) for r in every}
    for phase in selected:
        run_phase(phase, len(names), workroot, deadline, steps, peak)

    gpu = names[0] if names else "CPU (smoke)"
    summary = base_table(base_runs, args.steps, gpu) if "base" in phases else None
    ratio = kv_table(kv8, kv4, args.kv_steps) if "kv" in phases else None
    scaling = two_gpu_table(one_gpu_ref, two, args.steps) if multi and "base" in phases else None
    if not multi:
        print("\n3. 1 vs 2 GPUs: skipped (one GPU, or not in --phases; it needs base with the reference too)")
    doc = dict(gpus=names, smoke=args.smoke, peak_tflops=peak, steps=args.steps, kv_steps=args.kv_steps,
               seeds=seeds, phases=sorted(phases), scripts=sorted(sides), data=data_info, workdir=str(workroot),
               wall_s=time.monotonic() - t0, runs=[asdict(r) for r in every], kv8_over_kv4=ratio,
               baseline_config=summary,
               reference_over_baseline=summary["reference_over_baseline"] if summary else None, two_gpu=scaling)
    args.out.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    print(f"\nwrote {args.out} ({doc['wall_s']:.0f} s)")
    return 0 if all(r.ok for r in every if r.nproc == 1) else 1


if __name__ == "__main__":
    sys.exit(main())
