"""train-time: every run stops training within 600 s (plus the one step that started before the cap)."""

from __future__ import annotations

from auditor.model import Confidence, Severity
from auditor.record.checks.base import CheckResult, fmt_s, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts

RULE = "train-time"


def check(facts: RecordFacts) -> CheckResult:
    limit = float(facts.option(RULE, "limit_s", 600.0))
    grace = float(facts.option(RULE, "grace_s", 2.0))
    result = CheckResult()
    if facts.non_record:
        result.note = f"no time limit on the {facts.track} track"
        return result
    timed = [run for run in facts.runs if run.train_time_ms is not None]
    for run in timed:
        result.present = True
        seconds = run.train_time_ms / 1000
        if seconds > limit + grace:
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: trained for {fmt_s(seconds)}, {seconds - limit:.1f} s over the {limit:.0f} s "
                f"cap (the last step and its validation may end up to {grace:g} s after it).", path=run.file,
                evidence=log_evidence(run.quotes.get("train_time", ""), note="the last training time logged")))
    result.findings.extend(_hardware(facts))
    if timed:
        result.note = f"longest {fmt_s(max(run.train_time_ms for run in timed) / 1000)} over {len(timed)} run(s)"
    return result


def _hardware(facts: RecordFacts):
    """Runs on fewer than 8 GPUs or on other GPUs than H100s: the limit is defined on 8xH100 SXM (#1959)."""
    for run in facts.runs:
        other = [gpu for gpu in run.gpus if "H100" not in gpu]
        if run.world_size is not None and run.world_size < 8:
            what = f"world_size {run.world_size}"
        elif other:
            what = f"GPU {other[0]}"
        else:
            continue
        yield record_finding(
            RULE, f"{run_name(run)}: ran with {what}; the 600 s limit is defined on 8xH100 SXM, and times measured "
            f"elsewhere or extrapolated were not accepted (#1959).", path=run.file, severity=Severity.NEEDS_REVIEW,
            confidence=Confidence.MEDIUM)
