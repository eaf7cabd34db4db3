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
