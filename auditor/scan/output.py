"""Scan outputs: summary (console table or markdown), rows (jsonl, csv), one JSON document, and the auditor's own
per-folder formats (review = markdown reviews, sarif, github annotations) over the audited folders.

All functions are pure: scan in, text out.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from rich.console import Console
from rich.table import Table

from auditor import __version__
from auditor.model import Report, Severity
from auditor.render import RENDERERS
from auditor.render.github import escape_data, escape_property
from auditor.render.markdown import MARKER
from auditor.scan import codec
from auditor.scan.engine import Row, Scan

SUMMARY_FORMATS = ("table", "markdown")
FORMATS = ("table", "markdown", "jsonl", "csv", "json", "review", "sarif", "github")
VERDICT_ORDER = ("illegal", "needs-review", "unanalyzable", "error", "clean", "no-submission")
WORST_FIRST = ("illegal", "unanalyzable", "error", "needs-review", "clean", "no-submission")  # fails closed, as labels
CSV_FIELDS = ("id", "pr", "ref", "folder", "status", "verdict", "rules", "illegal_rules", "title", "script", "error")


def row_json(row: Row, *, full: bool = False) -> dict:
    result = row.result
    data = {
        "id": row.id,
        "pr": row.pr,
        "ref": row.ref,
        "commit": row.commit,
        "folder": row.folder or None,
        "status": row.status,
        "verdict": row.verdict,
        "rules": row.rules(),
        "illegal_rules": row.rules((Severity.ILLEGAL,)),
        "title": result.claims.title if result else None,
        "script": result.source.script if result and result.source else None,
        "sha256": result.source.sha256 if result and result.source else None,
        "wrapper": result.source.wrapper if result and result.source else None,
        "error": row.error or (result.error if result else None),
        "notes": list(row.notes),
        "cached": row.cached,
        "key": row.key or None,
    }
    if full:
        data["result"] = codec.encode(result) if result else None
    return data


def summary(scan: Scan) -> dict:
    units = [r for r in scan.rows if r.status != "no-submission"]
    prs: dict[str, list[Row]] = {}
    for row in scan.rows:
        prs.setdefault(row.ref or row.id, []).append(row)
    per_pr = Counter(min((r.verdict for r in rows), key=WORST_FIRST.index) for rows in prs.values())
    rules = Counter(rule for row in units for rule in row.rules())
    return {
        "refs": len(prs),
        "folders": len(units),
        "distinct": scan.distinct,
        "audited": scan.audited,
        "cached": scan.distinct - scan.audited,
        "wall_s": round(scan.wall, 2),
        "verdicts": {v: n for v in VERDICT_ORDER if (n := Counter(r.verdict for r in units)[v])},
        "verdicts_per_ref": {v: per_pr[v] for v in VERDICT_ORDER if per_pr[v]},
        "rules": dict(rules.most_common()),
    }


def flagged(scan: Scan) -> list[Row]:
    """Folders to act on: illegal first, then needs-review, unanalyzable and errors."""
    order = {"illegal": 0, "needs-review": 1, "unanalyzable": 2, "error": 3}
    rows = [r for r in scan.rows if r.verdict in order]
    return sorted(rows, key=lambda r: (order[r.verdict], r.pr if r.pr is not None else -1, r.id))


def _who(row: Row) -> str:
    return f"PR {row.pr}" if row.pr is not None else row.id


def _reason(row: Row) -> str:
    if row.result is None or row.result.error:
        return (row.error or (row.result.error if row.result else "") or "").splitlines()[0][:160]
    return ", ".join(row.rules())


def markdown(scan: Scan) -> str:
    data = summary(scan)
    lines = [
        "## pgolf-audit scan",
        "",
        f"{data['refs']} targets · {data['folders']} records folders · {data['distinct']} distinct · "
        f"{data['audited']} audited now, {data['cached']} from cache · {data['wall_s']} s",
        "",
        "| verdict | folders | targets |",
        "|---|---:|---:|",
    ]
    for verdict in VERDICT_ORDER:
        folders, refs = data["verdicts"].get(verdict, 0), data["verdicts_per_ref"].get(verdict, 0)
        if folders or refs:
            lines.append(f"| {verdict} | {folders} | {refs} |")
    if data["rules"]:
        lines += ["", "| rule | folders |", "|---|---:|"]
        lines += [f"| `{rule}` | {n} |" for rule, n in data["rules"].items()]
    rows = flagged(scan)
    if rows:
        lines += ["", "| target | verdict | rules / reason | folder |", "|---|---|---|---|"]
        for row in rows:
            reason = _reason(row).replace("|", "\\|")
            lines.append(f"| {_who(row)} | {row.verdict} | {reason} | `{row.folder}` |")
    return "\n".join(lines) + "\n"


def table(scan: Scan, width: int, color: bool) -> str:
    """The summary for a terminal: verdict counts, rule counts, then the folders to act on."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
    data = summary(scan)
    console.print(
        f"[bold]pgolf-audit scan[/]: {data['refs']} targets, {data['folders']} records folders, "
        f"{data['distinct']} distinct; {data['audited']} audited now, {data['cached']} from cache; {data['wall_s']} s"
    )
    verdicts = Table("verdict", "folders", "targets", title="Verdicts", title_justify="left")
    for verdict in VERDICT_ORDER:
        folders, refs = data["verdicts"].get(verdict, 0), data["verdicts_per_ref"].get(verdict, 0)
        if folders or refs:
            verdicts.add_row(verdict, str(folders), str(refs))
    console.print(verdicts)
    if data["rules"]:
        rules = Table("rule", "folders with an illegal or needs-review finding", title="Rules", title_justify="left")
        for rule, count in data["rules"].items():
            rules.add_row(rule, str(count))
        console.print(rules)
    rows = flagged(scan)
    if rows:
        acts = Table("target", "verdict", "rules / reason", "folder", title="To review", title_justify="left")
        for row in rows:
            acts.add_row(_who(row), row.verdict, _reason(row), row.folder)
        console.print(acts)
    return buffer.getvalue()


def jsonl(scan: Scan) -> str:
    return "".join(json.dumps(row_json(row), ensure_ascii=False) + "\n" for row in scan.rows)


def csv_text(scan: Scan) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in scan.rows:
        data = row_json(row)
        data["rules"] = " ".join(data["rules"])
        data["illegal_rules"] = " ".join(data["illegal_rules"])
        writer.writerow(data)
    return buffer.getvalue()


def document(scan: Scan, labels: dict | None) -> str:
    doc = {
        "tool": {"name": "pgolf-audit", "version": __version__},
        "summary": summary(scan),
        "rows": [row_json(row, full=True) for row in scan.rows],
    }
    if labels is not None:
        doc["labels"] = labels
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def report(scan: Scan, command: str) -> Report:
    """The audited folders as one auditor report (each distinct folder once per target that ships it)."""
    return Report("pgolf-audit", __version__, command, tuple(r.result for r in scan.rows if r.result is not None))


def review(scan: Scan, command: str, gate: bool) -> str:
    text = RENDERERS["markdown"](report(scan, command)) if any(r.result for r in scan.rows) else ""
    errors = [r for r in scan.rows if r.status == "error"]
    if errors:
        text += "\n### Folders that could not be audited\n\n"
        text += "".join(f"- {_plain(r.folder)}: {_plain(r.error or '')}\n" for r in errors)
    notes = [(r, n) for r in scan.rows for n in r.notes] if gate else []
    if notes:
        text += "\n### Suppression attempts (ignored: gate mode)\n\n"
        text += "".join(f"- {_plain(_where(r, n))}: {_plain(n['text'])}\n" for r, n in notes)
    if not text:
        text = "### pgolf-audit\n\nThis change adds or modifies no records folder.\n"
    return text if text.startswith(MARKER) else f"{MARKER}\n{text}"  # the comment poster finds its one comment


def github(scan: Scan, command: str, gate: bool) -> str:
    text = RENDERERS["github"](report(scan, command))
    for row in scan.rows:
        if row.status == "error":
            text += f"::error file={escape_property(row.folder)}::{escape_data(row.error or 'error')}\n"
        for note in row.notes if gate else ():
            props = f"file={escape_property(row.folder + '/' + note['path'])}"
            if note["line"]:
                props += f",line={note['line']}"
            text += f"::notice {props},title=suppression-ignored::{escape_data(note['text'])} (ignored in gate mode)\n"
    return text


def render(fmt: str, scan: Scan, *, command: str, gate: bool, labels: dict | None, width: int, color: bool) -> str:
    if fmt == "table":
        return table(scan, width, color)
    if fmt == "markdown":
        return markdown(scan)
    if fmt == "jsonl":
        return jsonl(scan)
    if fmt == "csv":
        return csv_text(scan)
    if fmt == "json":
        return document(scan, labels)
    if fmt == "review":
        return review(scan, command, gate)
    if fmt == "github":
        return github(scan, command, gate)
    return RENDERERS["sarif"](report(scan, command))


def _where(row: Row, note: dict) -> str:
    location = f"{row.folder}/{note['path']}"
    return f"{location}:{note['line']}" if note["line"] else location


def _plain(text: str) -> str:
    """Text from a submission or an error, one line, no markup characters."""
    flat = " ".join(text.split())
    for char in "\\`*_[]<>|~":
        flat = flat.replace(char, "\\" + char)
    return flat.replace("@", "@\u2060")[:300]
