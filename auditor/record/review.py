"""Build the record facts of a folder and run the record checkers on them."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from auditor.catalog import load_catalog
from auditor.checks.base import CheckResult
from auditor.load.errors import InputError
from auditor.load.logs import LogRun
from auditor.load.source import LoadedSource
from auditor.model import CheckOutcome, RecordReview, Severity
from auditor.record import stats
from auditor.record.checks import RECORD_CHECKERS, claims_match
from auditor.record.checks.seeds_significance import significance_of
from auditor.record.facts import Baseline, RecordFacts, shipped_bytes, summarise
from auditor.record.folder import read_folder
from auditor.record.submission import read_claims

_PREP_CAP = 1 << 20  # bytes of a data-preparation script read


def is_record_folder(folder: Path) -> bool:
    """A folder with a submission.json or a train log gets the record review; a folder of code alone does not."""
    try:
        names = [entry.name.lower() for entry in folder.iterdir()]
    except OSError:
        return False
    return "submission.json" in names or any(n.endswith(".log") or n.startswith(("train_seed", "log")) for n in names)


def record_facts(source: LoadedSource, code_rules: frozenset[str], baseline: Baseline | None) -> RecordFacts:
    """The facts of the loaded script's folder (`source.folder` must be set)."""
    folder, script = cast(Path, source.folder), source.script
    contents = read_folder(folder)
    script_name = script.relative_to(folder).as_posix() if script.is_relative_to(folder) else script.name
    return RecordFacts(
        folder=contents,
        submission=source.submission,
        claims=read_claims(source.submission),
        script=script_name,
        shipped_code_bytes=shipped_bytes(folder, (script_name, *source.siblings)),
        wrapped=source.wrapper is not None,
        code_rules=code_rules,
        baseline=baseline,
        options={rule: spec.options for rule, spec in load_catalog().items() if spec.kind == "record"},
        prep_scripts=_prep_scripts(folder, contents.files, script_name),
    )


def run_checks(facts: RecordFacts, enabled: list[str]) -> list[tuple[str, CheckResult]]:
    """(rule, result) in catalogue order; claims-match last because it reads what the others found."""
    results = [(rule, RECORD_CHECKERS[rule](facts)) for rule in enabled if rule in RECORD_CHECKERS]
    if claims_match.RULE in enabled:
        found = frozenset(
            rule for rule, result in results
            if any(f.severity.rank >= Severity.NEEDS_REVIEW.rank for f in result.findings)
        )
        results.append((claims_match.RULE, claims_match.check(facts, found)))
    order = list(load_catalog())
    return sorted(results, key=lambda item: order.index(item[0]))


def summary(facts: RecordFacts, checks: tuple[CheckOutcome, ...]) -> RecordReview:
    runs = facts.scored_runs
    bpbs = [run.final.val_bpb for run in runs]
    losses = [run.final.val_loss for run in runs if run.final.val_loss is not None]
    totals = [run.total_bytes for run in facts.runs if run.total_bytes is not None]
    return RecordReview(
        runs=tuple(summarise(run) for run in facts.runs),
        checks=tuple(checks),
        mean_bpb=stats.mean(bpbs) if bpbs else None,
        std_bpb=stats.std(bpbs) if len(bpbs) > 1 else None,
        mean_loss=stats.mean(losses) if losses else None,
        max_bytes=max(totals) if totals else None,
        shipped_code_bytes=facts.shipped_code_bytes,
        significance=significance_of(facts),
    )


def baseline_from(bpb: float | None, logs: str | None) -> Baseline | None:
    """The --baseline-bpb value or the final losses of the runs in --baseline-logs DIR."""
    if logs is not None:
        path = Path(logs)
        if not path.is_dir():
            raise InputError(f"--baseline-logs: no such folder: {logs}")
        runs: tuple[LogRun, ...] = read_folder(path).runs
        losses = tuple(run.final.val_loss for run in runs if run.final is not None and run.final.val_loss is not None)
        if not losses:
            raise InputError(f"--baseline-logs {logs}: no run with a final val_loss in its logs")
        return Baseline(f"the {len(losses)} run(s) in {path.name}", losses)
    if bpb is not None:
        return Baseline(f"--baseline-bpb {bpb}", bpb=bpb)
    return None


def _prep_scripts(folder: Path, files: tuple[str, ...], script: str) -> dict[str, str]:
    out = {}
    for name in files:
        if name.endswith(".py") and name != script and "prep" in name.lower():
            try:
                with (folder / name).open("rb") as handle:
                    out[name] = handle.read(_PREP_CAP).decode("utf-8", "replace")
            except OSError:
                continue
    return out
