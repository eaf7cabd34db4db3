"""GitHub Actions annotations: one workflow command per finding, the one inline channel that works on fork PRs.

`::error` for illegal, `::warning` for needs-review (and unanalyzable code), `::notice` for info. Nothing else is
written: the CLI appends the Markdown review to $GITHUB_STEP_SUMMARY itself.
Format: https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions
"""

from __future__ import annotations

from auditor.model import AuditResult, Finding, Report, Severity, Verdict
from auditor.render.common import (
    UNANALYZABLE_RULE,
    decoded_note,
    error_text,
    finding_path,
    rule_spec,
    rule_title,
    script_path,
    sorted_findings,
)

COMMAND = {Severity.ILLEGAL: "error", Severity.NEEDS_REVIEW: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    """The message part: `%` first, so the escapes it introduces are not escaped again."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Property values also end at `,` and `:`."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, properties: list[tuple[str, str]], message: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    return f"::{kind} {props}::{escape_data(message)}"


def _finding(result: AuditResult, finding: Finding) -> str:
    note = decoded_note(result.source, finding)
    properties = [("file", finding_path(result, finding))]  # the script, or the sibling module the lines are in
    if note:  # decoded code: point at the shipped file and name the decoded line
        properties.append(("line", "1"))
        message = f"{finding.message} ({note})"
    else:
        if finding.line is not None:
            properties.append(("line", str(finding.line)))
            properties.append(("endLine", str(max(finding.end_line or finding.line, finding.line))))
        message = finding.message
    if finding.knob:
        message += f" Off by default; switched on by {finding.knob}."
    properties.append(("title", finding.rule))
    return _command(COMMAND[finding.severity], properties, f"{message} [{finding.confidence.value} confidence]")


def _unanalyzable(result: AuditResult) -> str:
    properties = [("file", script_path(result)), ("line", "1"), ("title", UNANALYZABLE_RULE)]
    message = f"{rule_title(UNANALYZABLE_RULE)}: {error_text(result)}; a human must read it."
    spec = rule_spec(UNANALYZABLE_RULE)
    return _command(COMMAND[spec.severity] if spec else "warning", properties, message)


def render(report: Report) -> str:
    lines: list[str] = []
    for result in report.results:
        if result.verdict is Verdict.UNANALYZABLE:
            lines.append(_unanalyzable(result))
        lines.extend(_finding(result, finding) for finding in sorted_findings(result))
    return "".join(line + "\n" for line in lines)
