"""hashed-ngram-cache: an eval-time count table read with hashed keys and blended into the score (C2)."""

from __future__ import annotations


from auditor.checks.base import CheckResult, chain, finding, name_of, hop, ops
from auditor.facts import vocab as V
from auditor.facts.bundle import Facts
from auditor.model import Confidence

RULE = "hashed-ngram-cache"


def check(facts: Facts) -> CheckResult:
    result = CheckResult()
    written = {op.sym: op for op in ops(facts, "table_write")}
    filled_tables = [
        op
        for op in ops(facts, "state_write")
        if V.TABLE in facts.roles.of.get(op.sym, frozenset()) and V.VAL in facts.roles_of(op.val)
    ]
    reported: set[str] = set()
    for op in ops(facts, "table_read"):
        roles = facts.roles_of(op.val)
        if V.HASH not in roles or op.func in reported or V.TILT_NAME.search(op.func):
            continue  # tilt hint tables hold next-token ids for a closed-form tilt: judged by ngram-tilt
        write = written.get(op.sym)
        table_roles = facts.roles.of.get(op.sym, frozenset())
        if write is None and not (V.TABLE in table_roles and filled_tables):
            continue  # never written: a learned or frozen table indexed by a hash (BigramHash), not a cache
        if V.VAL not in roles and (write is None or V.VAL not in facts.roles_of(write.val)):
            continue  # a table of training statistics: not an eval-time cache
        result.present = True
        if _normalized(facts, op):
            result.note = f"n-gram distribution at L{op.line} is normalised over the vocabulary"
            continue
        reported.add(op.func)  # one finding per scoring function
        table = name_of(op.sym)
        message = (
            f"eval-time n-gram cache `{table}` is filled from validation tokens and read with hashed keys; "
            f"its counts are not a normalised distribution over the vocabulary"
        )
        evidence = ([hop(facts, write, "table filled with val-derived keys")] if write else []) + chain(
            facts, op, V.HASH, "hashed lookup while scoring"
        )
        result.findings.append(finding(facts, RULE, op, message, evidence, Confidence.MEDIUM))
    _realised_reads(facts, result, reported)
    return result


def _ids(facts: Facts, sym: str) -> frozenset[str]:
    return frozenset(r for r in facts.roles.of.get(sym, frozenset()) if r.startswith(V.TABLE_ID))


def _realised_reads(facts: Facts, result: CheckResult, reported: set[str]) -> None:
    """A run-time count table read at the realised symbol (`counts.get(target)`, `d[x]` with x a byte of the target)
    that the same code later increments at that symbol: the probability of the answer only, never a distribution."""
    writes = [
        op
        for op in ops(facts, "table_write")
        if {V.VAL, V.TARGET, V.TGT_DER} & (facts.roles_of(op.val) | facts.roles.of.get(op.sym, frozenset()))
    ]
    for op in ops(facts, "table_read", "table_get"):
        key = facts.roles_of(op.val)
        if not key & {V.TARGET, V.TGT_DER} or V.HASH in key or op.func in reported:
            continue
        ids = _ids(facts, op.sym)
        if not ids or not _fresh(facts, op.val, op.func, op.line, op.loops):
            continue  # the key's target dependence is loop-carried history (the context), not this step's symbol
        same = [w for w in writes if _ids(facts, w.sym) & ids and facts.roles_of(w.val) & {V.TARGET, V.TGT_DER}]
        keys = {d for d in op.val.deps}
        if not same or any(
            w.line == op.line or (op.line < w.line <= op.line + 3 and keys & set(w.val.deps)) for w in same
        ):
            continue  # never filled with the realised symbol, or a read-modify-write of the count itself
        result.present = True
        if _normalized(facts, op):
            continue
        reported.add(op.func)
        table = name_of(op.sym)
        message = (
            f"`{table}` is an eval-time count table read at the realised token/byte and updated with it "
            f"afterwards; only the target's probability is computed, not a distribution over the vocabulary"
        )
        evidence = [hop(facts, same[0], "table filled with the realised symbol")] + chain(
            facts, op, V.TARGET if V.TARGET in key else V.TGT_DER, "count of the realised symbol read while scoring"
        )
        result.findings.append(finding(facts, RULE, op, message, evidence, Confidence.MEDIUM))


_TGT = {V.TARGET, V.TGT_DER}


def _span(facts: Facts, loops: tuple[int, ...]) -> tuple[int, int] | None:
    if not loops:
        return None
    loop = facts.ir.loops[loops[-1]]
    return loop.line, loop.end_line


def _fresh(
    facts: Facts, val, func: str, line: int, loops: tuple[int, ...], depth: int = 0, seen: set | None = None
) -> bool:
    """Does the target reach this value through this iteration's data, not only through state carried over from
    earlier iterations (a history buffer appended after the read, an attribute of an object)?"""
    seen = set() if seen is None else seen
    if depth > 12:
        return True
    if val.tags & _TGT:
        return True
    span = _span(facts, loops)
    for sym, how in val.deps:
        held = facts.roles.of.get(sym, frozenset())
        if not facts.roles.transform(held, how) & _TGT:
            continue
        if not held & _TGT:
            return True  # the target is cut from the stream right here (shifted slice, largest offset, LUT of it)
        if (sym, line) in seen:
            continue
        seen.add((sym, line))
        if sym.startswith(("a:", "@", "g::")):
            continue  # object or module state: history
        owner = sym.split("::")[0] if "::" in sym and not sym.startswith(("t::",)) else func
        for v, fl in facts.flows_into.get(sym, ()):
            if not facts.roles_of(v) & _TGT:
                continue
            if owner != func and not sym.startswith(("call:", "r:", "t::")):
                # a parameter bound at a call site: continue in the caller at the call
                calls = [
                    o
                    for o in facts.ir.ops
                    if o.kind == "call" and o.line == fl and owner in facts.callees.get(o.seq, ())
                ]
                for call in calls[:2]:
                    if _fresh(facts, v, call.func, fl, call.loops, depth + 1, seen):
                        return True
                continue
            if fl == 0:
                continue
            spans = [(facts.ir.loops[i].line, facts.ir.loops[i].end_line) for i in loops]
            if any(a <= fl <= b for a, b in spans):
                if fl > line and any(a <= fl <= b for a, b in spans):
                    continue  # assigned later in an enclosing loop body: an earlier iteration's value (history)
                if _fresh(facts, v, func, fl, loops, depth + 1, seen):
                    return True
                continue
            if span:  # assigned before the loop: a stream the loop indexes (loop-invariant)
                return True
            if _fresh(facts, v, func, fl, loops, depth + 1, seen):
                return True
    return False


def _normalized(facts: Facts, read) -> bool:
    """A full-vocabulary row divided by its own sum (the legal mixture) rather than a count ratio for one token."""
    text = facts.line_text(read.line, read.end_line)
    if ".sum(" in text and ("keepdim" in text or "dim=-1" in text):
        return True
    func = facts.function(read.func)
    if V.VOCAB_ROWS not in facts.roles.of.get(read.sym, frozenset()) or func is None:
        return False
    body = facts.line_text(func.line, func.end_line)
    return ".sum(" in body and "/" in body
