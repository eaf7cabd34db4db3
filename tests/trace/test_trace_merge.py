"""Runtime findings join static ones: origin static/runtime/both, disagreements spelled out, schema-valid JSON."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from auditor.model import AuditResult, Confidence, Evidence, Finding, Report, Severity, Verdict
from auditor.render import RENDERERS
from auditor.trace.checks import Observed, RuntimeFinding
from auditor.trace.merge import TraceOutcome, merge

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "auditor/schema/report-v1.json").read_text())


def _static(*findings: Finding) -> AuditResult:
    verdict = Verdict.ILLEGAL if findings else Verdict.CLEAN
    return AuditResult("x/train_gpt.py", verdict, findings)


def _static_finding(rule: str) -> Finding:
    hop = Evidence(12, "loss.backward()")
    return Finding(rule, Severity.ILLEGAL, Confidence.HIGH, 12, "static message", evidence=(hop,))


def _trace(*rules: str) -> TraceOutcome:
    found = [RuntimeFinding(rule, "illegal", f"runtime {rule}", ("event 3",)) for rule in rules]
    observed = Observed(2, 100, 50, 3)
    return TraceOutcome(True, findings=found, observed=observed, wall=1.5, shims="torch.compile -> eager")


def test_agreeing_evidence_is_both_and_keeps_the_line():
    [finding] = merge(_static(_static_finding("prequant-ttt")), _trace("prequant-ttt")).findings
    assert finding.origin == "both" and finding.line == 12 and finding.disagreement is None
    assert finding.evidence[-1] == Evidence(None, "event 3", "runtime")


def test_runtime_only_finding_says_static_missed_it():
    result = merge(_static(), _trace("rescore"))
    [finding] = result.findings
    assert finding.origin == "runtime" and "static analysis did not find" in finding.disagreement
    assert result.verdict is Verdict.ILLEGAL


def test_static_only_finding_says_runtime_did_not_confirm():
    [finding] = merge(_static(_static_finding("rescore")), _trace()).findings
    assert finding.origin == "static" and "did not show it" in finding.disagreement


def test_static_rules_the_trace_cannot_see_are_left_alone():
    [finding] = merge(_static(_static_finding("oracle-select")), _trace()).findings
    assert finding.disagreement is None


def test_unrunnable_script_is_unanalyzable_with_the_output_tail():
    outcome = TraceOutcome(False, "the script raised ImportError: no fa3", "line 1\nImportError: no fa3")
    result = merge(_static(), outcome)
    assert result.verdict is Verdict.UNANALYZABLE and "ImportError" in result.error
    [finding] = result.findings
    assert finding.rule == "unanalyzable" and finding.evidence[-1].text == "ImportError: no fa3"


def test_traced_report_is_schema_valid_and_every_finding_has_an_origin():
    result = merge(_static(_static_finding("rescore")), _trace("prequant-ttt"))
    data = json.loads(RENDERERS["json"](Report("pgolf-audit", "0", "cmd", (result,))))
    jsonschema.validate(data, SCHEMA)
    findings = data["results"][0]["findings"]
    assert sorted(f["origin"] for f in findings) == ["runtime", "static"]
    assert all("disagreement" in f for f in findings)
    assert data["results"][0]["runtime"][0].startswith("device cpu; run completed")
    markdown = RENDERERS["markdown"](Report("pgolf-audit", "0", "cmd", (result,)))
    assert "Static and runtime disagree" in markdown and "**Runtime trace**" in markdown
