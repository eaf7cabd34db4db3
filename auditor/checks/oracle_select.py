"""oracle-select: keeping, per token, whichever prediction scored better on the true token (min NLL)."""
from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "oracle-select"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for op in ops(facts, "minimum", "compare_select"):
        texts = op.extra or ()
        losses = [t for t in texts if V.LOSS_LIKE.search(t)]
        best = [t for t in texts if t.split(".")[-1].startswith(("best", "min_", "lowest"))]
        if len(losses) < 2 and not (losses and best):
            continue
        losses = (losses + best)[:2]
        result.present = True
        message = (f"per-token selection between `{losses[0]}` and `{losses[1]}` keeps whichever loss is lower on "
                   f"the true token, which uses the target to choose the prediction")
        result.findings.append(finding(facts, RULE, op, message, [hop(facts, op, "selection by loss on the target")],
                                       Confidence.HIGH if op.kind == "compare_select" else Confidence.MEDIUM))
    return result
