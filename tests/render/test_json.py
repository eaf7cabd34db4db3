"""The JSON document validates against the shipped schema and carries every model field."""
from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from auditor.model import AuditResult, CheckStatus, Confidence, Finding, Severity, Verdict
from auditor.render import RENDERERS
from auditor.render.json import document, render


@pytest.fixture(scope="module")
def schema() -> dict:
    text = (resources.files("auditor") / "schema" / "report-v1.json").read_text(encoding="utf-8")
    loaded = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_registered():
    assert RENDERERS["json"] is render


def test_validates_against_shipped_schema(full_report, schema):
    data = json.loads(render(full_report))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema_version"] == 1
    assert data["tool"] == {"name": "pgolf-audit", "version": "0.1.0"}
    assert data["command"] == full_report.command
    assert [r["verdict"] for r in data["results"]] == ["clean", "illegal", "needs-review", "unanalyzable"]


def test_round_trips_fields(full_report, build):
    data = json.loads(render(full_report))
    clean, illegal, wrapped, empty = data["results"]
    assert clean["claims"] == {"title": "Clean 11L GQA + score-first TTT", "val_bpb": 1.081,
                               "seeds": ["42", "1337", "2024"], "bytes_total": 15_991_930}
    assert clean["techniques"] == ["GQA (4 KV heads)", "BigramHash", "score-first TTT"]
    assert clean["checks"][1] == {"rule": "prequant-ttt", "title": "Pre-quant TTT on val tokens",
                                  "status": "CLEAR", "note": "score-first per chunk", "lines": [1488, 1530]}
    assert clean["source"]["sha256"] == build.sha("clean") and clean["source"]["siblings"] == []
    # an empty outcome title is filled from the catalogue's check_title
    assert clean["checks"][0]["title"] and clean["checks"][0]["title"] != "target-in-hash"

    # findings come sorted by line: the info finding at L40 first
    assert [f["line"] for f in illegal["findings"]] == [40, 131]
    finding = illegal["findings"][1]
    original = build.finding()
    assert finding == {
        "rule": original.rule, "severity": "illegal", "confidence": "high", "path": None, "line": 131,
        "end_line": 132,
        "message": original.message, "knob": "NGRAM_ENABLED",
        "evidence": [{"line": hop.line, "text": hop.text, "note": hop.note} for hop in original.evidence],
    }
    assert wrapped["source"]["wrapper"] == "lzma(raw)+b85 exec shim" and wrapped["source"]["inner_size"] == 50_321
    assert empty["error"].startswith("train_gpt.py is empty") and empty["findings"] == [] and empty["checks"] == []


def test_schema_rejects_unknown_enums_and_keys(full_report, schema):
    validator = jsonschema.Draft202012Validator(schema)
    data = document(full_report)
    data["results"][1]["findings"][0]["severity"] = "fatal"
    assert not validator.is_valid(data)
    data = document(full_report)
    data["results"][0]["extra"] = True
    assert not validator.is_valid(data)
    data = document(full_report)
    data["results"][3]["error"] = None  # unanalyzable results must say why
    assert not validator.is_valid(data)


def test_unknown_rule_and_null_lines_still_valid(build, schema):
    finding = Finding("future-rule", Severity.NEEDS_REVIEW, Confidence.LOW, None, "A rule not yet in rules/.")
    result = AuditResult(path="x/train_gpt.py", verdict=Verdict.NEEDS_REVIEW, findings=(finding,))
    data = json.loads(render(build.report(result)))
    jsonschema.validate(data, schema)
    assert data["results"][0]["source"] is None
    assert data["results"][0]["findings"][0]["line"] is None


def test_status_enum_matches_model(schema):
    assert set(schema["$defs"]["status"]["enum"]) == {status.value for status in CheckStatus}


def test_deterministic(full_report):
    assert render(full_report) == render(full_report)


def test_sibling_finding_carries_its_path(sibling_report, schema):
    data = json.loads(render(sibling_report))
    jsonschema.Draft202012Validator(schema).validate(data)
    findings = data["results"][0]["findings"]
    # the script's own finding sorts first, then the sibling's
    assert [(f["path"], f["line"]) for f in findings] == [(None, 7), ("ngram_cache.py", 42)]
    assert findings[1]["end_line"] == 43 and [hop["line"] for hop in findings[1]["evidence"]] == [30, 42]
    assert list(findings[1]) == ["rule", "severity", "confidence", "path", "line", "end_line", "message", "knob",
                                 "evidence"]
    broken = document(sibling_report)
    broken["results"][0]["findings"][1]["path"] = ""
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
    del broken["results"][0]["findings"][1]["path"]
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
