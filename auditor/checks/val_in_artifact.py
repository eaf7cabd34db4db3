"""val-in-artifact: validation tokens stored in the artifact, or the training run itself trained on them."""
from __future__ import annotations

from auditor.checks.base import CheckResult, chain, finding, ops
from auditor.checks.prequant_ttt import is_ttt
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "val-in-artifact"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for op in ops(facts, "serialize"):
        if V.VALTOK in facts.roles_of(op.val):
            result.present = True
            message = f"`{op.sym}` writes validation tokens into what is saved, so the artifact carries the answers"
            result.findings.append(finding(facts, RULE, op, message, chain(facts, op, V.VALTOK, "val tokens serialised"),
                                           Confidence.MEDIUM))
            break
    for op in ops(facts, "backward"):
        roles = facts.roles_of(op.val)
        if V.VAL not in roles or V.TRAIN in roles or is_ttt(facts, op.func, op):
            continue
        if any(o.kind == "param_create" for o in facts.ops_by_func.get(op.func, ())):
            continue
        result.present = True
        message = f"the training loop in `{op.func}` back-propagates a loss computed on validation data"
        result.findings.append(finding(facts, RULE, op, message, chain(facts, op, V.VAL, "update on val-derived loss"),
                                       Confidence.MEDIUM))
        break
    return result
