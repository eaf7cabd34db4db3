"""hashed-ngram-cache: an eval-time count table read with hashed keys and blended into the score (C2)."""
from __future__ import annotations

import re

from auditor.checks.base import CheckResult, chain, finding, name_of, hop, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "hashed-ngram-cache"
_TILT = re.compile(r"tilt|hint", re.I)


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    written = {op.sym: op for op in ops(facts, "table_write")}
    filled_tables = [op for op in ops(facts, "state_write") if V.TABLE in facts.roles.of.get(op.sym, frozenset())
                     and V.VAL in facts.roles_of(op.val)]
    reported: set[str] = set()
    for op in ops(facts, "table_read"):
        roles = facts.roles_of(op.val)
        if V.HASH not in roles or op.func in reported or _TILT.search(op.func):
            continue  # tilt hint tables hold next-token ids for a closed-form tilt: judged by ngram-tilt
        write = written.get(op.sym)
        table_roles = facts.roles.of.get(op.sym, frozenset())
        if write is None and not (V.TABLE in table_roles and filled_tables):
            continue  # never written: a learned or frozen table indexed by a hash (BigramHash), not a cache
        if V.VAL not in roles and (write is None or V.VAL not in facts.roles_of(write.val)):
            continue  # a table of training statistics: not an eval-time cache
        result.present = True
        if _normalized(facts, op):
            result.note = f"n-gram distribution at L{op.line} is normalised over the vocabulary"
            continue
        reported.add(op.func)  # one finding per scoring function
        table = name_of(op.sym)
        message = (f"eval-time n-gram cache `{table}` is filled from validation tokens and read with hashed keys; "
                   f"its counts are not a normalised distribution over the vocabulary")
        evidence = ([hop(facts, write, "table filled with val-derived keys")] if write else []) + chain(
            facts, op, V.HASH, "hashed lookup while scoring")
        result.findings.append(finding(facts, RULE, op, message, evidence, Confidence.MEDIUM))
    return result


def _normalized(facts: Facts, read) -> bool:
    """A full-vocabulary row divided by its own sum (the legal mixture) rather than a count ratio for one token."""
    text = facts.line_text(read.line, read.end_line)
    if ".sum(" in text and ("keepdim" in text or "dim=-1" in text):
        return True
    func = facts.function(read.func)
    if V.VOCAB_ROWS not in facts.roles.of.get(read.sym, frozenset()) or func is None:
        return False
    body = facts.line_text(func.line, func.end_line)
    return ".sum()" in body and "/" in body
