"""`pgolf-audit trace`: one report, exit codes, one error line for bad input, no traceback from a broken script."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from conftest import TRACE_FIXTURES

pytest.importorskip("torch")


def test_broken_script_is_unanalyzable_not_a_traceback(capsys, toy_data, monkeypatch):
    monkeypatch.setattr("auditor.trace.runner.dataset", lambda *a, **k: toy_data)
    code = main(["trace", str(TRACE_FIXTURES / "broken_missing_module.py"), "--format", "json", "--no-probe"])
    out, err = capsys.readouterr()
    result = json.loads(out)["results"][0]
    assert code == 1 and result["verdict"] == "unanalyzable"
    assert "fused_golf_kernels" in result["error"]
    assert any("ModuleNotFoundError" in hop["text"] for hop in result["findings"][0]["evidence"])
    assert "Traceback" not in err


def test_bad_flags_are_one_line_and_exit_2(capsys):
    assert main(["trace", "x.py", "--device", "tpu"]) == 2
    assert main(["trace", "x.py", "--timeout", "0"]) == 2
    assert main(["trace", "x.py", "--env", "NOEQUALS"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("pgolf-audit: error: ") for line in err)
