"""rescore: validation tokens scored again after state built from them changed, and the later pass reported (C4)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop, is_val_score
from auditor.facts.bundle import Facts
from auditor.facts.ir import Op
from auditor.model import Confidence

RULE = "rescore"
_STATE = ("update_val", "table_write", "update")


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for _qual, func_ops in sorted(facts.ops_by_func.items()):
        found = _two_pass(facts, func_ops) or _rescore_after_adapt(facts, func_ops)
        if found:
            result.present = True
            result.findings.append(found)
    return result


def _outer(op: Op) -> int | None:
    return op.loops[0] if op.loops else None


def _two_pass(facts: Facts, func_ops: list[Op]):
    """Two sequential loops that score val; the first changes state (cache writes or updates), the second only reads."""
    passes: dict[int, dict[str, list[Op]]] = {}
    for op in func_ops:
        loop = _outer(op)
        if loop is None:
            continue
        slot = passes.setdefault(loop, {"score": [], "state": [], "own_state": []})
        kinds = facts.kinds(op)
        if is_val_score(facts, op):
            slot["score"].append(op)
        if op.kind in ("table_write", "backward") or kinds & {"update_val", "table_write"}:
            slot["state"].append(op)
        if op.kind == "backward" or (op.kind == "table_write" and not _scratch(facts, op, loop)):
            slot["own_state"].append(op)  # a rescoring pass may call the same scorer (with updates switched off)
    ordered = [(loop, slot) for loop, slot in sorted(passes.items()) if slot["score"]]
    for index, (first, slot) in enumerate(ordered):
        if not slot["state"]:
            continue
        for second, later in ordered[index + 1 :]:
            if later["own_state"]:
                continue
            rescoring = later["score"][0]
            message = (
                f"validation tokens are scored in a second pass (L{facts.ir.loops[second].line}) after the "
                f"first pass (L{facts.ir.loops[first].line}) changed state built from them"
            )
            evidence = [
                hop(facts, slot["state"][0], "first pass changes state from val tokens"),
                hop(facts, slot["score"][0], "first-pass score"),
                hop(facts, rescoring, "second pass scores the same tokens again"),
            ]
            return finding(facts, RULE, rescoring, message, evidence, Confidence.MEDIUM, extra_ops=(slot["state"][0],))
    return None


def _scratch(facts, op: Op, loop: int) -> bool:
    """A local array rebound inside this pass before the write (per-batch probabilities), not carried state."""
    if op.sym.startswith(("a:", "@", "g::")):
        return False
    span = facts.ir.loops[loop]
    writes = {
        o.line
        for o in facts.ops_by_func.get(op.func, ())
        if o.kind in ("table_write", "state_write") and o.sym == op.sym
    }
    return any(span.line <= line < op.line and line not in writes for _val, line in facts.flows_into.get(op.sym, ()))


def _rescore_after_adapt(facts: Facts, func_ops: list[Op]):
    """A call that adapts a model on val, then a later call that scores val with the same model object."""
    adapt = None
    for op in func_ops:
        if op.kind != "call" or not facts.status(op).live:
            continue
        kinds = facts.kinds(op)
        if {"update_val", "score"} <= kinds and adapt is None:  # a first pass that scored while adapting
            adapt = op
            continue
        if adapt is not None and "score" in kinds and "update_val" not in kinds and _same_model(adapt, op):
            message = (
                f"`{op.sym}` scores validation tokens again after `{adapt.sym}` adapted the same model on them "
                f"(L{adapt.line}); the reported score must be the first pass"
            )
            evidence = [hop(facts, adapt, "adaptation on val tokens"), hop(facts, op, "second scoring pass")]
            return finding(facts, RULE, op, message, evidence, Confidence.MEDIUM)
    return None


def _same_model(first: Op, second: Op) -> bool:
    def model_args(op: Op) -> set[str]:
        info = op.extra
        return {
            sym
            for value in info.args[:3] + list(info.kwargs.values())
            for sym, how in value.deps
            if how == "id" and "model" in sym.split("::")[-1]
        }

    return bool(model_args(first) & model_args(second))
