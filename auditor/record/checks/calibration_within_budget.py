"""calibration-within-budget: train time + data-touching calibration after the loop <= 600 s."""

from __future__ import annotations

from auditor.record.checks.base import CheckResult, fmt_s, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts

RULE = "calibration-within-budget"


def check(facts: RecordFacts) -> CheckResult:
    limit = float(facts.option(RULE, "limit_s", 600.0))
    result = CheckResult()
    for run in facts.runs:
        if run.calibration_s is None or run.train_time_ms is None:
            continue
        result.present = True
        train = run.train_time_ms / 1000
        total = train + run.calibration_s
        if total <= limit:
            continue
        reserve = f"; the reserve was {run.gptq_reserve_s:g} s" if run.gptq_reserve_s is not None else ""
        result.findings.append(record_finding(
            RULE, f"{run_name(run)}: training {fmt_s(train)} + calibration {fmt_s(run.calibration_s)} = "
            f"{fmt_s(total)}, over the {limit:.0f} s training budget{reserve}.", path=run.file,
            evidence=log_evidence(run.quotes.get("train_time", ""), *[t.line for t in run.calibration],
                                  note="calibration after the training loop")))
    if result.present:
        result.note = "calibration time is logged and checked against the training budget"
    return result
