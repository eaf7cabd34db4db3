"""ngram-tilt: tilt hints must be gated by earlier tokens only; target-class gates (within-word, word-start) leak."""

from __future__ import annotations

import re

from auditor.checks.base import CheckResult, chain, finding, hop, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.facts.cond import evaluate
from auditor.facts.ir import EMPTY, Op
from auditor.model import Confidence

RULE = "ngram-tilt"
_GATE = re.compile(r"gate|valid|hint|beta|boost|within|word", re.I)


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    result.present = any(V.TILT_NAME.search(q) for q in facts.ir.functions) or any(
        V.TILT_NAME.search(k) for k in facts.ir.knobs
    )
    if not result.present:
        return result
    for op in ops(facts, "table_read"):
        roles = facts.roles_of(op.val)
        if (
            V.TARGET in roles
            and V.HASH not in roles
            and V.TILT_NAME.search(op.func)
            and _GATE.search(facts.line_text(op.line))
        ):
            message = (
                f"a tilt gate in `{op.func}` is looked up with the target token, "
                "so whether a hint applies depends on the answer"
            )
            result.findings.append(
                finding(
                    facts,
                    RULE,
                    op,
                    message,
                    chain(facts, op, V.TARGET, "gate indexed by the target"),
                    Confidence.MEDIUM,
                )
            )
    for op in ops(facts, "normalizer"):
        if V.TILT_NAME.search(op.func) and V.AT_TARGET in facts.roles_of(op.val):
            message = (
                f"the tilt normaliser `{op.extra}` in `{op.func}` is computed from the probability of the "
                f"realised token, not of the hint, so the tilted scores are not a distribution fixed before it"
            )
            result.findings.append(
                finding(
                    facts,
                    RULE,
                    op,
                    message,
                    chain(facts, op, V.AT_TARGET, "normaliser from p(target)"),
                    Confidence.MEDIUM,
                )
            )
    # When the gates are computed in a helper this file imports (C or Python beside it), their dataflow is not in
    # view; the expert weights then decide: target-class experts switched on are the banned construct.
    external = any(V.TILT_NAME.search(module) or "ngram" in module.lower() for module in facts.ir.imports.values())
    for name, knob in sorted(facts.ir.knobs.items()):
        if not external or not V.TILT_GATE_KNOB.match(name):
            continue
        value = evaluate(knob.expr, facts.ir.knobs, facts.env)
        if isinstance(value, (int, float, str)) and _nonzero(value):
            sink = Op("knob", knob.line, knob.line, "<module>", -1, (), (), "", name, EMPTY)
            message = (
                f"the target-class tilt expert `{name}` is {value} and its gates are computed outside this "
                f"file; within-word/word-start gates read the realised token (only token-only tilt was accepted)"
            )
            result.findings.append(
                finding(facts, RULE, sink, message, [hop(facts, sink, "expert weight knob")], Confidence.MEDIUM)
            )
    if not result.findings:
        result.note = "token-only tilt (target-class experts off)"
    return result


def _nonzero(value: object) -> bool:
    try:
        return float(value) != 0.0
    except (TypeError, ValueError):
        return False
