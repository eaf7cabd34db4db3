"""Ledger -> runtime findings. Pure functions over the event record; no torch.

Vocabulary: a *score* is a Score event no backward went through (the value was only read); a *training forward*
is one a backward went through; a position is *trained on* when a backward gave its loss a nonzero gradient.
Training ends at the last backward through a train-data loss; evaluation starts at the first score after that.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from auditor.trace.ledger import Backward, Count, Ledger, Score

ALIGN_MIN = 0.5  # share of hashed-key elements that must sit on the scored token's own position
NORM_TOL = 0.01  # |sum over the vocabulary - 1| tolerated for a probability row


@dataclass(frozen=True)
class RuntimeFinding:
    rule: str
    severity: str  # "illegal" | "needs-review"
    message: str
    evidence: tuple[str, ...] = ()


@dataclass
class Phases:
    train_end: int  # seq of the last training backward (0: no training seen)
    eval_start: int  # seq of the first val score after training (0: none)


@dataclass
class Observed:
    """What the run showed, for the report even when nothing is wrong."""

    scores: int = 0
    val_positions_scored: int = 0
    val_positions_trained: int = 0
    optimizer_steps: int = 0
    phases: str = ""  # wall time per phase
    artifacts: str = ""  # files the run wrote, with sizes
    notes: list[str] = field(default_factory=list)


def phases(ledger: Ledger) -> Phases:
    train_end = max(ledger.train_backward_seqs, default=0)
    eval_start = next((s.seq for s in scored(ledger) if s.seq > train_end), 0)
    return Phases(train_end, eval_start)


def pure_scores(ledger: Ledger) -> list[Score]:
    trained = ledger.score_trained()
    return [s for s in ledger.scores if s.id not in trained]


def scored(ledger: Ledger) -> list[Score | Count]:
    """The events that put positions into a score: graph-free per-position losses that were reduced or stored
    (Count). When a run shows none (scoring outside torch), every pure Score event stands in for them."""
    return list(ledger.counts) if ledger.counts else pure_scores(ledger)


def _first_scores(ledger: Ledger) -> dict[int, int]:
    first: dict[int, int] = {}
    for s in scored(ledger):
        for p in s.pos:
            first.setdefault(p, s.seq)
    return first


def _step_after(ledger: Ledger, seq: int):
    return next((s for s in ledger.steps if s.seq > seq), None)


def _range(positions: list[int]) -> str:
    return f"{min(positions)}..{max(positions)}" if positions else "-"


def training_order(ledger: Ledger) -> list[RuntimeFinding]:
    """prequant-ttt / scored-region-slot / val-in-artifact: val positions trained on before they were scored."""
    first = _first_scores(ledger)
    ph = phases(ledger)
    buckets: dict[str, list[tuple[Backward, list[int]]]] = {}
    for b in ledger.backwards:
        early = [p for p in b.pos if first.get(p, 1 << 62) > b.seq]
        if not early:
            continue
        if _slot_step(ledger, b.seq):
            rule = "scored-region-slot"
        elif b.seq < ph.train_end:
            rule = "val-in-artifact"
        else:
            rule = "prequant-ttt"
        buckets.setdefault(rule, []).append((b, early))
    return [_order_finding(rule, hits, first) for rule, hits in buckets.items()]


_ORDER_MESSAGES = {
    "prequant-ttt": "{n} validation positions were trained on (backward + step on their loss) before they were "
    "first scored",
    "scored-region-slot": "eval-time tensors that are not model parameters were optimised on {n} validation "
    "positions before those positions were scored",
    "val-in-artifact": "{n} validation positions were trained on during the training phase (interleaved with "
    "training-data steps)",
}


def _order_finding(rule: str, hits: list[tuple[Backward, list[int]]], first: dict[int, int]) -> RuntimeFinding:
    positions = sorted({p for _, early in hits for p in early})
    b0, early0 = hits[0]
    p0 = early0[0]
    scored_at = first.get(p0)
    when = f"first scored at event {scored_at}" if scored_at else "never scored afterwards"
    evidence = (
        f"{len(hits)} backward passes reached validation targets before their first score "
        f"(positions {_range(positions)})",
        f"e.g. position {p0}: trained at event {b0.seq}, {when}",
    )
    return RuntimeFinding(rule, "illegal", _ORDER_MESSAGES[rule].format(n=len(positions)), evidence)


def rescore(ledger: Ledger) -> list[RuntimeFinding]:
    """Positions scored, trained on, then scored again (the later score is what a run reports last).

    Score-first training followed by another pass is `rescore`: the position was scored in the scoring run right
    before the backward that first trained on it. Training in a separate adaptation phase, after an earlier
    (diagnostic) pass happened to score the position, is pre-eval TTT: `prequant-ttt`.
    """
    events = scored(ledger)
    first = _first_scores(ledger)
    trained_at: dict[int, int] = {}
    for b in ledger.backwards:
        for p in b.pos:
            trained_at.setdefault(p, b.seq)
    again: dict[int, int] = {}
    for s in events:
        for p in s.pos:
            t = trained_at.get(p)
            if t is not None and first.get(p, 0) < t < s.seq:
                again.setdefault(p, s.seq)
    backwards = sorted([b.seq for b in ledger.backwards] + ledger.train_backward_seqs)
    buckets: dict[str, list[int]] = {}
    for p in again:
        t = trained_at[p]
        if _slot_step(ledger, t):
            buckets.setdefault("scored-region-slot", []).append(p)
            continue
        prev = backwards[bisect.bisect_left(backwards, t) - 1] if bisect.bisect_left(backwards, t) else 0
        run = {q for s in events if prev < s.seq < t for q in s.pos}
        buckets.setdefault("rescore" if p in run else "prequant-ttt", []).append(p)
    return [_again_finding(rule, sorted(ps), first, trained_at, again) for rule, ps in buckets.items()]


def _slot_step(ledger: Ledger, backward_seq: int) -> bool:
    """The step after this backward optimised only bare tensors (a SLOT delta), no model parameters."""
    step = _step_after(ledger, backward_seq)
    return step is not None and step.free_params and not step.module_params


_AGAIN_MESSAGES = {
    "scored-region-slot": "eval-time tensors that are not model parameters were optimised on {n} validation "
    "positions that were then scored again with them",
    "rescore": "{n} validation positions were scored again after the model was trained on them",
    "prequant-ttt": "{n} validation positions were trained on in an adaptation phase and then scored again (an "
    "earlier pass had scored them: pre-eval TTT behind a diagnostic eval)",
}


def _again_finding(rule, positions, first, trained_at, again) -> RuntimeFinding:
    p0 = positions[0]
    evidence = (
        f"position {p0}: scored at event {first[p0]}, trained on at event {trained_at[p0]}, scored again at "
        f"event {again[p0]}",
        f"{len(positions)} positions (positions {_range(positions)})",
    )
    return RuntimeFinding(rule, "illegal", _AGAIN_MESSAGES[rule].format(n=len(positions)), evidence)


def target_in_hash(ledger: Ledger) -> list[RuntimeFinding]:
    """Reads at hashed indices whose key depends on the very token being scored (element-aligned)."""
    scores = sorted(ledger.scores, key=lambda s: s.seq)
    worst = None
    for read in ledger.table_reads:
        for score in _neighbours(scores, read.seq):
            if len(score.pos) != len(read.dep) or not score.pos:
                continue
            same = sum(1 for d, p in zip(read.dep, score.pos) if d == p)
            share = same / len(score.pos)
            if share >= ALIGN_MIN and (worst is None or share > worst[0]):
                worst = (share, read, score)
    if worst is None:
        return []
    share, read, score = worst
    evidence = (
        f"table read at event {read.seq}: {share:.0%} of its keys depend on the position scored by event "
        f"{score.seq} (positions {_range(score.pos)})",
    )
    msg = "a table is read with a hashed key built from the target token it helps to score"
    return [RuntimeFinding("target-in-hash", "illegal", msg, evidence)]


def _neighbours(scores: list[Score], seq: int) -> list[Score]:
    before = [s for s in scores if s.seq < seq][-1:]
    after = [s for s in scores if s.seq > seq][:1]
    return before + after


def normalization(ledger: Ledger) -> list[RuntimeFinding]:
    """Scored values gathered from vocabulary-wide rows must come from rows that sum to 1."""
    bad = [(s, x) for s in ledger.scores for x in s.row_sums if abs(x - 1.0) > NORM_TOL]
    if not bad:
        return []
    s, x = bad[0]
    evidence = (f"event {s.seq}: the row the target's value was read from sums to {x:.4g} over the vocabulary",)
    msg = "scored probabilities are read from rows that are not normalised over the vocabulary"
    return [RuntimeFinding("hashed-ngram-cache", "needs-review", msg, evidence)]


def val_calibration(ledger: Ledger) -> list[RuntimeFinding]:
    """Val tokens fed to the model with no loss on them before the next model input: a statistic, not a score."""
    if not ledger.scores:
        return []
    ph = phases(ledger)
    scores = sorted(ledger.scores, key=lambda s: s.seq)
    unexplained: list[int] = []
    in_training = False
    for use in ledger.uses:
        nxt = next((s for s in scores if s.seq > use.seq), None)
        targets = set() if nxt is None else {p - 1 for p in nxt.pos}
        if not targets.intersection(use.pos):
            unexplained.extend(use.pos)
            in_training = in_training or use.seq < ph.train_end
    if not unexplained:
        return []
    rule = "val-in-artifact" if in_training else "val-calibration"
    msg = (
        f"{len(set(unexplained))} validation positions were fed to the model without being scored or trained "
        "on (calibration or other statistics from validation data)"
    )
    return [RuntimeFinding(rule, "illegal", msg, (f"positions {_range(unexplained)}",))]


def train_data_at_eval(ledger: Ledger) -> list[RuntimeFinding]:
    ph = phases(ledger)
    if not ph.train_end:
        return []
    late = [r for r in ledger.reads if r.split == "train" and r.seq > ph.train_end]
    late_uses = [s for s in ledger.train_use_seqs if s > ph.train_end]
    out = []
    during_eval = [r.seq for r in late if ph.eval_start and r.seq > ph.eval_start]
    during_eval += [s for s in late_uses if ph.eval_start and s > ph.eval_start]
    if during_eval:
        msg = "training data was read or fed to the model during evaluation"
        out.append(RuntimeFinding("train-data-at-eval", "illegal", msg, (f"events {min(during_eval)}..",)))
    elif late or late_uses:
        msg = (
            "training data was used after the last training step (calibration?): legal only inside the "
            "600 s training budget"
        )
        first = min([r.seq for r in late] + late_uses)
        out.append(RuntimeFinding("train-data-at-eval", "needs-review", msg, (f"first at event {first}",)))
    return out


LEDGER_CHECKS = (training_order, rescore, target_in_hash, normalization, val_calibration, train_data_at_eval)


def check_ledger(ledger: Ledger) -> list[RuntimeFinding]:
    """All ledger findings, one per rule (two checks can both see pre-eval TTT: their evidence is joined)."""
    by_rule: dict[str, RuntimeFinding] = {}
    for check in LEDGER_CHECKS:
        for f in check(ledger):
            if f.rule in by_rule:
                kept = by_rule[f.rule]
                by_rule[f.rule] = RuntimeFinding(f.rule, kept.severity, kept.message, kept.evidence + f.evidence)
            else:
                by_rule[f.rule] = f
    return list(by_rule.values())


def _phase_times(ledger: Ledger) -> str:
    """Training up to the last training backward, evaluation from the first score after it, the rest between."""
    ph = phases(ledger)
    times = {e.seq: e.t for e in [*ledger.scores, *ledger.counts, *ledger.backwards, *ledger.steps, *ledger.reads]}
    end = times.get(max((s for s in times if s <= ph.train_end), default=0), 0.0)
    start = times.get(ph.eval_start, ledger.wall) if ph.eval_start else ledger.wall
    return f"training {end:.1f} s, serialization/calibration {max(start - end, 0):.1f} s, evaluation " \
        f"{max(ledger.wall - start, 0):.1f} s (toy scale, from the ledger)"


def observed(ledger: Ledger) -> Observed:
    obs = Observed(
        scores=len(scored(ledger)),
        val_positions_scored=len(_first_scores(ledger)),
        val_positions_trained=len({p for b in ledger.backwards for p in b.pos}),
        optimizer_steps=len(ledger.steps),
        phases=_phase_times(ledger),
        artifacts=", ".join(f"{name} ({size:,} B)" for name, size in sorted(ledger.artifacts.items())[:8]),
    )
    if not ledger.scores:
        obs.notes.append(
            "no loss or log-prob read at validation targets was seen: scoring happened outside torch "
            "(numpy/C) or the val tensors could not be followed; order checks had nothing to check"
        )
    return obs
