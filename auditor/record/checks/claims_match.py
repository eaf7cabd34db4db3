"""claims-match: submission.json's numbers and seeds against the logs; compliance flags against the checks."""

from __future__ import annotations

import re

from auditor.load.logs import LogRun
from auditor.model import Severity
from auditor.record import stats
from auditor.record.checks.base import CheckResult, fmt_bytes, record_finding
from auditor.record.facts import RecordFacts

RULE = "claims-match"
# compliance flag -> the rules whose findings contradict `true`
_FLAG_RULES = {
    "no_ngram_cache": ("hashed-ngram-cache", "target-in-hash"),
    "no_pre_quant_ttt": ("prequant-ttt",),
    "no_slot": ("scored-region-slot",),
    "score_first_ttt": ("prequant-ttt", "rescore"),
    "artifact_under_16mb": ("artifact-size",),
    "training_under_600s": ("train-time", "calibration-within-budget"),
    "eval_under_600s": ("eval-time",),
}


def check(facts: RecordFacts, record_rules: frozenset[str] = frozenset()) -> CheckResult:
    result = CheckResult()
    claims, runs = facts.claims, facts.scored_runs
    if facts.submission is None:
        return result
    result.present = True
    tol = float(facts.option(RULE, "bpb_tolerance", 0.0006))
    messages: list[str] = []  # needs-review: a score or a seed the logs do not back
    notes: list[str] = []  # info: bookkeeping (bytes) and flags that other findings already carry
    if claims.val_bpb is not None and runs and not _bpb_matches(claims.val_bpb, runs, tol):
        finals = ", ".join(f"{run.final.val_bpb:.5f}" for run in runs)
        mean = stats.mean([r.final.val_bpb for r in runs])
        messages.append(f"val_bpb {claims.val_bpb} is neither the mean ({mean:.5f}) of the runs' final scores "
                        f"({finals}) nor any score a log prints")
    by_seed = {str(run.seed): run for run in facts.runs if run.seed is not None}
    for seed in claims.seeds:
        run = by_seed.get(seed.seed) or by_seed.get(_leading_int(seed.seed))
        if run is None:
            named = [name for name in facts.folder.logs if re.search(rf"seed[_-]?{re.escape(seed.seed)}(?!\d)", name)]
            if named:  # a log named for the seed prints another one: bookkeeping, the run exists
                printed = ", ".join(str(r.seed) for r in facts.folder.logs[named[0]])
                notes.append(f"seed {seed.seed}: {named[0]} is named for it but prints seed {printed}")
            elif facts.runs:
                messages.append(f"seed {seed.seed} is claimed but no log shows a run with that seed")
            continue
        if seed.val_bpb is not None and run.scores and not _bpb_matches(seed.val_bpb, [run], tol):
            messages.append(f"seed {seed.seed}: val_bpb {seed.val_bpb} is not a score its log prints "
                            f"(final {run.final.val_bpb if run.final else 'none'})")
        if seed.bytes_total is not None and run.total_bytes is not None and seed.bytes_total != run.total_bytes:
            notes.append(f"seed {seed.seed}: artifact bytes {seed.bytes_total:,} but its log says "
                            f"{fmt_bytes(run.total_bytes)}")
    totals = [run.total_bytes for run in facts.runs if run.total_bytes is not None]
    if claims.bytes_total is not None and totals and claims.bytes_total not in totals:
        notes.append(f"bytes_total {claims.bytes_total:,} is not a total any log prints (largest {max(totals):,})")
    elif claims.bytes_total is not None and totals and claims.bytes_total < max(totals):
        notes.append(f"bytes_total {claims.bytes_total:,} is not the largest over seeds ({max(totals):,})")
    flags, seeds_flag = _compliance(facts, record_rules, len(facts.seeds))
    notes += flags
    messages += seeds_flag
    for message in messages:
        result.findings.append(record_finding(RULE, message + ".", path="submission.json"))
    for note in notes:
        result.findings.append(record_finding(RULE, note + ".", path="submission.json", severity=Severity.INFO))
    if not messages and not notes:
        result.note = "submission.json agrees with the logs"
    return result


def _bpb_matches(claimed: float, runs: list[LogRun] | tuple[LogRun, ...], tol: float) -> bool:
    finals = [run.final.val_bpb for run in runs if run.final is not None]
    if finals and abs(stats.mean(finals) - claimed) <= tol:
        return True
    return any(abs(score.val_bpb - claimed) <= tol / 2 for run in runs for score in run.scores
               if score.stage != "periodic")


def _compliance(facts: RecordFacts, record_rules: frozenset[str], n_seeds: int) -> tuple[list[str], list[str]]:
    """(flags contradicted by findings that already carry their own severity, a three_seeds claim the logs deny)."""
    found = facts.code_rules | record_rules
    flags = []
    for flag, value in sorted(facts.claims.compliance.items()):
        contradicted = [rule for rule in _FLAG_RULES.get(flag, ()) if rule in found]
        if value and contradicted:
            flags.append(f"compliance.{flag} is true but the audit reports {', '.join(contradicted)}")
    seeds = []
    if facts.claims.compliance.get("three_seeds") and n_seeds < 3:
        seeds.append(f"compliance.three_seeds is true but the logs show {n_seeds} scored seed(s) (#2139)")
    return flags, seeds


def _leading_int(seed: str) -> str:
    """`1337_aggressive` -> `1337`: variants of one seed named in seed_results."""
    m = re.match(r"\d+", seed)
    return m.group(0) if m else seed
