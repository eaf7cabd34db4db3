"""val-in-artifact: validation tokens stored in the artifact, or the training run itself trained on them."""

from __future__ import annotations

from auditor.checks.base import CheckResult, chain, finding, hop, ops, reaches
from auditor.facts.cond import evaluate
from auditor.checks.prequant_ttt import is_slot, is_ttt
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
            result.findings.append(
                finding(
                    facts, RULE, op, message, chain(facts, op, V.VALTOK, "val tokens serialised"), Confidence.MEDIUM
                )
            )
            break
    for knob in facts.ir.knobs.values():  # the training-data setting points at the validation split
        if not V.TRAIN_NAME.match(knob.name):
            continue
        value = evaluate(knob.expr, facts.ir.knobs, facts.env)
        aliased = [
            dst
            for dst, src in ((k[6:], v) for k, v in facts.env.items() if k.startswith("alias:"))
            if V.TRAIN_STRING.search(dst) and V.VAL_STRING.search(src)
        ]
        if not (isinstance(value, str) and V.VAL_STRING.search(value)) and not aliased:
            continue
        sink = next((op for op in facts.ir.ops if op.line == knob.line), None)
        if sink is None:
            continue
        result.present = True
        why = (
            f"is set to `{value}`"
            if not aliased
            else f"names files that the launch instructions link to the validation shard (`{aliased[0]}`)"
        )
        message = f"the training-data setting `{knob.name}` {why}, so the model trains on validation tokens"
        result.findings.append(
            finding(
                facts, RULE, sink, message, [hop(facts, sink, "training data = validation data")], Confidence.MEDIUM
            )
        )
        return result
    scores = [op for op in facts.ir.ops if op.kind != "call" and "score" in facts.kinds(op)]
    for op in ops(facts, "token_eq"):  # stored tokens compared with the true target change the score
        left, right = (facts.roles_of(v) for v in op.extra)
        if not any(
            V.TARGET in a and V.FILE_DATA in b and not b & {V.VALTOK, V.TRAIN, V.TARGET, V.INPUT}
            for a, b in ((left, right), (right, left))
        ):
            continue
        score = next((s for s in scores if reaches(facts, s.val, {op.sym})), None)
        if score is None:
            continue
        result.present = True
        message = (
            "the scored loss depends on whether the true target equals stored tokens that come neither from the "
            "model nor from the validation stream (answers kept in the artifact, a paid prefix)"
        )
        result.findings.append(
            finding(
                facts,
                RULE,
                op,
                message,
                [
                    hop(facts, op, "target compared with stored tokens"),
                    hop(facts, score, "the comparison changes the score"),
                ],
                Confidence.MEDIUM,
            )
        )
        return result
    for op in ops(facts, "backward"):
        roles = facts.roles_of(op.val)
        if V.VAL not in roles or V.TRAIN in roles or is_ttt(facts, op.func, op):
            continue
        if is_slot(facts, op.func):
            continue
        result.present = True
        message = f"the training loop in `{op.func}` back-propagates a loss computed on validation data"
        result.findings.append(
            finding(facts, RULE, op, message, chain(facts, op, V.VAL, "update on val-derived loss"), Confidence.MEDIUM)
        )
        break
    return result
