"""Helpers shared by the record checkers: a finding located in a log or in submission.json."""

from __future__ import annotations

from auditor.catalog import load_catalog
from auditor.checks.base import CheckResult
from auditor.load.logs import LogRun
from auditor.model import Confidence, Evidence, Finding, Severity

__all__ = ["CheckResult", "record_finding", "log_evidence", "run_name", "fmt_s", "fmt_bytes"]


def record_finding(
    rule: str,
    message: str,
    *,
    path: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    severity: Severity | None = None,
    confidence: Confidence = Confidence.HIGH,
) -> Finding:
    """A finding of a record rule at the rule's severity unless told otherwise; `path` is the log or json file."""
    return Finding(rule, severity or load_catalog()[rule].severity, confidence, None, message, evidence=evidence,
                   path=path)


def log_evidence(*lines: str, note: str = "") -> tuple[Evidence, ...]:
    """Log lines as evidence hops (no line numbers: logs are quoted, not located)."""
    return tuple(Evidence(None, line, note if i == len(lines) - 1 else "") for i, line in enumerate(lines) if line)


def run_name(run: LogRun) -> str:
    seed = f" (seed {run.seed})" if run.seed is not None else ""
    return (run.file if not run.index else f"{run.file} run {run.index + 1}") + seed


def fmt_s(seconds: float) -> str:
    return f"{seconds:,.1f} s"


def fmt_bytes(n: int) -> str:
    return f"{n:,} bytes"
