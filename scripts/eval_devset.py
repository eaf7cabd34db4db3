"""Measure the static auditor against labelled real submissions (the dev set of ../shared/eval).

    python scripts/eval_devset.py --index /path/to/pg-dev/index.jsonl [--show-misses]

The folders come from ../shared/eval/extract.py; they are real code and are never committed. Prints the verdict
confusion matrix, per-rule recall/false positives, the misses, and the wall time in one process (no torch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from auditor.api import audit_path
from auditor.catalog import load_catalog
from auditor.load.errors import InputError
from auditor.model import Severity

# Label ids that name the same construct as one of our rules.
ALIASES = {"train-on-val": "val-in-artifact", "unnormalized-mix": "hashed-ngram-cache"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    ours = set(load_catalog())
    rows = [json.loads(line) for line in args.index.read_text().splitlines() if line.strip()]
    confusion: Counter = Counter()
    per_rule: dict[str, Counter] = defaultdict(Counter)
    misses: list[str] = []
    start = time.perf_counter()
    for row in rows:
        folder = args.index.parent / str(row["pr"])
        try:
            result = audit_path(str(folder))
            verdict = result.verdict.value
        except InputError as exc:
            verdict, result = f"error: {exc}", None
        labelled = {ALIASES.get(r, r) for r in row["rules"]}
        in_scope = labelled & ours
        found = {f.rule for f in (result.findings if result else ()) if f.severity is Severity.ILLEGAL}
        flagged = {f.rule for f in (result.findings if result else ()) if f.severity is not Severity.INFO}
        group = (
            "clean"
            if row["verdict"] == "clean"
            else ("illegal-in-scope" if in_scope and row["verdict"] == "illegal" else row["verdict"] + "-other")
        )
        confusion[(group, verdict)] += 1
        for rule in ours:
            if rule in in_scope:
                per_rule[rule]["tp" if rule in flagged else "fn"] += 1
            elif rule in found:
                per_rule[rule]["fp-clean" if row["verdict"] == "clean" else "fp-other"] += 1
        wrong = (group == "clean" and verdict == "illegal") or (group == "illegal-in-scope" and verdict != "illegal")
        if wrong:
            misses.append(
                f"PR {row['pr']:>5} {group:<17} got {verdict:<13} labels={sorted(labelled)} found={sorted(flagged)}"
            )
    elapsed = time.perf_counter() - start
    groups = sorted({g for g, _ in confusion})
    verdicts = sorted({v for _, v in confusion})
    print(f"{'label vs verdict':<20}" + "".join(f"{v:>14}" for v in verdicts))
    for group in groups:
        print(f"{group:<20}" + "".join(f"{confusion[(group, v)]:>14}" for v in verdicts))
    illegal_total = sum(confusion[("illegal-in-scope", v)] for v in verdicts)
    clean_total = sum(confusion[("clean", v)] for v in verdicts)
    print(f"\nrecall (illegal-in-scope -> illegal): {confusion[('illegal-in-scope', 'illegal')]}/{illegal_total}")
    print(f"clean kept free of illegal: {clean_total - confusion[('clean', 'illegal')]}/{clean_total}")
    print(f"\n{'rule':<22}{'tp':>5}{'fn':>5}{'fp-clean':>10}{'fp-other':>10}")
    for rule in load_catalog():
        c = per_rule[rule]
        print(f"{rule:<22}{c['tp']:>5}{c['fn']:>5}{c['fp-clean']:>10}{c['fp-other']:>10}")
    print(f"\n{len(rows)} PRs audited in {elapsed:.1f} s in one process; torch imported: {'torch' in sys.modules}")
    if args.show_misses:
        print("\n".join(["", "misses:"] + misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
