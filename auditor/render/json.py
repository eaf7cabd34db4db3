"""JSON renderer: one versioned document per run, validated by `auditor/schema/report-v1.json`.

`render(report)` returns the text; `document(report)` returns the same data as plain dicts for callers that embed it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

from auditor.model import AuditResult, CheckOutcome, Claims, Evidence, Finding, RecordReview, Report, SourceInfo
from auditor.render.common import check_title, sorted_findings

SCHEMA_VERSION = 1


def _source(source: SourceInfo | None) -> dict | None:
    if source is None:
        return None
    return {
        "script": source.script,
        "sha256": source.sha256,
        "size": source.size,
        "wrapper": source.wrapper,
        "inner_size": source.inner_size,
        "siblings": list(source.siblings),
    }


def _claims(claims: Claims) -> dict:
    return {
        "title": claims.title,
        "val_bpb": claims.val_bpb,
        "seeds": list(claims.seeds),
        "bytes_total": claims.bytes_total,
    }


def _check(outcome: CheckOutcome) -> dict:
    return {
        "rule": outcome.rule,
        "title": check_title(outcome.rule, outcome.title),
        "status": outcome.status.value,
        "note": outcome.note,
        "lines": list(outcome.lines),
    }


def _evidence(hop: Evidence) -> dict:
    return {"line": hop.line, "text": hop.text, "note": hop.note}


def _finding(finding: Finding, traced: bool) -> dict:
    """`origin` is written for every finding of a traced result; a static-only report stays as before."""
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "confidence": finding.confidence.value,
        "path": finding.path,
        "line": finding.line,
        "end_line": finding.end_line,
        "message": finding.message,
        "knob": finding.knob,
        "evidence": [_evidence(hop) for hop in finding.evidence],
        **({"origin": finding.origin} if traced or finding.origin != "static" else {}),
        **({"disagreement": finding.disagreement} if finding.disagreement else {}),
    }


def _record(record: RecordReview | None) -> dict | None:
    if record is None:
        return None
    significance = asdict(record.significance) if record.significance is not None else None
    if significance is not None:  # JSON has no NaN
        significance.update({k: None for k in ("t", "p") if math.isnan(significance[k])})
    return {
        "runs": [asdict(run) for run in record.runs],
        "checks": [_check(outcome) for outcome in record.checks],
        "mean_bpb": record.mean_bpb,
        "std_bpb": record.std_bpb,
        "mean_loss": record.mean_loss,
        "max_bytes": record.max_bytes,
        "shipped_code_bytes": record.shipped_code_bytes,
        "significance": significance,
    }


def _result(result: AuditResult) -> dict:
    return {
        "path": result.path,
        "verdict": result.verdict.value,
        "error": result.error,
        "source": _source(result.source),
        "claims": _claims(result.claims),
        "techniques": list(result.techniques),
        "checks": [_check(outcome) for outcome in result.checks],
        "findings": [_finding(finding, bool(result.runtime)) for finding in sorted_findings(result)],
        "record": _record(result.record),
        **({"runtime": list(result.runtime)} if result.runtime else {}),
    }


def document(report: Report) -> dict:
    """The report as JSON-ready dicts, in schema order."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": report.tool_name, "version": report.tool_version},
        "command": report.command,
        "results": [_result(result) for result in report.results],
    }


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"
