"""causality: a position's distribution must not see later tokens.

Covers shift-mixing across document boundaries (SmearGate without a BOS mask) and non-causal attention at eval.
"""

from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop, ops
from auditor.facts.bundle import Facts
from auditor.model import Confidence, Severity

RULE = "causality"


def _callers(facts: Facts, qual: str) -> set[str]:
    return {op.func for op in ops(facts, "call") if qual in facts.callees.get(op.seq, ())}


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    masked = {op.func for op in ops(facts, "bos_mask")}
    masked_classes = {facts.ir.functions[q].cls for q in masked if q in facts.ir.functions}
    for op in ops(facts, "shift_mix"):
        result.present = True
        users = {op.func} | _callers(facts, op.func)  # a shift helper is masked where its result is used
        classes = {facts.ir.functions[q].cls for q in users if q in facts.ir.functions}
        if users & masked or classes & (masked_classes - {None}):
            result.note = f"previous-token mixing at L{op.line} is masked at document boundaries"
            continue
        message = (
            f"`{op.sym}` mixes the previous position into the next with no BOS mask, so the last token of one "
            f"document leaks into the first position of the next"
        )
        result.findings.append(
            finding(
                facts,
                RULE,
                op,
                message,
                [hop(facts, op, "shift-mix without BOS mask")],
                Confidence.MEDIUM,
                severity=Severity.NEEDS_REVIEW,
            )
        )
        break
    for op in ops(facts, "noncausal"):
        result.present = True
        message = "attention is called with is_causal=False and no mask, so every position attends to later tokens"
        result.findings.append(
            finding(facts, RULE, op, message, [hop(facts, op, "non-causal attention")], Confidence.MEDIUM)
        )
        break
    return result
