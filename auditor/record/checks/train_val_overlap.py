"""train-val-overlap: data fingerprints agree between runs and with the canonical split; prep-script defaults."""

from __future__ import annotations

import re

from auditor.model import Confidence, Severity
from auditor.record.checks.base import CheckResult, log_evidence, record_finding, run_name
from auditor.record.facts import RecordFacts

RULE = "train-val-overlap"
_VAL_DOCS = re.compile(r"""["']--val[-_]docs["'][^)]*?default\s*=\s*([\d_]+)""")


def check(facts: RecordFacts) -> CheckResult:
    result = CheckResult()
    canonical = set(facts.option(RULE, "canonical_val_tokens", ()))
    max_shards = int(facts.option(RULE, "max_train_shards", 200))
    runs = [run for run in facts.runs if run.val_tokens is not None or run.train_shards is not None]
    result.present = bool(runs)
    val_counts = {run.val_tokens for run in runs if run.val_tokens is not None}
    if len(val_counts) > 1:
        result.findings.append(record_finding(
            RULE, f"the runs evaluated different validation sets: val_tokens {', '.join(map(str, sorted(val_counts)))}"
            ".",
            path=runs[0].file, evidence=log_evidence(*[r.quotes.get("val_tokens", "") for r in runs]),
            severity=Severity.INFO if facts.non_record else None))
    for run in runs:
        known_split = run.val_tokens is None or run.val_tokens in canonical  # other tokenizers shard differently
        if run.train_shards is not None and run.train_shards > max_shards and known_split:
            result.findings.append(record_finding(
                RULE, f"{run_name(run)}: train_shards {run.train_shards} is more than the canonical exports hold "
                f"({max_shards} at most): the data was re-prepared, and re-chunked exports moved validation "
                f"documents into training (Issue #2127).", path=run.file,
                evidence=log_evidence(run.quotes.get("train_shards", ""))))
    if val_counts and canonical and not val_counts & canonical:
        result.findings.append(record_finding(
            RULE, f"val_tokens {', '.join(map(str, sorted(val_counts)))} is not a canonical split's count "
            f"({', '.join(map(str, sorted(canonical)))}); expected for a new tokenizer, which must then prove its "
            f"byte accounting.", severity=Severity.INFO, confidence=Confidence.LOW))
    result.findings.extend(_prep_defaults(facts))
    if result.present and not result.findings:
        result.note = f"val_tokens {', '.join(map(str, sorted(val_counts))) or 'not logged'}"
    return result


def _prep_defaults(facts: RecordFacts):
    """Bundled prep scripts whose `--val-docs` default is not the canonical 50,000 (noted; logs decide)."""
    want = int(facts.option(RULE, "val_docs", 50000))
    for name, text in sorted(facts.prep_scripts.items()):
        for m in _VAL_DOCS.finditer(text):
            value = int(m.group(1).replace("_", ""))
            if value != want:
                line = text.count("\n", 0, m.start()) + 1
                yield record_finding(
                    RULE, f"{name}:L{line} defaults `--val-docs` to {value:,}, not {want:,}: run with that default "
                    f"it trains on validation documents. Only the logs' fingerprints tell what the runs used.",
                    path=name, severity=Severity.INFO, confidence=Confidence.LOW)
