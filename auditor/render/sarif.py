"""SARIF 2.1.0 renderer for GitHub code scanning, built from plain dicts (bandit's approach).

One run; `tool.driver.rules` comes from the rule catalogue; each finding becomes a result whose code flow is the
evidence chain. Code scanning only shows locations in files that exist, so findings in decoded (wrapped) code point
at line 1 of the shipped file and name the decoded line in their message. Findings in a sibling module of the records
folder (`Finding.path`) point at that file, beside the script.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

from auditor.catalog import RuleSpec, load_catalog
from auditor.model import AuditResult, Evidence, Finding, Report, Severity, Verdict
from auditor.render.common import (
    UNANALYZABLE_RULE,
    decoded_note,
    error_text,
    finding_path,
    lines_text,
    rule_spec,
    rule_title,
    script_path,
    sorted_findings,
    strip_line_numbers,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/openai/parameter-golf"
FINGERPRINT_KEY = "pgolfAudit/v1"
SRCROOT = "%SRCROOT%"

LEVEL = {Severity.ILLEGAL: "error", Severity.NEEDS_REVIEW: "warning", Severity.INFO: "note"}
UNANALYZABLE_LEVEL = "warning"  # when the catalogue lacks the rule: the verdict is HOLD, a human must read the code


def _prose(text: str) -> str:
    """TOML prose is hard-wrapped; SARIF viewers reflow text themselves."""
    return " ".join(text.split())


def _symbol(rule_id: str) -> str:
    """`target-in-hash` -> `TargetInHash`: the SARIF `name`, distinct from the id as the spec recommends."""
    return "".join(part[:1].upper() + part[1:] for part in rule_id.split("-") if part)


def _help(spec: RuleSpec) -> dict:
    legal = spec.legal_pattern.strip("\n")
    text = (
        f"Why: {_prose(spec.why)}\n\nFix: {_prose(spec.fix)}\n\nLegal pattern:\n{legal}\n\n"
        f"Ruling: {_prose(spec.ruling)} ({spec.ruling_url})"
    )
    markdown = (
        f"**Why.** {_prose(spec.why)}\n\n**Fix.** {_prose(spec.fix)}\n\n**Legal pattern:**\n\n"
        f"```python\n{legal}\n```\n\n**Ruling:** [{_prose(spec.ruling)}]({spec.ruling_url})"
    )
    return {"text": text, "markdown": markdown}


def _descriptor(spec: RuleSpec) -> dict:
    return {
        "id": spec.id,
        "name": _symbol(spec.id),
        "shortDescription": {"text": _prose(spec.summary)},
        "fullDescription": {"text": _prose(spec.what)},
        "help": _help(spec),
        "helpUri": spec.ruling_url,
        "defaultConfiguration": {"level": LEVEL[spec.severity]},
        "properties": {"tags": ["parameter-golf", *spec.tags]},
    }


def _bare_descriptor(rule_id: str, level: str) -> dict:
    """For ids outside the catalogue: the synthetic `unanalyzable` rule, or a rule being added right now."""
    title = rule_title(rule_id)
    return {
        "id": rule_id,
        "name": _symbol(rule_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": ["parameter-golf"]},
    }


def _rules(report: Report) -> list[dict]:
    catalog = load_catalog()
    rules = [_descriptor(spec) for spec in catalog.values()]
    extra: dict[str, str] = {}
    for result in report.results:
        if result.verdict is Verdict.UNANALYZABLE and UNANALYZABLE_RULE not in catalog:
            extra.setdefault(UNANALYZABLE_RULE, UNANALYZABLE_LEVEL)
        for finding in result.findings:
            if finding.rule not in catalog:
                extra[finding.rule] = max(extra.get(finding.rule, "note"), LEVEL[finding.severity], key=_level_rank)
    rules.extend(_bare_descriptor(rule_id, extra[rule_id]) for rule_id in sorted(extra))
    return rules


def _level_rank(level: str) -> int:
    return {"note": 0, "warning": 1, "error": 2}[level]


def _artifact(path: str) -> dict:
    """Relative to the repository root when the path is relative; an absolute path becomes a file URI."""
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return {"uri": "file://" + ("" if path.startswith("/") else "/") + quote(path, safe="/:")}
    return {"uri": quote(path, safe="/"), "uriBaseId": SRCROOT}


def _physical(path: str, start: int, end: int | None = None) -> dict:
    return {
        "physicalLocation": {
            "artifactLocation": _artifact(path),
            "region": {"startLine": start, "endLine": max(end or start, start)},
        }
    }


def _fingerprint(rule: str, path: str, message: str) -> str:
    key = "\0".join((rule, path, strip_line_numbers(message)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _hop(result: AuditResult, finding: Finding, hop: Evidence) -> dict:
    path = finding_path(result, finding)
    wrapped = finding.path is None and result.source is not None and result.source.wrapper is not None
    text = f"{hop.note}: {hop.text}" if hop.note else hop.text
    if wrapped:
        where = lines_text(hop.line) or "an unknown line"
        location = _physical(path, 1)
        location["message"] = {"text": f"decoded {where}: {text}"}
    else:
        location = _physical(path, hop.line or finding.line or 1)
        location["message"] = {"text": text}
    return {"location": location}


def _finding_result(result: AuditResult, finding: Finding, index: dict[str, int]) -> dict:
    path = finding_path(result, finding)
    note = decoded_note(result.source, finding)
    message = f"{finding.message} ({note})" if note else finding.message
    if note:
        location = _physical(path, 1)
    else:
        location = _physical(path, finding.line or 1, finding.end_line)
    properties: dict = {"confidence": finding.confidence.value, "severity": finding.severity.value}
    if finding.knob:
        properties["knob"] = finding.knob
    properties["origin"] = finding.origin
    if finding.disagreement:
        properties["disagreement"] = finding.disagreement
    sarif = {
        "ruleId": finding.rule,
        "ruleIndex": index[finding.rule],
        "level": LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding.rule, path, finding.message)},
        "properties": properties,
    }
    if finding.evidence:
        hops = [_hop(result, finding, hop) for hop in finding.evidence]
        sarif["codeFlows"] = [{"threadFlows": [{"locations": hops}]}]
    return sarif


def _unanalyzable_result(result: AuditResult, index: dict[str, int]) -> dict:
    path = script_path(result)
    message = f"{rule_title(UNANALYZABLE_RULE)}: {error_text(result)}; a human must read it."
    spec = rule_spec(UNANALYZABLE_RULE)
    return {
        "ruleId": UNANALYZABLE_RULE,
        "ruleIndex": index[UNANALYZABLE_RULE],
        "level": LEVEL[spec.severity] if spec else UNANALYZABLE_LEVEL,
        "message": {"text": message},
        "locations": [_physical(path, 1)],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(UNANALYZABLE_RULE, path, message)},
        "properties": {"confidence": "high"},
    }


def sarif_log(report: Report) -> dict:
    """The SARIF log as plain dicts."""
    rules = _rules(report)
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results: list[dict] = []
    for result in report.results:
        if result.verdict is Verdict.UNANALYZABLE:
            results.append(_unanalyzable_result(result, index))
        results.extend(_finding_result(result, finding, index) for finding in sorted_findings(result))
    driver = {
        "name": report.tool_name,
        "version": report.tool_version,
        "semanticVersion": report.tool_version,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": driver},
                "invocations": [{"executionSuccessful": True, "commandLine": report.command}],
                "results": results,
            }
        ],
    }


def render(report: Report) -> str:
    return json.dumps(sarif_log(report), indent=2, ensure_ascii=False) + "\n"
