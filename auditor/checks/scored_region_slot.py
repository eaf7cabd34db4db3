"""scored-region-slot: eval-time parameters optimised on the very positions they then score (C3; Issue #1336)."""

from __future__ import annotations

import re

from auditor.checks.base import CheckResult, finding, hop, is_val_score
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence, Severity

RULE = "scored-region-slot"
_CONTEXT_ONLY = re.compile(r"^\s*(0\s*)?:\s*[A-Za-z_]\w*\s*$")


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    for qual, func_ops in sorted(facts.ops_by_func.items()):
        created = [op for op in func_ops if op.kind == "param_create"]
        updates = [
            op
            for op in func_ops
            if op.kind in ("backward", "step")
            and ("VAL" in facts.roles_of(op.val) or "update_val" in facts.kinds(op) or op.kind == "step")
        ]
        scores = [op for op in func_ops if is_val_score(facts, op)]
        if not created or not updates or not scores:
            continue
        update = updates[0]
        if not any(s.seq > update.seq for s in scores):
            continue  # optimised only after scoring: per-document TTT, not SLOT
        if any(s.seq < update.seq and s.loops and s.loops[:1] == update.loops[:1] for s in scores) and not _masks(
            func_ops
        ):
            continue
        result.present = True
        masks = _masks(func_ops)
        loss_roles = facts.roles_of(update.val)
        if masks:
            context_only = all(_CONTEXT_ONLY.match(m.extra.split(",")[-1]) for m in masks)
        else:
            context_only = V.CTX in loss_roles and V.SCORED not in loss_roles
        score = next(s for s in scores if s.seq > update.seq)
        evidence = [hop(facts, created[0], "eval-time tensor with gradients")]
        evidence += [hop(facts, m, "optimisation mask") for m in masks[:1]]
        evidence += [hop(facts, update, "optimised on val positions"), hop(facts, score, "then scored")]
        if context_only:
            message = (
                f"`{qual}` optimises eval-time parameters on context positions only before scoring; "
                f"context-only SLOT awaits a ruling (Issue #1336)"
            )
            result.findings.append(
                finding(facts, RULE, update, message, evidence, Confidence.MEDIUM, severity=Severity.NEEDS_REVIEW)
            )
        else:
            message = (
                f"`{qual}` optimises eval-time parameters on a loss over the positions it then scores "
                f"(L{score.line}), so each score has seen its own target"
            )
            result.findings.append(finding(facts, RULE, update, message, evidence, Confidence.MEDIUM))
    return result


def _masks(func_ops):
    return [op for op in func_ops if op.kind == "mask_store" and "mask" in op.sym.lower()]
