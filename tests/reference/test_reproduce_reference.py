"""`pgolf-audit reproduce` on the real reference script under torchrun: a records folder made from a toy run is
reproduced by rerunning its seed; the preset names resolve to the generated script."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")

from auditor.cli import main  # noqa: E402
from auditor.load.logs import parse_log_file  # noqa: E402
from auditor.reproduce.target import resolve  # noqa: E402

from reference import build  # noqa: E402


def test_presets_resolve_to_the_generated_script():
    target = resolve("pr1250")
    assert target.script.resolve() == build.OUTPUT.resolve() and target.env == {"PRESET": "pr1250"}
    assert resolve("preset:baseline").env == {"PRESET": "baseline"} and target.folder is None


def test_a_toy_record_is_reproduced_by_rerunning_its_seed(pipeline_run, toy_data, toy_env, tmp_path, capsys):
    _, source = pipeline_run
    (run,) = parse_log_file(source / "logs" / "reference.txt")
    folder = tmp_path / "toy_record"
    folder.mkdir()
    shutil.copy(source / "train_gpt.py", folder / "train_gpt.py")
    shutil.copy(source / "logs" / "reference.txt", folder / "train_seed7.log")
    (folder / "submission.json").write_text(json.dumps({
        "name": "toy", "author": "t", "github_id": "t", "val_bpb": run.final.val_bpb, "seeds": [7],
        "bytes_total": run.total_bytes}))
    env = [arg for key, value in toy_env.items() if key != "SEED" for arg in ("--env", f"{key}={value}")]
    out = tmp_path / "out"
    code = main(["reproduce", str(folder), "--nproc", "1", "--data", str(toy_data.root), "--out", str(out),
                 "--format", "json", *env])
    rep = json.loads(capsys.readouterr().out)
    assert rep["verdict"] == "reproduced" and code == 0, rep["reasons"]
    (row,) = rep["rows"]
    assert row["seed"] == "7" and row["stage"] == "legal_ttt" and row["claimed_steps"] == 40
    assert abs(row["delta"]) < 1e-3  # same seed, same data, CPU: the same run
    assert (out / "reproduction.md").read_text().startswith("### pgolf-audit reproduction — ")
