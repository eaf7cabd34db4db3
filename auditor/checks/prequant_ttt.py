"""prequant-ttt: a validation token is trained on before it is scored (C3, Issue #402).

Inside each function, every update whose loss comes from validation data must follow, in the same iteration of a
non-epoch loop, the scoring of that data. A function that only trains on val is judged at its call site.
"""

from __future__ import annotations

from auditor.checks.base import CheckResult, chain, common_loop, finding, hop, is_val_score, shared_loops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.facts.cond import knob_names
from auditor.facts.ir import Op
from auditor.model import Confidence

RULE = "prequant-ttt"


def val_updates(facts: Facts, qual: str) -> list[Op]:
    """Updates on val data in `qual`: its own backward passes, and calls to functions that train without scoring."""
    out = []
    for op in facts.ops_by_func.get(qual, ()):
        kinds = facts.kinds(op)
        if op.kind == "backward" and "update_val" in kinds:
            out.append(op)
        elif op.kind == "call" and "update_val" in kinds and "score" not in kinds:
            out.append(op)
    return out


def is_slot(facts: Facts, qual: str) -> bool:
    """Fresh tensors optimised at eval (SLOT deltas) are judged by scored-region-slot, not here."""
    return any(op.kind == "param_create" for op in facts.ops_by_func.get(qual, ()))


def is_warmup(facts: Facts, op: Op) -> bool:
    """Compile warm-up steps on a throwaway adapter (flagged for eval time by the record review, not here)."""
    return any(
        "warm" in facts.ir.loops[i].iter_text.lower() or "warm" in " ".join(facts.ir.loops[i].targets) for i in op.loops
    )


def is_ttt(facts: Facts, qual: str, update: Op) -> bool:
    """Test-time training: named so, or inside a loop or branch named so (inline TTT in main)."""
    names = [qual] + [c for c in facts.callees.get(update.seq, ())]
    parts = [part for n in names for part in n.split(".")]  # a closure inside eval_x belongs to eval_x
    if any(V.TTT_NAME.search(p) or V.EVAL_NAME.search(p) for p in parts):
        return True
    loops = " ".join(facts.ir.loops[i].iter_text for i in update.loops)
    guards = " ".join(name for cond, _ in update.guards for name in knob_names(cond, facts.ir.knobs))
    return bool(V.TTT_NAME.search(loops) or V.TTT_NAME.search(guards))


def judge(facts: Facts, qual: str, update: Op, scores: list[Op]) -> tuple[str, Op | None]:
    """('legal'|'after'|'epoch'|'none', the score op that decides)."""
    before = [s for s in scores if s.seq < update.seq]
    for score in scores:
        if any(facts.ir.loops[loop].is_epoch for loop in shared_loops(score, update)):
            return "epoch", score  # a later epoch scores tokens an earlier epoch trained on
    for score in before:
        if common_loop(score, update) is not None:
            return "legal", score
    after = [s for s in scores if s.seq > update.seq]
    if after:
        return "after", after[0]
    if before:
        return "legal", before[0]
    return "none", None


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    legal_at: list[int] = []
    for qual in sorted(facts.reachable | set(facts.disabled_by) | set(facts.ops_by_func)):
        updates = [u for u in val_updates(facts, qual) if is_ttt(facts, qual, u) and not is_warmup(facts, u)]
        if not updates or is_slot(facts, qual):
            continue
        result.present = True
        scores = [op for op in facts.ops_by_func.get(qual, ()) if is_val_score(facts, op)]
        for update in updates:
            verdict, score = judge(facts, qual, update, scores)
            if verdict == "legal":
                legal_at.append(score.line)
                continue
            if verdict == "none" or score is None:
                continue  # no scoring here: the caller decides the order
            result.findings.append(_finding(facts, verdict, update, score))
            break
    if result.present and not result.findings:
        result.note = "score-first TTT" + (f" (scored at L{legal_at[0]} before each update)" if legal_at else "")
        result.lines = tuple(sorted(set(legal_at)))[:3]
    return result


def _finding(facts: Facts, verdict: str, update: Op, score: Op):
    what = update.sym if update.kind == "call" else "loss.backward()"
    if verdict == "epoch":
        message = (
            f"validation tokens are scored again after `{what}` has trained on them in an earlier epoch or "
            f"pass (score at L{score.line} inside the same epoch loop)"
        )
    else:
        message = (
            f"`{what}` trains on validation tokens at L{update.line} before they are scored at "
            f"L{score.line}; only already-scored tokens may be trained on"
        )
    evidence = chain(facts, update, V.VAL, "update on val-derived loss")
    evidence.append(
        hop(
            facts,
            score,
            "score of the same tokens, afterwards" if verdict != "epoch" else "score inside the epoch loop",
        )
    )
    confidence = Confidence.HIGH if update.kind == "backward" else Confidence.MEDIUM
    return finding(facts, RULE, update, message, evidence, confidence, extra_ops=(score,))
