"""val-calibration: quantisation statistics (GPTQ Hessians, clip search) computed from validation data (#728)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, chain, finding, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "val-calibration"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for op in ops(facts, "call"):
        callee = op.sym.split(".")[-1]
        if not V.CALIBRATION_CALL.search(callee):
            continue
        result.present = True
        roles = facts.roles_of(op.val)
        if V.VAL not in roles or V.EVAL_NAME.search(callee):
            continue
        message = (
            f"`{op.sym}` computes calibration statistics from validation data; "
            "calibrate on training data within the budget or on self-generated tokens"
        )
        result.findings.append(
            finding(
                facts,
                RULE,
                op,
                message,
                chain(facts, op, V.VAL, "calibration fed with val data"),
                Confidence.HIGH if V.VALTOK in roles else Confidence.MEDIUM,
            )
        )
        break
    if result.present and not result.findings:
        result.note = "calibration data is not validation data"
    return result
