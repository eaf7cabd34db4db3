"""What every checker shares: its result type and how a finding is built from operations of the facts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.catalog import load_catalog
from auditor.facts.bundle import Facts
from auditor.facts.ir import Op
from auditor.model import Confidence, Evidence, Finding, Severity


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    present: bool = False  # the construct the rule is about exists (legal or not)
    note: str = ""  # e.g. "score-first TTT at L1138" for a CLEAR check
    lines: tuple[int, ...] = ()


def hop(facts: Facts, op: Op | None, note: str, line: int | None = None) -> Evidence:
    """One evidence hop at an operation (or a bare line)."""
    if op is not None:
        return Evidence(op.line, facts.line_text(op.line, min(op.end_line, op.line + 4)), note)
    return Evidence(line, facts.line_text(line), note)


def finding(
    facts: Facts,
    rule: str,
    sink: Op,
    message: str,
    evidence: list[Evidence],
    confidence: Confidence = Confidence.HIGH,
    severity: Severity | None = None,
    extra_ops: tuple[Op, ...] = (),
) -> Finding:
    """A finding at `sink`; demoted to info when the construct does not run with the effective environment."""
    status = facts.status(sink)
    for op in extra_ops:
        if status.live:
            status = facts.status(op)
    chosen = severity or load_catalog()[rule].severity
    knob = None
    if not status.live:
        chosen = Severity.INFO
        knob = status.knob
        stem = _stem(knob) if knob else ""
        title = re.sub(r"[^a-z0-9]", "", facts.run.title.lower())
        if len(stem) >= 3 and stem in title:
            message = (
                f"{message} (off by default, but the record's title names `{stem.upper()}`, so the submitted run "
                f"most likely set {knob})"
            )
            return Finding(
                rule,
                Severity.NEEDS_REVIEW,
                Confidence.LOW,
                sink.line,
                message,
                sink.end_line,
                tuple(e for e in evidence if e.line),
                knob,
            )
        reason = f"switched on by {knob}" if knob else "never called with the default configuration"
        message = f"{message} (not reached with the defaults; {reason})"
    return Finding(
        rule, chosen, confidence, sink.line, message, sink.end_line, tuple(e for e in evidence if e.line), knob
    )


def _stem(knob: str) -> str:
    """TTT_ENABLED -> ttt, USE_PREQUANT_TTT -> prequantttt."""
    name = re.sub(r"^(USE|ENABLE|DO|RUN)_|_(ENABLED|ENABLE|ON|FLAG|MODE)$", "", knob.upper())
    return re.sub(r"[^a-z0-9]", "", name.lower())


def chain(facts: Facts, op: Op, role: str, note: str) -> list[Evidence]:
    """Evidence from where `role` entered (source) through the assignments that carried it, to `op` (sink)."""
    hops = [
        Evidence(line, facts.line_text(line), f"{role}: {name_of(sym)}") for line, sym in facts.origin(op.val, role)
    ]
    hops = [h for i, h in enumerate(hops) if h.line != op.line and all(h.line != o.line for o in hops[:i])]
    return hops[-4:] + [hop(facts, op, note)]


def reaches(facts: Facts, val, targets: set[str], depth: int = 8) -> bool:
    """Whether `val` is computed (through assignments, up to `depth` hops) from one of the symbols in `targets`."""
    seen: set[str] = set()
    frontier = [sym for sym, _ in val.deps]
    for _ in range(depth):
        nxt = []
        for sym in frontier:
            if sym in seen:
                continue
            seen.add(sym)
            if sym in targets:
                return True
            for source, _line in facts.flows_into.get(sym, ()):
                nxt.extend(s for s, _ in source.deps)
        frontier = nxt
    return False


def ops(facts: Facts, *kinds: str):
    """Operations of the given kinds, in source order."""
    return (op for op in facts.ir.ops if op.kind in kinds)


def shared_loops(a: Op, b: Op) -> list[int]:
    """Loops enclosing both operations, outermost first."""
    out = []
    for x, y in zip(a.loops, b.loops):
        if x != y:
            break
        out.append(x)
    return out


def common_loop(a: Op, b: Op) -> int | None:
    """Innermost loop enclosing both operations (loops are listed outermost first)."""
    shared = None
    for x, y in zip(a.loops, b.loops):
        if x != y:
            break
        shared = x
    return shared


def is_val_score(facts: Facts, op: Op) -> bool:
    """A score accumulation on validation data (or on data of unknown origin, never on training data)."""
    if op.kind != "score" and "score" not in facts.kinds(op):
        return False
    roles = facts.roles_of(op.val)
    return "TRAIN" not in roles or "VAL" in roles


def name_of(sym: str) -> str:
    """A symbol as a reviewer would write it: `self.full_counts`, `val_tokens`."""
    if sym.startswith("a:"):
        return "self." + sym.split(".", 1)[1]
    if sym.startswith("@"):
        return sym[1:]
    return sym.split("::")[-1]
