"""Console renderer (rich): header, one panel per finding with its code excerpt, a summary, the checks, the verdict.

Renders into a string; the CLI decides where it goes. With `color=False` the output is plain text (NO_COLOR,
pipes). Every string from the report goes through `Text`, never markup, so code like `x[i]` prints as written.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from auditor.model import AuditResult, Evidence, Finding, RecordReview, Report, Severity, Verdict
from auditor.render.common import (
    COMPLIANCE,
    MERGE_CONDITION,
    ORIGIN_TEXT,
    UNANALYZABLE_CONDITION,
    check_counts_text,
    check_title,
    compliance_reason,
    consecutive,
    counts_text,
    key_numbers,
    lines_text,
    number_text,
    recommendation,
    rule_spec,
    rule_title,
    sorted_findings,
)

SEVERITY_STYLE = {Severity.ILLEGAL: "bold red", Severity.NEEDS_REVIEW: "bold yellow", Severity.INFO: "bold cyan"}
VERDICT_STYLE = {
    Verdict.CLEAN: "bold green",
    Verdict.NEEDS_REVIEW: "bold yellow",
    Verdict.ILLEGAL: "bold red",
    Verdict.UNANALYZABLE: "bold magenta",
}
STATUS_STYLE = {
    "FOUND": "bold red",
    "HOLD": "bold yellow",
    "CLEAR": "green",
    "NOT PRESENT": "dim",
    "DISABLED": "yellow",
    "NOTE": "cyan",
}
SYNTAX_THEME = "ansi_dark"  # follows the terminal's own palette


SIBLING_LINES = ", except those of findings in a sibling module"


def _in_siblings(result: AuditResult) -> bool:
    return any(finding.path is not None for finding in result.findings)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _header(report: Report, result: AuditResult) -> RenderableType:
    lines = [Text.assemble((f"{report.tool_name} {report.tool_version}", "bold"), " · ", (result.path, "bold"))]
    source = result.source
    if source is not None:
        facts = Text.assemble(
            ("script ", "dim"),
            source.script,
            ("  sha256 ", "dim"),
            source.sha256[:12],
            ("  size ", "dim"),
            f"{source.size:,} bytes",
        )
        lines.append(facts)
        if source.wrapper:
            inner = f" ({source.inner_size:,} bytes decoded)" if source.inner_size is not None else ""
            lines.append(
                Text.assemble(
                    ("decoded from ", "dim"),
                    (source.wrapper, "magenta"),
                    inner,
                    ("; line numbers below are in the decoded code", "dim"),
                    (SIBLING_LINES if _in_siblings(result) else "", "dim"),
                )
            )
        if source.siblings:
            lines.append(Text.assemble(("siblings ", "dim"), ", ".join(source.siblings)))
    key = key_numbers(result)
    seeds = f"{len(key.seeds)} ({', '.join(key.seeds)})" if key.seeds else "not claimed"
    lines.append(Text.assemble(("BPB ", "dim"), key.bpb, ("  seeds ", "dim"), seeds, ("  artifact ", "dim"),
                               key.artifact))
    if result.techniques:
        lines.append(Text.assemble(("techniques ", "dim"), ", ".join(result.techniques)))
    return Group(*lines)


def _excerpt(finding: Finding) -> RenderableType:
    """One Syntax block when the hops are consecutive lines, else a table of hops with their line numbers."""
    evidence = finding.evidence
    if all(hop.line is None for hop in evidence):  # quoted log lines (record findings): text, not code
        return Group(*(Text.assemble((hop.text, "cyan"), ("  " + _flat(hop.note) if hop.note else "", "dim"))
                       for hop in evidence))
    if consecutive(evidence):
        first = evidence[0].line or 1
        last = evidence[-1].line or first
        highlight = {
            n for n in range(finding.line or 0, (finding.end_line or finding.line or 0) + 1) if first <= n <= last
        }
        code = Syntax(
            "\n".join(hop.text for hop in evidence),
            "python",
            theme=SYNTAX_THEME,
            line_numbers=True,
            start_line=first,
            highlight_lines=highlight,
            word_wrap=True,
            background_color="default",
        )
        notes = [Text.assemble((f"L{hop.line} ", "dim"), _flat(hop.note)) for hop in evidence if hop.note]
        return Group(code, *notes)
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False, expand=False)
    table.add_column("line", justify="right", style="dim", no_wrap=True)
    table.add_column("code", overflow="fold")
    table.add_column("note", style="italic", overflow="fold")
    for hop in evidence:
        table.add_row(Text(str(hop.line) if hop.line is not None else "?"), _code(hop), Text(_flat(hop.note)))
    return table


def _code(hop: Evidence) -> RenderableType:
    return Syntax(hop.text, "python", theme=SYNTAX_THEME, word_wrap=True, background_color="default")


def _panel(number: int, finding: Finding, wrapped: bool) -> Panel:
    where = lines_text(finding.line, finding.end_line) or "line ?"
    if finding.path is not None:  # a sibling module: `ngram_cache.py:L42`
        where = f"{finding.path}:{where}"
    decoded = wrapped and finding.path is None  # a sibling module is read as shipped
    title = Text.assemble(
        (f"{number}. ", "bold"),
        (finding.rule, SEVERITY_STYLE[finding.severity]),
        f" · {finding.severity.value} · {finding.confidence.value} confidence · {where}",
        (" (decoded)" if decoded else "", "magenta"),
        (f" · evidence: {ORIGIN_TEXT[finding.origin]}" if finding.origin != "static" else "", "cyan"),
    )
    body: list[RenderableType] = [Text(rule_title(finding.rule), style="bold"), Text(finding.message)]
    if finding.knob:
        body.append(Text.assemble(("Off by default; switched on by ", "yellow"), (finding.knob, "bold yellow"), "."))
    if finding.disagreement:
        body.append(Text.assemble(("Static and runtime disagree: ", "bold yellow"), finding.disagreement))
    if finding.evidence:
        body.append(Text(""))
        body.append(_excerpt(finding))
    spec = rule_spec(finding.rule)
    if spec is not None:
        body.append(Text(""))
        body.append(Text.assemble(("Ruling ", "bold"), _flat(spec.ruling), " ", (spec.ruling_url, "underline")))
        body.append(Text.assemble(("Fix ", "bold"), _flat(spec.fix)))
    color = SEVERITY_STYLE[finding.severity].replace("bold ", "")
    return Panel(Group(*body), title=title, title_align="left", border_style=color)


def _summary(findings: list[Finding]) -> RenderableType:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for finding in findings:
        where = lines_text(finding.line) or "?"
        if finding.path is not None:
            where = f"{finding.path}:{where}"
        table.add_row(
            Text(where, style="dim"),
            Text(finding.rule, style=SEVERITY_STYLE[finding.severity]),
            Text(f"{finding.severity.value}/{finding.confidence.value}"),
            Text(_flat(finding.message)),
        )
    return table


def _runs(record: RecordReview) -> RenderableType:
    table = Table(title=Text("Runs in the logs", style="bold"), title_justify="left")
    for name, justify in (("log", "left"), ("seed", "right"), ("stage", "left"), ("val_bpb", "right"),
                          ("val_loss", "right"), ("train s", "right"), ("eval s timed/e2e", "right"),
                          ("bytes", "right")):
        table.add_column(name, justify=justify, overflow="fold")
    for run in record.runs:
        eval_s = f"{number_text(run.eval_s, '.1f')}/{number_text(run.eval_end_to_end_s, '.1f')}"
        table.add_row(run.log, run.seed or "–", run.stage or "–", number_text(run.val_bpb, ".5f"),
                      number_text(run.val_loss, ".5f"), number_text(run.train_s, ".1f"), eval_s,
                      number_text(run.bytes_total, ","))
    return table


def _checks(result: AuditResult) -> RenderableType:
    return _check_table("Checks", "Check ", result.checks)


def _check_table(title: str, prefix: str, outcomes) -> RenderableType:
    table = Table(title=Text(title, style="bold"), title_justify="left", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("check", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("lines", overflow="fold")
    table.add_column("note", overflow="fold")
    for number, outcome in enumerate(outcomes, 1):
        table.add_row(
            Text(f"{prefix}{number}"),
            Text(check_title(outcome.rule, outcome.title)),
            Text(outcome.status.value, style=STATUS_STYLE.get(outcome.status.value, "")),
            Text(", ".join(f"L{n}" for n in outcome.lines)),
            Text(_flat(outcome.note)),
        )
    return table


def _verdict(result: AuditResult) -> RenderableType:
    style = VERDICT_STYLE[result.verdict]
    advice = recommendation(result)
    lines = [
        Text.assemble(
            ("Verdict: ", "bold"), (COMPLIANCE[result.verdict], style), " — ", _flat(compliance_reason(result))
        )
    ]
    if result.verdict is not Verdict.UNANALYZABLE:
        checks = check_counts_text(result)
        lines.append(
            Text.assemble(("Findings: ", "bold"), counts_text(result), ("; checks: " + checks) if checks else "")
        )
    if result.verdict is Verdict.CLEAN:
        why = MERGE_CONDITION
    elif result.verdict is Verdict.UNANALYZABLE:
        why = "— " + UNANALYZABLE_CONDITION
    elif advice.ruling_url:
        why = f"citing {_flat(advice.ruling)} {advice.ruling_url}"
    else:
        why = f"citing {advice.rule}" if advice.rule else "— a finding needs a human decision"
    lines.append(Text.assemble(("Recommendation: ", "bold"), (advice.token, style), " ", why))
    return Group(*lines)


def _result(report: Report, result: AuditResult) -> list[RenderableType]:
    parts: list[RenderableType] = [_header(report, result), Text("")]
    if result.verdict is Verdict.UNANALYZABLE:
        parts.append(Text.assemble(("Unanalyzable: ", "bold magenta"), result.error or "no reason given"))
    findings = sorted_findings(result)
    wrapped = result.source is not None and result.source.wrapper is not None
    parts += [_panel(number, finding, wrapped) for number, finding in enumerate(findings, 1)]
    if findings:
        parts += [Text(""), _summary(findings)]
    elif result.verdict is not Verdict.UNANALYZABLE:
        parts.append(Text("No banned construct found.", style="green"))
    if result.runtime:
        parts += [Text(""), Text("Runtime trace (toy-scale run):", style="bold")]
        parts += [Text(f"  - {line}") for line in result.runtime]
    if result.checks:
        parts += [Text(""), _checks(result)]
    if result.record is not None:
        if result.record.runs:
            parts += [Text(""), _runs(result.record)]
        parts += [Text(""), _check_table("Record checks", "R", result.record.checks)]
    parts += [Text(""), _verdict(result)]
    return parts


def render(report: Report, color: bool = False, width: int = 100) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        color_system="truecolor" if color else None,
        width=width,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
        legacy_windows=False,
        _environ={},
    )  # the environment must not change the rendering: the caller chose already
    for index, result in enumerate(report.results):
        if index:
            console.print(Rule(style="dim"))
        for part in _result(report, result):
            console.print(part)
    return buffer.getvalue()
