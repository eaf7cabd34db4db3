"""oracle-select: keeping, per token, whichever prediction scored better on the true token (min NLL)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop, ops, reaches
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "oracle-select"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for op in ops(facts, "minimum", "compare_select"):
        args = op.extra if op.kind == "minimum" else tuple((side, None) for side in op.extra or ())
        texts = [text for text, _ in args]
        # a loss by its name, or by its value: per-token losses computed in this code (cross_entropy, -log p[y])
        losses = [t for t, v in args if V.LOSS_LIKE.search(t) or (v is not None and V.NLL in facts.roles_of(v))]
        best = [t for t in texts if t.split(".")[-1].startswith(("best", "min_", "lowest"))]
        if len(losses) < 2 and not (losses and best):
            continue
        losses = (losses + best)[:2]
        result.present = True
        message = (
            f"per-token selection between `{losses[0]}` and `{losses[1]}` keeps whichever loss is lower on "
            f"the true token, which uses the target to choose the prediction"
        )
        result.findings.append(
            finding(
                facts,
                RULE,
                op,
                message,
                [hop(facts, op, "selection by loss on the target")],
                Confidence.HIGH if op.kind == "compare_select" else Confidence.MEDIUM,
            )
        )
    scored = {op.sym for op in facts.ir.ops if "score" in facts.kinds(op) and op.kind != "call"}
    for op in ops(facts, "compare_select_flow"):  # `if avg < best[b]: best[b] = avg; best_loss[b].copy_(loss[b])`
        if V.VAL not in facts.roles_of(op.val) or not reaches(facts, op.val, scored):
            continue
        chosen = set(op.extra[2:])  # what the selection keeps must itself be summed into the reported score
        if not any(reaches(facts, s.val, chosen, 4) for s in facts.ir.ops if s.sym in scored):
            continue
        result.present = True
        message = (
            f"per-item selection on `{op.extra[0]}` compares validation losses and keeps the better pass, "
            f"which uses the targets to choose the prediction"
        )
        result.findings.append(
            finding(facts, RULE, op, message, [hop(facts, op, "selection by loss on the target")], Confidence.MEDIUM)
        )
        break
    return result
