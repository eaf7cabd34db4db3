"""calibration-within-budget: train time + data-touching calibration after the loop <= 600 s."""

from __future__ import annotations

import re

from auditor.model import Severity
from auditor.record.checks.base import CheckResult, fmt_s, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts

RULE = "calibration-within-budget"
# generating calibration text with the model itself reads no data: it may run in the eval budget (rules.md §12)
_SELF_GENERATED = re.compile(r"\bgenerat|self[-_ ]?gen|autoregress|\bAR\b", re.IGNORECASE)


def check(facts: RecordFacts) -> CheckResult:
    limit = float(facts.option(RULE, "limit_s", 600.0))
    tolerated = float(facts.option(RULE, "tolerated_s", 10.0))
    result = CheckResult()
    if facts.non_record:
        result.note = f"no time limit on the {facts.track} track"
        return result
    for run in facts.runs:
        if any(_SELF_GENERATED.search(t.line) for t in run.calibration):
            result.present = True  # the whole GPTQ pass (`gptq:done in …`) runs on the model's own text
            result.note = "calibration on self-generated tokens reads no data"
            continue
        touching = list(run.calibration)
        if not touching or run.train_time_ms is None:
            continue
        result.present = True
        train = run.train_time_ms / 1000
        calibration_s = sum(t.seconds for t in touching)
        total = train + calibration_s
        if total <= limit:
            continue
        reserve = f"; the reserve was {run.gptq_reserve_s:g} s" if run.gptq_reserve_s is not None else ""
        small = total - limit <= tolerated
        practice = (" Merged April records overshoot like this; March closures (#606, 3.6 s) did not allow it."
                    if small else "")
        result.findings.append(record_finding(
            RULE, f"{run_name(run)}: training {fmt_s(train)} + calibration {fmt_s(calibration_s)} = "
            f"{fmt_s(total)}, over the {limit:.0f} s training budget{reserve}.{practice}", path=run.file,
            severity=Severity.INFO if small else None,
            evidence=log_evidence(run.quotes.get("train_time", ""), *[t.line for t in touching],
                                  note="calibration after the training loop")))
    if result.present and not result.note:
        result.note = "calibration time is logged and checked against the training budget"
    return result
