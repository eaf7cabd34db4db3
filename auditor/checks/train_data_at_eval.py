"""train-data-at-eval: training data touched after the training budget ended (GPTQ on train shards after the loop)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.facts.ir import Op
from auditor.model import Confidence

RULE = "train-data-at-eval"
_READS_NOTHING = V.LOG_CALLS | {"len"}  # printing or counting training data is not using it


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    driver = facts.driver()
    func_ops = facts.ops_by_func.get(driver, [])
    end = _training_end(facts, func_ops)
    if end is None:
        return result
    reserve = next((k for k in facts.ir.knobs if V.RESERVE_NAME.search(k)), None)
    for op in func_ops:
        if op.seq <= end.seq or op.kind != "call" or end.loops and op.loops[:1] == end.loops[:1]:
            continue
        callee = op.sym.split(".")[-1]
        if callee in _READS_NOTHING or not facts.status(op).live:
            continue
        if (
            op.seq not in facts.callees
            and not V.CALIBRATION_CALL.search(callee)
            and not V.TRAIN_LOADER_CALL.match(callee)
        ):
            continue  # a tensor op on a reused name, not a step that reads data
        if V.TRAIN not in facts.roles_of(op.val) and not facts.kinds(op) & {"update_train", "train_data"}:
            continue
        result.present = True
        if reserve:
            result.note = f"post-training data use is budgeted by `{reserve}`"
            continue
        message = (
            f"`{op.sym}` reads training data after the training loop ended (L{end.line}); data-touching "
            f"calibration must run inside the 600 s training budget"
        )
        evidence = [hop(facts, end, "training ends"), hop(facts, op, "training data used afterwards")]
        result.findings.append(finding(facts, RULE, op, message, evidence, Confidence.MEDIUM))
        break
    return result


def _training_end(facts: Facts, func_ops: list[Op]) -> Op | None:
    """The last operation of the driver that trains on training data (a loop's backward or a call)."""
    last = None
    for op in func_ops:
        if op.kind in ("backward", "call") and "update_train" in facts.kinds(op):
            last = op
    if last is None or not last.loops:
        return last
    loop = facts.ir.loops[last.loops[0]]
    tail = [op for op in func_ops if op.loops[:1] == last.loops[:1]]
    return tail[-1] if tail and loop else last
