"""artifact-size: every run's code + compressed model <= 16,000,000 bytes, code counted as shipped."""

from __future__ import annotations

from auditor.model import Confidence, Severity
from auditor.record.checks.base import CheckResult, fmt_bytes, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts

RULE = "artifact-size"


def check(facts: RecordFacts) -> CheckResult:
    limit = int(facts.option(RULE, "limit_bytes", 16_000_000))
    result = CheckResult()
    sized = [run for run in facts.runs if run.total_bytes is not None]
    for run in sized:
        result.present = True
        quote = run.quotes.get("total_bytes", "")
        shipped = _shipped_total(facts, run)
        if run.total_bytes > limit and facts.wrapped and shipped is not None and shipped[0] <= limit:
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: the log totals {fmt_bytes(run.total_bytes)} with {shipped[1]}; the code as "
                f"shipped is {fmt_bytes(facts.shipped_code_bytes)} (a self-extracting wrapper counts at its wrapped "
                f"size), so the total is {fmt_bytes(shipped[0])}, under the cap; the logs should come from a run of "
                f"the shipped file (#1959 was held to its logged total).", path=run.file,
                severity=Severity.NEEDS_REVIEW, evidence=log_evidence(quote, note="the logged total")))
            continue
        if run.total_bytes > limit:
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: total submission size {fmt_bytes(run.total_bytes)} is over the "
                f"{limit:,}-byte cap by {run.total_bytes - limit:,} bytes.", path=run.file,
                evidence=log_evidence(quote, note="the logged total")))
            continue
        if shipped is not None:
            total, counted = shipped
            compressed = run.code_bytes_compressed is not None
            if total > limit:
                result.findings.append(record_finding(
                    RULE, f"{run_name(run)}: the log counts {counted} and totals {fmt_bytes(run.total_bytes)}; with "
                    f"the code as shipped ({fmt_bytes(facts.shipped_code_bytes)}) the total is {fmt_bytes(total)}, "
                    f"over the {limit:,}-byte cap." + (" #1855 was merged counting its code this way." if compressed
                                                       else ""), path=run.file,
                    severity=Severity.INFO if compressed else Severity.NEEDS_REVIEW,
                    confidence=Confidence.MEDIUM, evidence=log_evidence(quote, note="the logged total")))
    if sized:
        largest = max(run.total_bytes for run in sized)
        result.note = f"largest total {fmt_bytes(largest)} over {len(sized)} run(s); cap {limit:,}"
    elif facts.runs:
        result.present = True
        result.findings.append(record_finding(
            RULE, "no run's log prints a total submission size, so the 16,000,000-byte cap cannot be checked.",
            severity=Severity.INFO))
    return result


def _shipped_total(facts: RecordFacts, run) -> tuple[int, str] | None:
    """(total with shipped code, what the log counted) when the log's code size is not the shipped size."""
    logged = run.code_bytes_compressed if run.code_bytes_compressed is not None else run.code_bytes
    if logged is None or logged == facts.shipped_code_bytes:
        return None
    model = run.total_bytes - logged  # `Serialized model` lines may be the raw weights, the total never is
    counted = "compressed code" if run.code_bytes_compressed is not None else f"{fmt_bytes(logged)} of code"
    return model + facts.shipped_code_bytes, counted
