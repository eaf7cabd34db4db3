"""The library API: audit a path or a source string and get an AuditResult (no printing, no exiting).

from auditor.api import audit_path
result = audit_path("records/track_10min_16mb/2026-03-23_X/")
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field, replace

from auditor.catalog import load_catalog
from auditor.checks import CHECKERS
from auditor.checks.base import CheckResult
from auditor.facts.bundle import Facts, Linked, RunEvidence, build_facts, link
from auditor.facts.pieces import module_ir
from auditor.load.errors import Unanalyzable
from auditor.load.source import LoadedSource, load
from auditor.model import (
    AuditResult,
    RecordReview,
    CheckOutcome,
    CheckStatus,
    Claims,
    Confidence,
    Finding,
    Severity,
    SourceInfo,
    Verdict,
)
from auditor.record.facts import Baseline
from auditor.record.review import is_record_folder, record_facts, run_checks, summary
from auditor.techniques import detect

DEFAULT_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Options:
    select: frozenset[str] = frozenset()  # empty: every rule
    ignore: frozenset[str] = frozenset()
    max_bytes: int = DEFAULT_MAX_BYTES
    env: dict[str, str] = field(default_factory=dict)  # extra environment the submitted run used
    baseline: Baseline | None = None  # what a record is compared with (seeds-significance); read once per run


def effective_env(source: LoadedSource, options: Options) -> dict[str, str]:
    """Knob values of the submitted run: logged hyper-parameters, then the launch command, then --env."""
    env = {f"knob:{key}": value for key, value in source.logged_hparams.items()}
    env.update(source.launch_env)
    env.update(options.env)
    return env


def analyse(code: str, env: dict[str, str] | None = None, run: RunEvidence | None = None) -> Facts:
    return build_facts(_linked(code), env, run)


@functools.lru_cache(maxsize=2)  # a script and one module it imports; folders sharing a script come in a row (scan)
def _linked(code: str) -> Linked:
    return link(module_ir(code))


def run_evidence(source: LoadedSource) -> RunEvidence:
    """What the submitted run shows beyond the code: its claimed title and the lines its logs printed."""
    return RunEvidence(source.claims.title or "", source.log_lines)


def _enabled(options: Options, kind: str = "code") -> list[str]:
    rules = [rule for rule, spec in load_catalog().items() if spec.kind == kind]
    if options.select:
        rules = [r for r in rules if r in options.select]
    return [r for r in rules if r not in options.ignore]


def _outcome(rule: str, result: CheckResult) -> CheckOutcome:
    spec = load_catalog()[rule]
    findings = result.findings
    lines = tuple(f.line for f in findings if f.line) or result.lines
    if any(f.severity is Severity.ILLEGAL for f in findings):
        return CheckOutcome(rule, spec.check_title, CheckStatus.FOUND, findings[0].message, lines)
    if any(f.severity is Severity.NEEDS_REVIEW for f in findings):
        return CheckOutcome(rule, spec.check_title, CheckStatus.HOLD, findings[0].message, lines)
    if findings:
        status = CheckStatus.NOTE if spec.kind == "record" else CheckStatus.DISABLED
        return CheckOutcome(rule, spec.check_title, status, findings[0].message, lines)
    if result.present:
        return CheckOutcome(rule, spec.check_title, CheckStatus.CLEAR, result.note, lines)
    return CheckOutcome(rule, spec.check_title, CheckStatus.NOT_PRESENT)


def verdict_of(findings: tuple[Finding, ...]) -> Verdict:
    severities = {f.severity for f in findings}
    if Severity.ILLEGAL in severities:
        return Verdict.ILLEGAL
    if Severity.NEEDS_REVIEW in severities:
        return Verdict.NEEDS_REVIEW
    return Verdict.CLEAN


def audit_facts(
    facts: Facts, code: str, options: Options
) -> tuple[tuple[Finding, ...], tuple[CheckOutcome, ...], tuple[str, ...]]:
    findings: list[Finding] = []
    outcomes: list[CheckOutcome] = []
    notes: dict[str, str] = {}
    for rule in _enabled(options):
        result = CHECKERS[rule](facts)
        findings.extend(result.findings)
        outcomes.append(_outcome(rule, result))
        if result.note:
            notes[rule] = result.note
    findings.sort(key=lambda f: f.sort_key)
    return tuple(findings), tuple(outcomes), detect(facts, code, notes)


def _source_info(source: LoadedSource) -> SourceInfo:
    return SourceInfo(
        str(source.script),
        source.sha256,
        len(source.raw),
        source.wrapper,
        len(source.code.encode()) if source.wrapper else None,
        source.siblings,
    )


def audit_path(path: str, options: Options | None = None) -> AuditResult:
    """Audit a training script or a records folder. Raises InputError for usage errors (exit 2)."""
    options = options or Options()
    try:
        source = load(path, max_bytes=options.max_bytes)
    except Unanalyzable as exc:
        return _unanalyzable(path, str(exc), None)
    info = _source_info(source)
    try:
        facts = analyse(source.code, effective_env(source, options), run_evidence(source))
    except Unanalyzable as exc:
        return _unanalyzable(path, str(exc), info, source.claims)
    findings, outcomes, techniques = audit_facts(facts, source.code, options)
    for name, code in sorted(source.sibling_sources.items()):
        extra, extra_outcomes, extra_techniques = _audit_sibling(name, code, source, options)
        findings = tuple(sorted(findings + extra, key=lambda f: f.sort_key))
        outcomes = tuple(_worse(a, b, name) for a, b in zip(outcomes, extra_outcomes))
        techniques += tuple(t for t in extra_techniques if t not in techniques)
    record = None
    if source.folder is not None and is_record_folder(source.folder):
        extra, record = review_folder(source, findings, options)
        findings = findings + extra
    return AuditResult(path, verdict_of(findings), findings, outcomes, techniques, info, source.claims, record=record)


def review_folder(
    source: LoadedSource, code_findings: tuple[Finding, ...], options: Options
) -> tuple[tuple[Finding, ...], RecordReview]:
    """The record review of the script's folder: its findings and the summary the review's key line shows."""
    code_rules = frozenset(f.rule for f in code_findings if f.severity.rank >= Severity.NEEDS_REVIEW.rank)
    facts = record_facts(source, code_rules, options.baseline)
    results = run_checks(facts, _enabled(options, "record"))
    findings = tuple(f for _, result in results for f in result.findings)
    return findings, summary(facts, tuple(_outcome(rule, result) for rule, result in results))


def _audit_sibling(
    name: str, code: str, source: LoadedSource, options: Options
) -> tuple[tuple[Finding, ...], tuple[CheckOutcome, ...], tuple[str, ...]]:
    """A module the script imports from its folder (an n-gram cache, a tilt helper) is audited like the script."""
    try:
        facts = analyse(code, effective_env(source, options), replace(run_evidence(source), library=True))
    except Unanalyzable as exc:
        spec = load_catalog()["unanalyzable"]
        finding = Finding(
            "unanalyzable",
            spec.severity,
            Confidence.HIGH,
            None,
            f"the imported module {name} could not be analysed: {exc}",
            path=name,
        )
        return (
            (finding,),
            tuple(CheckOutcome(r, load_catalog()[r].check_title, CheckStatus.NOT_PRESENT) for r in _enabled(options)),
            (),
        )
    findings, outcomes, techniques = audit_facts(facts, code, options)
    return tuple(replace(f, path=name) for f in findings), outcomes, techniques


_STATUS_RANK = {
    CheckStatus.NOT_PRESENT: 0,
    CheckStatus.CLEAR: 1,
    CheckStatus.DISABLED: 2,
    CheckStatus.HOLD: 3,
    CheckStatus.FOUND: 4,
}


def _worse(script: CheckOutcome, sibling: CheckOutcome, name: str) -> CheckOutcome:
    """The numbered check reports the worse of the script's and an imported module's outcome."""
    if _STATUS_RANK[sibling.status] <= _STATUS_RANK[script.status]:
        return script
    return replace(sibling, note=f"in {name}: {sibling.note}" if sibling.note else f"in {name}")


def audit_source(code: str, path: str = "<string>", options: Options | None = None) -> AuditResult:
    """Audit code held in memory (no folder: no claims, no launch environment)."""
    options = options or Options()
    info = SourceInfo(path, hashlib.sha256(code.encode()).hexdigest(), len(code.encode()))
    try:
        facts = analyse(code, dict(options.env))
    except Unanalyzable as exc:
        return _unanalyzable(path, str(exc), info)
    findings, outcomes, techniques = audit_facts(facts, code, options)
    return AuditResult(path, verdict_of(findings), findings, outcomes, techniques, info)


def _unanalyzable(path: str, error: str, info: SourceInfo | None, claims: Claims | None = None) -> AuditResult:
    spec = load_catalog()["unanalyzable"]
    outcome = CheckOutcome("unanalyzable", spec.check_title, CheckStatus.FOUND, error)
    return AuditResult(path, Verdict.UNANALYZABLE, (), (outcome,), (), info, claims or Claims(), error)
