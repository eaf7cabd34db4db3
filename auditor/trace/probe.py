"""Causality probe: rerun with one validation token changed and compare what the program scored.

With token k replaced, every score of a position before k must be identical (C1; on CPU the runs are
deterministic, so the tolerance only absorbs float noise) and the full distribution the model committed to at k
must not change (only its value at the new target). A second probe changes the first token of a later document
(cross-document leaks). k is chosen inside a scored chunk after validation training started, so score-first TTT
is exercised: its chunk is scored before the training that sees k.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from auditor.trace.checks import RuntimeFinding, scored
from auditor.trace.ledger import Ledger
from auditor.trace.runner import RunConfig, RunResult, run

TOLERANCE = 1e-5


@dataclass(frozen=True)
class ProbeResult:
    k: int
    label: str  # "mid-chunk token" | "first token of a later document"
    max_diff_before: float  # largest |Δ| of a score at a position < k
    row_diff_at_k: float  # largest |Δ log p| of the distribution committed at k (nan when not recorded)
    worst_position: int | None
    reason: str = ""  # why the probe run does not count

    @property
    def leaks(self) -> bool:
        return not self.reason and (self.max_diff_before > TOLERANCE or self.row_diff_at_k > TOLERANCE)  # nan: False


def choose_k(ledger: Ledger) -> int | None:
    pure = [s for s in scored(ledger) if len(s.pos) >= 8]
    if not pure:
        return None
    first_train = min((b.seq for b in ledger.backwards if b.pos), default=None)
    later = [s for s in pure if first_train is not None and s.seq > first_train]
    event = later[0] if later else pure[0]
    ordered = sorted(event.pos)
    return ordered[len(ordered) // 2]


def next_document(tokens, k: int, bos: int) -> int | None:
    """The position after the first BOS that follows k (the first real token of a later document)."""
    for i in range(k + 1, len(tokens) - 1):
        if int(tokens[i]) == bos:
            return i + 1
    return None


def _replacement(old: int, vocab: int, bos: int) -> int:
    new = (old + 1) % vocab
    return (new + 1) % vocab if new == bos else new


def probe(
    script: Path, data, config: RunConfig, base: Ledger, tokens, bos: int, documents: bool = True
) -> list[ProbeResult]:
    """Run the perturbed variants and compare them with a baseline run that watched the same positions."""
    k = choose_k(base)
    if k is None:
        return []
    targets = [(k, "mid-chunk token")]
    k2 = next_document(tokens, k, bos)
    if documents and k2 is not None and k2 < base.val_tokens:
        targets.append((k2, "first token of a later document"))
    watch = tuple(t for t, _ in targets)
    ref = run(script, data, _with(config, {}, watch))
    results = []
    for pos, label in targets:
        alt = run(script, data, _with(config, {pos: _replacement(int(tokens[pos]), data.vocab_size, bos)}, watch))
        results.append(compare(ref, alt, pos, label))
    return results


def _with(config: RunConfig, perturb: dict[int, int], watch: tuple[int, ...]) -> RunConfig:
    return replace(config, traced=True, perturb=perturb, watch=watch)


def compare(ref: RunResult, alt: RunResult, k: int, label: str) -> ProbeResult:
    if not ref.ok or not alt.ok or ref.ledger is None or alt.ledger is None:
        return ProbeResult(k, label, 0.0, 0.0, None, ref.reason or alt.reason or "no ledger")
    a, b = scored(ref.ledger), scored(alt.ledger)
    if len(a) != len(b):
        return ProbeResult(k, label, float("inf"), float("nan"), None, "")
    worst, where = 0.0, None
    for ea, eb in zip(a, b):
        if ea.pos != eb.pos:
            return ProbeResult(k, label, float("inf"), float("nan"), None, "")
        for p, va, vb in zip(ea.pos, ea.val, eb.val):
            if p < k and abs(va - vb) > worst:
                worst, where = abs(va - vb), p
    return ProbeResult(k, label, worst, _row_diff(ref.ledger, alt.ledger, k), where)


def _row_diff(a: Ledger, b: Ledger, k: int) -> float:
    """The distribution at k from the first loss that computed it (later ones may follow training on k)."""
    ra = next((s.rows[str(k)] for s in a.scores if str(k) in s.rows), None)
    rb = next((s.rows[str(k)] for s in b.scores if str(k) in s.rows), None)
    if not ra or not rb:
        return float("nan")
    return max(abs(x - y) for x, y in zip(ra, rb))


def probe_findings(results: list[ProbeResult], explained: bool) -> list[RuntimeFinding]:
    """A leak the ledger already explains (training before scoring) is evidence for that finding, not causality."""
    leaks = [r for r in results if r.leaks]
    if not leaks or explained:
        return []
    r = leaks[0]
    evidence = tuple(describe(x) for x in results)
    if r.max_diff_before > TOLERANCE:
        msg = f"changing validation token {r.k} ({r.label}) changed the score of earlier position {r.worst_position}"
    else:
        msg = f"changing validation token {r.k} changed the distribution the model committed to at {r.k}"
    return [RuntimeFinding("causality", "illegal", msg, evidence)]


def describe(r: ProbeResult) -> str:
    if r.reason:
        return f"probe at {r.k} ({r.label}) did not run: {r.reason}"
    return (
        f"probe at {r.k} ({r.label}): max |Δ score| before it {r.max_diff_before:.3g}, max |Δ log p| of the "
        f"distribution at it {r.row_diff_at_k:.3g} (tolerance {TOLERANCE:g})"
    )
