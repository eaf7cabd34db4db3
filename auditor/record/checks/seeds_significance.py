"""seeds-significance: >= 3 runs of one config; the gain in nats over a baseline and its one-sided Welch test."""

from __future__ import annotations

import math

from auditor.model import Significance
from auditor.record import stats
from auditor.record.checks.base import CheckResult, record_finding
from auditor.record.facts import RecordFacts

RULE = "seeds-significance"
# hyper-parameters that may differ between the seeds of one configuration
_PER_RUN_KEYS = frozenset({"seed", "run_id", "logfile", "log_file", "out_dir", "output_dir", "save_path", "rank",
                           "local_rank", "timestamp", "date"})


def check(facts: RecordFacts) -> CheckResult:
    result = CheckResult()
    runs = facts.scored_runs
    if not runs:
        return result
    result.present = True
    need = int(facts.option(RULE, "min_seeds", 3))
    seeds = facts.seeds
    if len(seeds) < need:
        result.findings.append(record_finding(
            RULE, f"{len(seeds)} seed(s) with a final score ({_seed_list(runs)}); a record needs at least {need} runs "
            f"of one configuration."))
    if differing := config_differences(runs):
        result.findings.append(record_finding(
            RULE, f"the runs do not share one configuration: {differing}; seeds from another config do not count "
            f"toward a record (#2124)."))
    significance = significance_of(facts)
    result.note = f"{len(seeds)} seed(s): {_seed_list(runs)}"
    if significance is not None:
        result.note += f"; gain {significance.gain_nats:+.4f} nats vs {significance.baseline}, p = {significance.p:.3g}"
        p_record = float(facts.option(RULE, "p_record", 0.01))
        p_prog = float(facts.option(RULE, "p_progression", 0.25))
        versus = f"gain {significance.gain_nats:+.4f} nats over {significance.baseline}"
        if math.isnan(significance.p):
            message = f"{versus}: significance cannot be tested. {significance.note}"
            result.findings.append(record_finding(RULE, message))
        elif not significance.p < p_record:
            where = "meets" if significance.p < p_prog else "misses"
            result.findings.append(record_finding(
                RULE, f"{versus} is not significant for a record: p = {significance.p:.3g} for a gain of at least "
                f"{significance.required_nats} nats (record needs p < {p_record}; it {where} the p < {p_prog} "
                f"progression rule). {significance.note}".strip()))
    return result


def config_differences(runs) -> str:
    """`key: a vs b` for hyper-parameters that differ between runs (empty when they agree or none are logged)."""
    logged = [run.hparams for run in runs if run.hparams]
    if len(logged) < 2:
        return ""
    keys = sorted(set.intersection(*(set(h) for h in logged)) - _PER_RUN_KEYS)
    diffs = [f"{k}: {' vs '.join(sorted({h[k] for h in logged}))}" for k in keys if len({h[k] for h in logged}) > 1]
    return "; ".join(diffs[:4]) + (f" (+{len(diffs) - 4} more)" if len(diffs) > 4 else "")


def significance_of(facts: RecordFacts) -> Significance | None:
    """The test against the baseline given on the command line, when there is one and the runs log val_loss."""
    base = facts.baseline
    losses = [run.final.val_loss for run in facts.scored_runs if run.final.val_loss is not None]
    if base is None or not losses:
        return None
    required = float(facts.option(RULE, "min_gain_nats", 0.005))
    note = ""
    if base.losses:
        reference = list(base.losses)
    else:  # a bpb on the command line: into nats with this submission's own nats-per-bpb ratio
        ratios = [run.final.val_loss / run.final.val_bpb for run in facts.scored_runs
                  if run.final.val_loss is not None and run.final.val_bpb]
        reference = [base.bpb * stats.mean(ratios)]
        note = "The baseline bpb was converted to nats with this submission's tokens-per-byte ratio."
    gain = stats.mean(reference) - stats.mean(losses)
    test = stats.welch(losses, [x - required for x in reference], "less")
    if math.isnan(test.p):
        note = (note + " Too few runs (or no spread) for a t-test.").strip()
    return Significance(base.label, gain, required, test.t, test.p, note)


def _seed_list(runs) -> str:
    return ", ".join(str(run.seed) if run.seed is not None else f"{run.file} (no seed)" for run in runs)
