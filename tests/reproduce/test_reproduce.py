"""`pgolf-audit reproduce` on small stand-in scripts (no torch): verdicts, tolerance, failures, report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.reproduce.compare import tolerance

# A stand-in training script: prints the challenge's log lines with a val_bpb of BASE + a seed-dependent wobble.
FAKE = '''
import os, sys
seed = int(os.environ["SEED"])
if os.environ.get("FAIL_SEED") == str(seed):
    sys.exit("CUDA error: out of memory")
bpb = float(os.environ.get("BASE", "1.2000")) + (seed % 7) * 0.0002
print(f"seed:{seed}")
print("train_loader:dataset:fineweb10B_sp1024 train_shards:80")
print(f"step:100/20000 train_loss:2.5 train_time:590000ms step_avg:{5900 + seed % 3:.2f}ms")
print("stopping_early: wallclock_cap train_time:590000ms step:100/20000")
print("Code size: 50000 bytes")
print(f"Total submission size int6+lzma: {int(os.environ.get('BYTES', '15900000'))} bytes")
print(f"legal_ttt val_loss:{bpb * 1.69:.4f} val_bpb:{bpb:.4f} eval_time:400000ms")
print(f"legal_ttt_exact val_loss:{bpb * 1.69:.8f} val_bpb:{bpb:.8f}")
'''


def record(tmp_path: Path, claims: dict) -> Path:
    folder = tmp_path / "record"
    folder.mkdir()
    (folder / "train_gpt.py").write_text(FAKE, encoding="utf-8")
    (folder / "submission.json").write_text(json.dumps({"name": "Fake", "author": "t", "github_id": "t", **claims}))
    return folder


def reproduce(folder: Path, out: Path, *extra: str) -> tuple[int, dict]:
    code = main(["reproduce", str(folder), "--launcher", "python", "--out", str(out), "--format", "json", *extra])
    return code, json.loads((out / "reproduction.json").read_text())


CLAIMS = {"val_bpb": 1.2004, "bytes_total": 15_900_000, "seeds": [1337, 42, 2025]}


def test_matching_claims_are_reproduced(tmp_path, capsys):
    code, rep = reproduce(record(tmp_path, CLAIMS), tmp_path / "out")
    assert code == 0 and rep["verdict"] == "reproduced"
    assert [r["seed"] for r in rep["rows"]] == ["1337", "42", "2025"]  # the claimed seeds by default
    assert rep["rows"][0]["val_bpb"] == pytest.approx(1.2000 + (1337 % 7) * 0.0002)
    assert rep["rows"][0]["steps"] == 100 and rep["rows"][0]["bytes_total"] == 15_900_000
    assert rep["tolerance"] == pytest.approx(0.003)  # the floor: three close seeds, no claimed spread
    assert (tmp_path / "out" / "train_seed42.log").is_file() and (tmp_path / "out" / "reproduction.md").is_file()
    assert json.loads(capsys.readouterr().out)["verdict"] == "reproduced"


def test_the_rerun_is_written_as_a_records_folder_the_review_reads(tmp_path, capsys):
    _, rep = reproduce(record(tmp_path, CLAIMS), tmp_path / "out", "--seeds", "1,2,3")
    folder = tmp_path / "out" / "record"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "submission.json", "train_gpt.py",
                                                         "train_seed1.log", "train_seed2.log", "train_seed3.log"]
    doc = json.loads((folder / "submission.json").read_text())
    assert doc["seeds"] == [1, 2, 3] and doc["val_bpb"] == pytest.approx(rep["mean_bpb"])
    assert doc["bytes_total"] == 15_900_000 and doc["bytes_code"] == 50_000
    capsys.readouterr()
    main([str(folder), "--format", "json", "--write", f"json={tmp_path / 'review.json'}"])
    review = json.loads((tmp_path / "review.json").read_text())["results"][0]
    assert len(review["record"]["runs"]) == 3


def test_a_missed_mean_is_not_reproduced(tmp_path, capsys):
    code, rep = reproduce(record(tmp_path, CLAIMS), tmp_path / "out", "--env", "BASE=1.2100", "--seeds", "1,2")
    assert code == 1 and rep["verdict"] == "not reproduced"
    assert "outside the tolerance" in rep["reasons"][0]


def test_an_artifact_over_the_cap_is_not_reproduced(tmp_path, capsys):
    code, rep = reproduce(record(tmp_path, CLAIMS), tmp_path / "out", "--env", "BYTES=16000001", "--seeds", "1")
    assert code == 1 and rep["verdict"] == "not reproduced"
    assert any("over the 16,000,000-byte cap" in r for r in rep["reasons"])


def test_a_crashing_seed_could_not_run_and_says_why(tmp_path, capsys):
    code, rep = reproduce(record(tmp_path, CLAIMS), tmp_path / "out", "--env", "FAIL_SEED=42")
    assert code == 1 and rep["verdict"] == "could not run"
    assert rep["reasons"] == ["seed 42: exit code 1: CUDA error: out of memory"]


def test_per_seed_claims_come_from_seed_results_and_the_folders_logs(tmp_path, capsys):
    folder = record(tmp_path, {"val_bpb": 1.2004, "seed_results": {"7": {"val_bpb": 1.2014}}})
    (folder / "train_seed8.log").write_text("seed:8\nstep:120/20000 train_loss:2.4 train_time:590000ms\n"
                                             "legal_ttt_exact val_loss:2.02 val_bpb:1.19990000\n")
    _, rep = reproduce(folder, tmp_path / "out", "--seeds", "7,8")
    rows = {r["seed"]: r for r in rep["rows"]}
    assert rows["7"]["claimed_bpb"] == 1.2014 and rows["8"]["claimed_bpb"] == 1.1999
    assert rows["8"]["claimed_steps"] == 120 and rows["8"]["steps"] == 100
    assert any("100 steps against 120" in r for r in rep["reasons"])


def test_tolerance_grows_with_seed_noise():
    assert tolerance([1.0, 1.0, 1.0], [], 0.003) == 0.003
    assert tolerance([1.00, 1.01, 1.02], [1.0, 1.02], 0.003) == pytest.approx(3 * (0.01**2 / 3 + 0.0002 / 2) ** 0.5)


@pytest.mark.parametrize(("argv", "message"), [
    (["reproduce", "no-such-thing"], "neither a path nor a reference preset"),
    (["reproduce", "preset:gpt5"], "neither a path nor a reference preset"),
    (["reproduce", "pr1250", "--seeds", "1,x"], "comma-separated integers"),
    (["reproduce", "pr1250", "--env", "NOEQUALS"], "KEY=VALUE"),
    (["reproduce", "pr1250", "--nproc", "0"], "must be positive"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf-audit: error: ") and message in err and err.count("\n") == 1
