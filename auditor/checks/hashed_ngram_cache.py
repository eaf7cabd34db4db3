"""hashed-ngram-cache: an eval-time count table read with hashed keys and blended into the score (C2)."""
from __future__ import annotations

from auditor.checks.base import CheckResult, chain, finding, name_of, hop, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "hashed-ngram-cache"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    written = {op.sym: op for op in ops(facts, "table_write")}
    reported: set[str] = set()
    for op in ops(facts, "table_read"):
        roles = facts.roles_of(op.val)
        if V.HASH not in roles or op.sym not in written or op.sym in reported:
            continue
        write = written[op.sym]
        if V.VAL not in roles and V.VAL not in facts.roles_of(write.val):
            continue  # a table of training statistics, or an embedding: not an eval-time cache
        result.present = True
        if _normalized(facts, op):
            result.note = f"n-gram distribution at L{op.line} is normalised over the vocabulary"
            continue
        reported.add(op.sym)
        table = name_of(op.sym)
        message = (f"eval-time n-gram cache `{table}` is filled from validation tokens and read with hashed keys; "
                   f"its counts are not a normalised distribution over the vocabulary")
        evidence = [hop(facts, write, "table filled with val-derived keys")] + chain(facts, op, V.HASH, "hashed lookup while scoring")
        result.findings.append(finding(facts, RULE, op, message, evidence, Confidence.MEDIUM))
    return result


def _normalized(facts: Facts, read) -> bool:
    """A full-vocabulary row divided by its own sum (the legal mixture) rather than a count ratio for one token."""
    text = facts.line_text(read.line, read.end_line)
    return ".sum(" in text and ("keepdim" in text or "dim=-1" in text)
