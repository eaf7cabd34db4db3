"""Shared vocabulary of the renderers: verdict tokens, recommendations, rule metadata lookups, ordering.

Every renderer reads the report model and the rule catalogue only; nothing here touches files, argv or libcst.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from auditor.catalog import RuleSpec, load_catalog
from auditor.model import AuditResult, CheckStatus, Evidence, Finding, Severity, SourceInfo, Verdict

UNANALYZABLE_RULE = "unanalyzable"
UNANALYZABLE_TITLE = "Code could not be analysed"

COMPLIANCE = {
    Verdict.CLEAN: "LOOKS CLEAN",
    Verdict.NEEDS_REVIEW: "FLAG",
    Verdict.ILLEGAL: "ILLEGAL",
    Verdict.UNANALYZABLE: "UNANALYZABLE",
}

RECOMMENDATION = {
    Verdict.CLEAN: "MERGE",
    Verdict.NEEDS_REVIEW: "HOLD",
    Verdict.ILLEGAL: "CLOSE",
    Verdict.UNANALYZABLE: "HOLD",
}

MERGE_CONDITION = (
    "pending the usual record-track checks (3 seeds, 16,000,000-byte cap, 600 s train + 600 s eval on 8xH100 SXM)"
)
UNANALYZABLE_CONDITION = "could not be analysed; a human must read it"
CLEAN_REASON = "no banned construct found"

ORIGIN_TEXT = {"static": "static", "runtime": "runtime trace", "both": "static + runtime trace"}


def rule_spec(rule_id: str) -> RuleSpec | None:
    """The catalogue entry, or None for ids the catalogue does not (yet) know."""
    return load_catalog().get(rule_id)


def rule_title(rule_id: str) -> str:
    spec = rule_spec(rule_id)
    if spec is not None:
        return spec.title
    return UNANALYZABLE_TITLE if rule_id == UNANALYZABLE_RULE else rule_id


def check_title(rule_id: str, given: str) -> str:
    """The heading of a numbered check: the outcome's own title, else the catalogue's, else the id."""
    if given:
        return given
    spec = rule_spec(rule_id)
    return spec.check_title if spec else rule_id


def sorted_findings(result: AuditResult) -> list[Finding]:
    """Deterministic order: line, rule, then severity (worst first) and message as tie-breakers."""
    return sorted(result.findings, key=lambda f: (*f.sort_key, -f.severity.rank, f.message))


def first_finding(result: AuditResult, severity: Severity) -> Finding | None:
    return next((f for f in sorted_findings(result) if f.severity is severity), None)


def compliance_reason(result: AuditResult) -> str:
    """The one-line reason after the compliance token of the key line."""
    if result.verdict is Verdict.UNANALYZABLE:
        return result.error or "the code could not be analysed"
    if result.verdict is Verdict.ILLEGAL:
        finding = first_finding(result, Severity.ILLEGAL)
        return rule_title(finding.rule) if finding else "an illegal construct was reported"
    if result.verdict is Verdict.NEEDS_REVIEW:
        finding = first_finding(result, Severity.NEEDS_REVIEW)
        return rule_title(finding.rule) if finding else "a construct needs a human reading"
    return CLEAN_REASON


def counts(result: AuditResult) -> dict[Severity, int]:
    tally = {severity: 0 for severity in (Severity.ILLEGAL, Severity.NEEDS_REVIEW, Severity.INFO)}
    for finding in result.findings:
        tally[finding.severity] += 1
    return tally


def counts_text(result: AuditResult) -> str:
    tally = counts(result)
    return (
        f"{tally[Severity.ILLEGAL]} illegal · {tally[Severity.NEEDS_REVIEW]} needs review · {tally[Severity.INFO]} info"
    )


def check_counts_text(result: AuditResult) -> str:
    order = (CheckStatus.FOUND, CheckStatus.HOLD, CheckStatus.CLEAR, CheckStatus.NOT_PRESENT, CheckStatus.DISABLED,
             CheckStatus.NOTE)
    tally = {status: 0 for status in order}
    for outcome in result.checks:
        tally[outcome.status] += 1
    return ", ".join(f"{tally[s]} {s.value.lower()}" for s in order if tally[s])


def _clean(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def script_path(result: AuditResult) -> str:
    """The shipped file that locations point at: the script that was read, else the path as given."""
    return _clean(result.source.script if result.source else result.path)


def finding_path(result: AuditResult, finding: Finding) -> str:
    """The file a finding's lines are in: the script, or the sibling module beside it (`Finding.path`)."""
    if finding.path is None:
        return script_path(result)
    sibling = _clean(finding.path)
    if sibling.startswith("/") or (len(sibling) > 1 and sibling[1] == ":"):
        return sibling
    if result.source is not None:
        folder = posixpath.dirname(script_path(result))
    else:  # the path as given: the script itself, or the records folder
        given = script_path(result).rstrip("/")
        folder = posixpath.dirname(given) if given.endswith(".py") else given
    return posixpath.join(folder, sibling) if folder else sibling


def where_text(finding: Finding) -> str:
    """`L12-L14`, or `ngram_cache.py:L12-L14` for a finding in a sibling module; '' when nothing is known."""
    where = lines_text(finding.line, finding.end_line)
    if finding.path is None:
        return where
    return f"{finding.path}:{where}" if where else finding.path


def error_text(result: AuditResult) -> str:
    """Why the result is unanalyzable, without its final full stop so it can sit inside a sentence."""
    return (result.error or "no reason given").strip().rstrip(".")


def lines_text(start: int | None, end: int | None = None) -> str:
    """`L12`, `L12-L14`, or '' when the line is unknown."""
    if start is None:
        return ""
    if end is not None and end > start:
        return f"L{start}-L{end}"
    return f"L{start}"


def decoded_note(source: SourceInfo | None, finding: Finding) -> str:
    """For wrapped code: names the decoded line, since tools can only point at the shipped file."""
    if source is None or source.wrapper is None or finding.path is not None:  # siblings are read as they ship
        return ""
    where = lines_text(finding.line, finding.end_line) or "an unknown line"
    return f"decoded {where} of the {source.wrapper}"


def consecutive(evidence: tuple[Evidence, ...]) -> bool:
    """True when the hops are single source lines that follow each other, so one excerpt shows them all."""
    if not evidence:
        return False
    lines = [hop.line for hop in evidence]
    if any(line is None for line in lines) or any("\n" in hop.text for hop in evidence):
        return False
    return all(b == a + 1 for a, b in zip(lines, lines[1:]))  # type: ignore[operator]


_LINE_REF = re.compile(r"\b(?:L|lines?\s*)\d+(?:\s*[-–]\s*L?\d+)?\b|:\d+\b", re.IGNORECASE)


def strip_line_numbers(message: str) -> str:
    """A message with `L12`, `line 12`, `lines 3-4` and `:12` removed, for fingerprints that survive edits."""
    return _LINE_REF.sub("", message)


def format_bpb(value: float) -> str:
    """At least four decimals, as the leaderboard shows them, without inventing or dropping precision."""
    text = f"{value:.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"


def number_text(value: float | int | None, spec: str) -> str:
    """A table cell: the value in `spec`, or an en dash when the log did not show it."""
    return "–" if value is None else format(value, spec)


@dataclass(frozen=True)
class KeyNumbers:
    """The review's key line: what the logs show when the record review ran, else what submission.json claims."""

    bpb: str
    seeds: tuple[str, ...] | None  # None: nothing claimed or logged
    artifact: str


def key_numbers(result: AuditResult) -> KeyNumbers:
    claims, record = result.claims, result.record
    bpb = format_bpb(claims.val_bpb) if claims.val_bpb is not None else "not claimed"
    seeds: tuple[str, ...] | None = claims.seeds or None
    artifact = f"{claims.bytes_total:,} bytes" if claims.bytes_total is not None else "not claimed"
    if record is not None and record.mean_bpb is not None:  # the logs win; the claim stays beside them
        scored = tuple(run.seed or "?" for run in record.runs if run.val_bpb is not None)
        claimed = f" (claimed {bpb})" if claims.val_bpb is not None else ""
        bpb = f"{record.mean_bpb:.5f} mean of {len(scored)} run(s) in the logs{claimed}"
        seeds = scored
    if record is not None and record.max_bytes is not None:
        artifact = f"{record.max_bytes:,} bytes (largest over the logs)"
    return KeyNumbers(bpb, seeds, artifact)


@dataclass(frozen=True, slots=True)
class Recommendation:
    token: str  # MERGE / CLOSE / HOLD
    rule: str | None  # the rule whose ruling (or open question) is cited
    ruling: str
    ruling_url: str


def recommendation(result: AuditResult) -> Recommendation:
    token = RECOMMENDATION[result.verdict]
    severity = {Verdict.ILLEGAL: Severity.ILLEGAL, Verdict.NEEDS_REVIEW: Severity.NEEDS_REVIEW}.get(result.verdict)
    finding = first_finding(result, severity) if severity else None
    spec = rule_spec(finding.rule) if finding else None
    if finding is None:
        return Recommendation(token, None, "", "")
    if spec is None:
        return Recommendation(token, finding.rule, "", "")
    return Recommendation(token, finding.rule, spec.ruling.strip(), spec.ruling_url.strip())
