"""Join runtime findings with the static audit of the same path: one AuditResult, every finding saying where
its evidence comes from, disagreements spelled out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from auditor.api import verdict_of
from auditor.catalog import load_catalog
from auditor.model import AuditResult, CheckOutcome, CheckStatus, Confidence, Evidence, Finding, Severity, Verdict
from auditor.trace.checks import Observed, RuntimeFinding
from auditor.trace.probe import ProbeResult, describe

# Rules the trace can observe; a static finding of another rule is neither confirmed nor contradicted.
OBSERVABLE = frozenset(
    {
        "prequant-ttt",
        "rescore",
        "scored-region-slot",
        "val-calibration",
        "val-in-artifact",
        "train-data-at-eval",
        "causality",
        "target-in-hash",
        "hashed-ngram-cache",
    }
)
REPORTED = (Severity.ILLEGAL, Severity.NEEDS_REVIEW)


@dataclass
class TraceOutcome:
    ran: bool
    reason: str = ""  # why the run does not count
    tail: str = ""
    findings: list[RuntimeFinding] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    observed: Observed | None = None
    wall: float = 0.0
    shims: str = ""
    device: str = "cpu"


def _hops(rf: RuntimeFinding) -> tuple[Evidence, ...]:
    return tuple(Evidence(None, text, "runtime") for text in rf.evidence)


def _runtime_only(rf: RuntimeFinding, static_info: list[Finding]) -> Finding:
    if static_info:
        knob = static_info[0].knob
        why = "static analysis saw the construct but judged it off with the default configuration" + (
            f" ({knob})" if knob else ""
        )
    else:
        why = "static analysis did not find this construct in the code"
    return Finding(
        rf.rule, Severity(rf.severity), Confidence.HIGH, None, rf.message, evidence=_hops(rf), origin="runtime",
        disagreement=why,
    )


def merge(static: AuditResult, trace: TraceOutcome) -> AuditResult:
    findings = list(static.findings)
    runtime_rules = {rf.rule for rf in trace.findings}
    for rf in trace.findings:
        same = [i for i, f in enumerate(findings) if f.rule == rf.rule and f.severity in REPORTED]
        if same:
            first = same[0]
            findings[first] = replace(findings[first], origin="both", evidence=findings[first].evidence + _hops(rf))
            for i in same[1:]:
                findings[i] = replace(findings[i], origin="both")
        else:
            info = [f for f in findings if f.rule == rf.rule]
            findings.append(_runtime_only(rf, info))
    if trace.ran:
        for i, f in enumerate(findings):
            if f.origin == "static" and f.rule in OBSERVABLE and f.rule not in runtime_rules and f.severity in REPORTED:
                findings[i] = replace(f, disagreement=_not_confirmed(f.rule, trace))
    else:
        findings.append(_unrunnable(trace))
    findings.sort(key=lambda f: f.sort_key)
    merged = tuple(findings)
    verdict = verdict_of(merged)
    error = static.error
    if not trace.ran and verdict is not Verdict.ILLEGAL:
        verdict, error = Verdict.UNANALYZABLE, f"the script could not be traced: {trace.reason}"
    if static.verdict is Verdict.UNANALYZABLE and verdict is not Verdict.ILLEGAL:
        verdict, error = Verdict.UNANALYZABLE, static.error
    checks = tuple(_outcome(c, merged) for c in static.checks)
    return replace(static, verdict=verdict, findings=merged, checks=checks, error=error, runtime=summary(trace))


def _not_confirmed(rule: str, trace: TraceOutcome) -> str:
    if rule == "causality":
        if not trace.probes:
            return "the runtime causality probe did not run, so the trace neither confirms nor refutes it"
        return (
            "the runtime causality probe found no dependence on later tokens "
            f"({'; '.join(describe(p) for p in trace.probes)}); a leak of earlier tokens across a document "
            "boundary is not something perturbing later tokens can show"
        )
    return "the toy-scale run did not show it (the path may not run at toy scale, or the static match is wrong)"


def _unrunnable(trace: TraceOutcome) -> Finding:
    tail = tuple(Evidence(None, line, "output") for line in trace.tail.splitlines()[-12:])
    return Finding(
        "unanalyzable", Severity.NEEDS_REVIEW, Confidence.HIGH, None,
        f"the script could not be run at toy scale: {trace.reason}", evidence=tail, origin="runtime",
    )


def _outcome(outcome: CheckOutcome, findings: tuple[Finding, ...]) -> CheckOutcome:
    runtime = [f for f in findings if f.rule == outcome.rule and f.origin == "runtime"]
    if not runtime or outcome.status in (CheckStatus.FOUND, CheckStatus.HOLD):
        return outcome
    status = CheckStatus.FOUND if runtime[0].severity is Severity.ILLEGAL else CheckStatus.HOLD
    spec = load_catalog().get(outcome.rule)
    title = outcome.title or (spec.check_title if spec else outcome.rule)
    return CheckOutcome(outcome.rule, title, status, f"runtime trace: {runtime[0].message}")


def summary(trace: TraceOutcome) -> tuple[str, ...]:
    lines = [f"device {trace.device}; run {'completed' if trace.ran else 'failed'} in {trace.wall:.1f} s"]
    if trace.shims:
        lines.append(f"shims: {trace.shims}")
    if not trace.ran:
        lines.append(f"reason: {trace.reason}")
    obs = trace.observed
    if obs is not None:
        lines.append(
            f"ledger: {obs.val_positions_scored} val positions scored in {obs.scores} scoring events, "
            f"{obs.val_positions_trained} val positions trained on, {obs.optimizer_steps} optimizer steps"
        )
        lines += [line for line in (obs.phases, f"artifacts: {obs.artifacts}" if obs.artifacts else "") if line]
        lines += obs.notes
    lines += [describe(p) for p in trace.probes]
    return tuple(lines)
