"""target-in-hash: a table read whose hashed key contains the token being scored (C1, PR #779)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, chain, finding, name_of, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "target-in-hash"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    seen: set[int] = set()
    for op in ops(facts, "table_read"):
        roles = facts.roles_of(op.val)
        if V.HASH not in roles or op.line in seen:
            continue
        result.present = True
        if V.TARGET not in roles:
            continue
        seen.add(op.line)
        table = name_of(op.sym)
        confidence = Confidence.HIGH if V.VAL in roles else Confidence.MEDIUM
        message = (
            f"`{table}` is read with a hashed key that contains the target token, so the score of a "
            f"position looks up statistics of its own answer"
        )
        result.findings.append(
            finding(
                facts,
                RULE,
                op,
                message,
                chain(facts, op, V.TARGET, "table read with the target in its key"),
                confidence,
            )
        )
    if result.present and not result.findings:
        result.note = "hashed keys are built from context tokens only"
    return result
