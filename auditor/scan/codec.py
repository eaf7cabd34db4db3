"""AuditResult <-> plain JSON data, so results cross process boundaries and live in the cache as data, not pickles."""

from __future__ import annotations

from auditor.model import (
    AuditResult,
    CheckOutcome,
    CheckStatus,
    Claims,
    Confidence,
    Evidence,
    Finding,
    Severity,
    SourceInfo,
    Verdict,
)


def encode(result: AuditResult) -> dict:
    source = result.source
    return {
        "path": result.path,
        "verdict": result.verdict.value,
        "error": result.error,
        "techniques": list(result.techniques),
        "claims": {
            "title": result.claims.title,
            "val_bpb": result.claims.val_bpb,
            "seeds": list(result.claims.seeds),
            "bytes_total": result.claims.bytes_total,
        },
        "source": None
        if source is None
        else {
            "script": source.script,
            "sha256": source.sha256,
            "size": source.size,
            "wrapper": source.wrapper,
            "inner_size": source.inner_size,
            "siblings": list(source.siblings),
        },
        "checks": [[c.rule, c.title, c.status.value, c.note, list(c.lines)] for c in result.checks],
        "findings": [_finding(f) for f in result.findings],
    }


def _finding(f: Finding) -> dict:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "confidence": f.confidence.value,
        "line": f.line,
        "message": f.message,
        "end_line": f.end_line,
        "evidence": [[e.line, e.text, e.note] for e in f.evidence],
        "knob": f.knob,
        "path": f.path,
    }


def decode(data: dict) -> AuditResult:
    source = data["source"]
    claims = data["claims"]
    return AuditResult(
        path=data["path"],
        verdict=Verdict(data["verdict"]),
        findings=tuple(
            Finding(
                f["rule"],
                Severity(f["severity"]),
                Confidence(f["confidence"]),
                f["line"],
                f["message"],
                f["end_line"],
                tuple(Evidence(*hop) for hop in f["evidence"]),
                f["knob"],
                f["path"],
            )
            for f in data["findings"]
        ),
        checks=tuple(CheckOutcome(r, t, CheckStatus(s), n, tuple(ls)) for r, t, s, n, ls in data["checks"]),
        techniques=tuple(data["techniques"]),
        source=None if source is None else SourceInfo(**{**source, "siblings": tuple(source["siblings"])}),
        claims=Claims(claims["title"], claims["val_bpb"], tuple(claims["seeds"]), claims["bytes_total"]),
        error=data["error"],
    )
