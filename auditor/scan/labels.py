"""Compare a scan with known decisions: `{"pr", "verdict", "rules"}` JSON lines (`path` optional).

Per PR, the scan's verdict is that of the records folder holding the labelled `path` when given, else the worst
over the PR's folders. Label verdicts `illegal`, `flag`, `clean` correspond to ours `illegal`, `needs-review`,
`clean`. Per rule, a PR counts as flagged when it has an illegal or needs-review finding of that rule.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from auditor.catalog import load_catalog
from auditor.load.errors import InputError
from auditor.scan.engine import Row

# Label ids that name the same construct as one of our rules (as in scripts/eval_devset.py).
ALIASES = {"train-on-val": "val-in-artifact", "unnormalized-mix": "hashed-ngram-cache"}
EXPECTED = {"illegal": "illegal", "flag": "needs-review", "clean": "clean"}
LABEL_VERDICTS = ("illegal", "flag", "clean")
SCAN_VERDICTS = ("illegal", "needs-review", "clean", "unanalyzable", "error", "no-submission", "missing")
_WORST = {"illegal": 0, "unanalyzable": 1, "error": 2, "needs-review": 3, "clean": 4, "no-submission": 5}


@dataclass(frozen=True, slots=True)
class Label:
    pr: int
    verdict: str
    rules: frozenset[str]
    path: str | None = None


@dataclass
class Comparison:
    verdicts: Counter = field(default_factory=Counter)  # (label verdict, scan verdict) -> PRs
    rules: dict[str, Counter] = field(default_factory=dict)  # rule -> tp/fn/fp/tn
    disagreements: list[dict] = field(default_factory=list)
    labelled: int = 0

    def to_json(self) -> dict:
        return {
            "labelled": self.labelled,
            "verdicts": [{"label": a, "scan": b, "count": n} for (a, b), n in sorted(self.verdicts.items())],
            "rules": {rule: dict(counts) for rule, counts in self.rules.items()},
            "disagreements": self.disagreements,
        }


def read_labels(path: Path) -> list[Label]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read labels {path}: {getattr(exc, 'strerror', None) or exc}") from None
    labels = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            pr, verdict, rules = data["pr"], data["verdict"], data.get("rules", [])
            if not isinstance(pr, int) or verdict not in EXPECTED or not isinstance(rules, list):
                raise ValueError
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InputError(
                f"{path}:{number}: expected a JSON object with an integer pr, a verdict in "
                f"{', '.join(EXPECTED)} and a list of rules"
            ) from None
        rules_set = frozenset(ALIASES.get(str(r), str(r)) for r in rules)
        labels.append(Label(pr, verdict, rules_set, data.get("path") if isinstance(data.get("path"), str) else None))
    return labels


def compare(rows: list[Row], labels: list[Label]) -> Comparison:
    by_pr: dict[int, list[Row]] = {}
    for row in rows:
        if row.pr is not None:
            by_pr.setdefault(row.pr, []).append(row)
    universe = list(load_catalog()) + sorted({r for label in labels for r in label.rules} - set(load_catalog()))
    comparison = Comparison(rules={rule: Counter() for rule in universe}, labelled=len(labels))
    for label in labels:
        chosen = _rows_for(by_pr.get(label.pr, []), label.path)
        verdict = _worst(chosen) if chosen else "missing"
        comparison.verdicts[(label.verdict, verdict)] += 1
        flagged = {rule for row in chosen for rule in row.rules()}
        if verdict != "missing":
            for rule in universe:
                truth, ours = rule in label.rules, rule in flagged
                comparison.rules[rule]["tp" if truth and ours else "fn" if truth else "fp" if ours else "tn"] += 1
        if verdict != EXPECTED[label.verdict] or (label.verdict == "illegal" and not label.rules <= flagged):
            comparison.disagreements.append(
                {
                    "pr": label.pr,
                    "label": label.verdict,
                    "label_rules": sorted(label.rules),
                    "scan": verdict,
                    "scan_rules": sorted(flagged),
                    "folders": [row.folder for row in chosen],
                }
            )
    return comparison


def _rows_for(rows: list[Row], path: str | None) -> list[Row]:
    if path:
        holding = [row for row in rows if row.folder and _holds(row.folder, path)]
        if holding:
            return holding
    return rows


def _holds(folder: str, path: str) -> bool:
    if folder == ".":  # a training script at the top of the repository
        return "/" not in path
    return path.startswith(folder.rstrip("/") + "/")


def _worst(rows: list[Row]) -> str:
    return min((row.verdict for row in rows), key=lambda v: _WORST.get(v, 9))


def render(comparison: Comparison) -> str:
    """Markdown tables: verdict confusion matrix, per-rule counts, disagreements."""
    columns = [v for v in SCAN_VERDICTS if any(comparison.verdicts[(a, v)] for a in LABEL_VERDICTS)]
    lines = [f"### Scan vs labels ({comparison.labelled} labelled PRs)", ""]
    lines.append("| label \\ scan | " + " | ".join(columns) + " | total |")
    lines.append("|---|" + "---:|" * (len(columns) + 1))
    for label in LABEL_VERDICTS:
        counts = [comparison.verdicts[(label, v)] for v in columns]
        lines.append(f"| {label} | " + " | ".join(str(n) for n in counts) + f" | {sum(counts)} |")
    agree = sum(comparison.verdicts[(a, EXPECTED[a])] for a in LABEL_VERDICTS)
    lines += ["", f"Verdicts agreeing: {agree}/{comparison.labelled}", ""]
    lines += ["| rule | tp | fn | fp | tn |", "|---|---:|---:|---:|---:|"]
    for rule, counts in comparison.rules.items():
        if counts["tp"] or counts["fn"] or counts["fp"]:
            lines.append(f"| `{rule}` | {counts['tp']} | {counts['fn']} | {counts['fp']} | {counts['tn']} |")
    lines += ["", f"Disagreements ({len(comparison.disagreements)}):", ""]
    for item in comparison.disagreements:
        lines.append(
            f"- PR {item['pr']}: label {item['label']} {item['label_rules'] or ''} · scan {item['scan']} "
            f"{item['scan_rules'] or ''}".rstrip()
        )
    return "\n".join(lines) + "\n"
