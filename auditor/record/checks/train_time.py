"""train-time: every run stops training within 600 s (plus the one step that started before the cap)."""

from __future__ import annotations

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
    if timed:
        result.note = f"longest {fmt_s(max(run.train_time_ms for run in timed) / 1000)} over {len(timed)} run(s)"
    return result
