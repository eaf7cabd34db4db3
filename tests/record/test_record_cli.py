"""The record review through the CLI: baselines, compare, JSON runs, markdown sections."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
THREE = FIXTURES / "seeds-significance" / "legal_three_seeds"
MARCH = FIXTURES / "artifact-size" / "illegal_over_cap_march"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "auditor" / "schema" / "report-v1.json").read_text())


def _json(capsys, *argv) -> dict:
    main([*argv, "--format", "json", "--exit-zero"])
    return json.loads(capsys.readouterr().out)


def test_json_carries_runs_and_validates(capsys):
    doc = _json(capsys, str(MARCH))
    jsonschema.validate(doc, SCHEMA)
    record = doc["results"][0]["record"]
    assert {run["seed"] for run in record["runs"]} == {"1337", "42", "2025"}
    assert record["max_bytes"] == 16_042_632
    assert {c["rule"]: c["status"] for c in record["checks"]}["artifact-size"] == "FOUND"
    assert doc["results"][0]["verdict"] == "illegal"


def test_a_lone_script_has_no_record(capsys):
    doc = _json(capsys, str(FIXTURES / "prequant-ttt" / "legal_score_first_chunks.py"))
    assert doc["results"][0]["record"] is None


@pytest.mark.parametrize(("flag", "value", "significant"), [("--baseline-bpb", "1.1295", True),
                                                             ("--baseline-bpb", "1.1199", False)])
def test_baseline_bpb_significance(capsys, flag, value, significant):
    doc = _json(capsys, str(THREE), flag, value)
    sig = doc["results"][0]["record"]["significance"]
    assert (sig["p"] < 0.01) is significant and sig["required_nats"] == 0.005
    assert (sig["gain_nats"] > 0.005) is significant


def test_baseline_logs_and_bad_baselines(capsys, tmp_path):
    doc = _json(capsys, str(THREE), "--baseline-logs", str(MARCH))
    assert doc["results"][0]["record"]["significance"]["gain_nats"] == pytest.approx(2.0726993 - 1.8898, abs=1e-4)
    assert main([str(THREE), "--baseline-logs", str(tmp_path)]) == 2
    assert main([str(THREE), "--baseline-logs", str(MARCH), "--baseline-bpb", "1.2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "no run with a final val_loss" in err[0] and "not both" in err[1]


def test_markdown_has_the_record_section(capsys):
    main([str(MARCH), "--format", "markdown"])
    out = capsys.readouterr().out
    assert "### Record checks" in out and "| train\\_seed42.log | 42 |" in out
    assert "**Artifact:** 16,042,632 bytes (largest over the logs)" in out
    assert "**What the logs and submission.json show:**" in out


def test_compare_two_folders(capsys):
    assert main(["compare", str(MARCH), str(THREE), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gain_nats"] == pytest.approx(2.0726993 - 1.8898, abs=1e-4)
    assert doc["p"] < 0.01  # 0.18 nats with a spread of 0.0003: significant
    assert main(["compare", str(THREE), str(MARCH)]) == 0
    assert "gain: -0.18" in capsys.readouterr().out


def test_compare_bad_input(capsys, tmp_path):
    assert main(["compare", str(tmp_path / "nope"), str(THREE)]) == 2
    assert main(["compare", str(tmp_path), str(THREE)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "no such folder" in err[0] and "no run with a final score" in err[1]
