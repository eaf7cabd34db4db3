"""eval-time: the reported evaluation fits its own 600 s; end to end over 600 s is held for a reviewer."""

from __future__ import annotations

from auditor.model import Confidence, Severity
from auditor.record.checks.base import CheckResult, fmt_s, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts, end_to_end_eval_s, timed_eval_s

RULE = "eval-time"


def check(facts: RecordFacts) -> CheckResult:
    limit = float(facts.option(RULE, "limit_s", 600.0))
    result = CheckResult()
    if facts.non_record:
        result.note = f"no time limit on the {facts.track} track"
        return result
    worst = 0.0
    for run in facts.runs:
        timed, total = timed_eval_s(run), end_to_end_eval_s(run)
        if timed is None and total is None:
            continue
        result.present = True
        worst = max(worst, timed or 0.0, total or 0.0)
        final = run.final
        quote = final.line if final is not None else ""
        if timed is not None and timed > limit:
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: the reported evaluation ({final.stage if final else 'eval'}) took "
                f"{fmt_s(timed)}, over the {limit:.0f} s cap.", path=run.file,
                evidence=log_evidence(quote, note="the reported score and its eval time")))
        elif total is not None and total > limit:
            shown = f"the timed region is {fmt_s(timed)}" if timed is not None else "no stage prints its own time"
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: evaluation end to end (every timed segment after training) is "
                f"{fmt_s(total)}, over {limit:.0f} s; {shown}. Merged records time only the reported evaluation; no "
                f"ruling settles whether the others count.",
                path=run.file, severity=Severity.INFO, confidence=Confidence.MEDIUM,
                evidence=log_evidence(*[s.line for s in run.scores if s.eval_time_ms and s.stage != "periodic"][-4:],
                                      *[t.line for t in run.eval_times][-4:], note="timed segments")))
    if result.present:
        result.note = f"longest {fmt_s(worst)} (timed region or end to end)"
    return result
