"""unanalyzable: code the static pass cannot see (exec/eval of computed strings left after unwrapping)."""

from __future__ import annotations

from auditor.checks.base import CheckResult, finding, hop, ops
from auditor.facts.bundle import Facts
from auditor.model import Confidence, Severity

RULE = "unanalyzable"


def check(facts: Facts) -> CheckResult:
    """Files that cannot be read or parsed never reach the checks: the pipeline reports them directly."""
    result = CheckResult()
    for op in ops(facts, "call"):
        if op.sym in ("exec", "eval", "builtins.exec") and op.val.deps:
            result.present = True
            message = "code is executed from a computed string, which a static review cannot read"
            result.findings.append(
                finding(
                    facts,
                    RULE,
                    op,
                    message,
                    [hop(facts, op, "dynamic exec")],
                    Confidence.MEDIUM,
                    severity=Severity.NEEDS_REVIEW,
                )
            )
            break
    return result
