"""The benchmark scripts run end to end at toy size (bench_mlp's timing loop on CPU through the interpreter)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))


def test_bench_compress_prints_every_compressor_and_writes_json(tmp_path):
    from reference.artifact import artifact_compressors

    out = tmp_path / "compress.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_compress.py"), "--layers", "1", "--dim",
                           "64", "--hidden", "128", "--kv-dim", "64", "--vocab", "128", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in artifact_compressors():
        assert name in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert {r["layout"] for r in rows} == {"offset", "zigzag", "int8"} and all(r["bytes"] > 0 for r in rows)


def test_bench_mlp_without_cuda_is_one_error_line(capsys):
    import bench_mlp

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert bench_mlp.run_mlp_bench([]) == 2
    assert capsys.readouterr().err.splitlines() == ["pgolf-audit: error: bench_mlp needs a CUDA GPU and triton"]


def test_bench_mlp_rows_on_cpu_through_the_interpreter(monkeypatch):
    pytest.importorskip("triton")
    import bench_mlp

    from reference import fused_mlp

    if torch.cuda.is_available():
        pytest.skip("the GPU runs the real benchmark")
    monkeypatch.setattr(fused_mlp, "MLP_KERNELS_ON_CPU", True)

    def one_shot(fn, warmup, rep, return_mode):  # do_bench stand-in: CUDA events are unavailable on CPU
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e3

    rows = bench_mlp.bench_shape(one_shot, bench_mlp.mlp_variants([]), 40, 24, 48, "leaky_relu2", device="cpu")
    assert [r["variant"] for r in rows] == ["eager", "fused"]
    assert all(r["max_rel_err_vs_fp32"] < 3e-2 and r["fwd_bwd_tflops"] > 0 for r in rows)


@pytest.mark.parametrize("act", ["leaky_relu2", "relu2"])
def test_bench_mlp_sweep_on_cpu_through_the_interpreter(monkeypatch, capsys, act):
    pytest.importorskip("triton")
    import bench_mlp

    from reference import fused_mlp

    if torch.cuda.is_available():
        pytest.skip("the GPU runs the real sweep")
    monkeypatch.setattr(fused_mlp, "MLP_KERNELS_ON_CPU", True)
    configs = [fused_mlp.mlp_config(16, 32, 16, 1, 4, progs_per_sm=0), fused_mlp.mlp_config(32, 32, 16, 1, 4)]
    rows = bench_mlp.sweep_epilogues(lambda fn, **_: 1.0, configs, 40, 24, 48, act, device="cpu")
    assert [(r["epilogue"], r["config"].split()[0]) for r in rows] == [
        (1, "cuBLAS"), (1, "16x32x16"), (1, "32x32x16"), (2, "cuBLAS"), (2, "16x32x16"), (2, "32x32x16")]
    assert all("error" not in r and r["rel_err"] < 1e-2 and r["signs_ok"] for r in rows if "cfg" in r)  # bf16 out
    assert len(bench_mlp.best_configs(rows, per_epilogue=1)) == 1  # the same config wins both (ties keep order)
    assert f"sweep 40x24->48 {act}" in capsys.readouterr().out


def test_sweep_reference_smoke_times_each_variant_and_reports(tmp_path):
    out = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "sweep_reference.py"), "--smoke", "--out", str(out),
                           "--variants", "ref,fused-mlp", "--steps", "5", "--warmup", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert [v["variant"] for v in doc["variants"]] == ["ref", "fused-mlp"]
    assert all(v["median_ms"] > 0 and v["accum_steps"] == 2 for v in doc["variants"])
    assert doc["variants"][1]["env"]["FUSED_MLP"] == "1" and "fused-mlp" in proc.stdout


def test_sweep_kernel_categories_split_profiled_time():
    import sweep_reference

    class Event:
        def __init__(self, key, us):
            self.key, self.self_device_time_total = key, us

    class Prof:
        def key_averages(self):
            return [Event("pytorch_flash::flash_fwd_kernel", 4000.0), Event("nvjet_hsh_128x256", 3000.0),
                    Event("mlp_matmul_kernel", 2000.0), Event("triton_poi_fused_add_0", 1000.0),
                    Event("aten::mm", 0.0), Event("Memcpy HtoD", 500.0)]

    totals, top = sweep_reference.kernel_categories(Prof(), steps=2)
    assert totals == {"attention": 2.0, "GEMM": 1.5, "fused MLP kernel": 1.0, "other Triton": 0.5, "rest": 0.25}
    assert top[0] == ("pytorch_flash::flash_fwd_kernel", 2.0) and len(top) == 5


def test_bench_reference_rejects_bad_phases_and_seeds(tmp_path):
    for bad in (["--phases", "base,warp"], ["--seeds", "1,x"]):
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--smoke",
                               "--baseline", __file__, "--out", str(tmp_path / "b.json"), *bad],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "--phases takes base, kv, two" in proc.stderr


def test_bench_reference_kv_phase_alone_runs_both_kv_counts(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--smoke", "--baseline",
                           __file__, "--out", str(out), "--phases", "kv", "--kv-steps", "4"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert [r["label"] for r in doc["runs"]] == ["reference pr1250 kv8", "reference pr1250 kv4"]
    assert doc["kv8_over_kv4"] > 0 and doc["baseline_config"] is None and "1. Baseline" not in proc.stdout


def test_bench_reference_on_a_corpus_then_merged_with_another_call(tmp_path):
    """One call per script (here the reference twice, the second relabelled), joined by --merge with Welch tests."""
    from auditor.data.synth import bundled_documents

    for i, doc in enumerate(bundled_documents()[:60]):
        (tmp_path / "texts").mkdir(exist_ok=True)
        (tmp_path / "texts" / f"m{i:02d}.py").write_text(doc, encoding="utf-8")
    out = tmp_path / "ref.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--smoke", "--baseline",
                           __file__, "--out", str(out), "--phases", "base", "--scripts", "reference", "--steps", "3",
                           "--seeds", "1,2", "--corpus", str(tmp_path / "texts" / "*.py"),
                           "--corpus-val-tokens", "8192"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["data"]["train_tokens"] == int(3 * 2048 * 1.01) and doc["data"]["val_tokens"] == 8192
    assert [(r["kind"], r["seed"]) for r in doc["runs"]] == [("reference", "1"), ("reference", "2")]
    assert doc["baseline_config"]["reference"]["val_bpb_std"] is not None and "baseline" not in doc[
        "baseline_config"]
    assert doc["data"]["sha256"] in proc.stdout and "Welch" not in proc.stdout

    for run in doc["runs"]:  # a stand-in "baseline" call: the same runs 0.1 bpb better
        run.update(kind="baseline", label=run["label"].replace("reference", "baseline"), val_bpb=run["val_bpb"] - 0.1,
                   step_ms=2 * run["step_ms"])
    (tmp_path / "base.json").write_text(json.dumps(doc))
    merged = tmp_path / "merged.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_reference.py"), "--out", str(merged),
                           "--merge", str(tmp_path / "base.json"), str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(merged.read_text())["baseline_config"]
    assert summary["reference_over_baseline"] == pytest.approx(0.5)
    welch = summary["val_bpb_welch"]
    assert welch["diff"] == pytest.approx(0.1) and welch["p_reference_worse"] < 0.5
    assert "reference - baseline, val_bpb@3 (pre-quant): +0.1000" in proc.stdout and "DIFFERENT" not in proc.stdout
