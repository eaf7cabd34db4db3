"""RecordFacts: everything the record checks read, built once per folder (no check reads files itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from auditor.load.logs import LogRun, Score
from auditor.model import RunSummary
from auditor.record.folder import RecordFolder
from auditor.record.submission import SubmissionClaims

# score stages that are not the reported result: periodic evals during training and diagnostics
_NOT_REPORTED = ("periodic",)


@dataclass(frozen=True)
class Baseline:
    """What a record is compared with: a folder's runs (losses) or one bpb value from the command line."""

    label: str
    losses: tuple[float, ...] = ()
    bpb: float | None = None


@dataclass(frozen=True)
class RecordFacts:
    folder: RecordFolder
    submission: object  # the parsed submission.json (None when the folder has none)
    claims: SubmissionClaims
    script: str  # the training script, relative to the folder
    shipped_code_bytes: int  # the script as shipped + the code files it imports from the folder
    wrapped: bool = False  # the script is a self-extracting exec shim: it counts at its wrapped size
    code_rules: frozenset[str] = frozenset()  # rules the code checks reported at illegal / needs-review
    baseline: Baseline | None = None
    options: dict[str, dict] = field(default_factory=dict)  # rule id -> its [options] table
    prep_scripts: dict[str, str] = field(default_factory=dict)  # data-preparation scripts beside the script

    @property
    def runs(self) -> tuple[LogRun, ...]:
        return self.folder.runs

    @property
    def scored_runs(self) -> tuple[LogRun, ...]:
        """Runs that reached a final score (a crashed or cut-off run has none)."""
        return tuple(run for run in self.runs if run.final is not None)

    @property
    def track(self) -> str | None:
        """records/<track>/ of the folder, else submission.json's `track`."""
        if self.folder.location is not None:
            return self.folder.location[0]
        track = self.submission.get("track") if isinstance(self.submission, dict) else None
        return track if isinstance(track, str) else None

    @property
    def non_record(self) -> bool:
        """The non-record track has no time limits (only the 16,000,000-byte cap)."""
        words = (self.track or "").lower().replace("-", "_")
        return "non_record" in words or "unlimited" in words

    @property
    def seeds(self) -> tuple[str, ...]:
        """Distinct seeds of the scored runs (a run without a seed counts as its own)."""
        return tuple(dict.fromkeys(str(r.seed) if r.seed is not None else f"{r.file}#{r.index}"
                                   for r in self.scored_runs))

    def option(self, rule: str, key: str, default=None):
        return self.options.get(rule, {}).get(key, default)


def end_to_end_eval_s(run: LogRun) -> float | None:
    """Every timed evaluation segment after training: score stages with a time, then timed non-score segments."""
    stage_ms: dict[str, float] = {}
    for score in run.scores:
        if score.stage not in _NOT_REPORTED and score.eval_time_ms is not None:
            stage_ms[score.stage] = max(stage_ms.get(score.stage, 0.0), score.eval_time_ms)
    total_ms = sum(stage_ms.values())
    total_s = total_ms / 1000 + sum(t.seconds for t in run.eval_times)
    if run.total_eval_time_s is not None:
        total_s = max(total_s, run.total_eval_time_s)
    return total_s if (stage_ms or run.eval_times or run.total_eval_time_s is not None) else None


def timed_eval_s(run: LogRun) -> float | None:
    """The eval time of the reported stage (`total_eval_time` when the script prints one)."""
    if run.total_eval_time_s is not None:
        return run.total_eval_time_s
    final = run.final
    if final is None:
        return None
    times = [s.eval_time_ms for s in run.scores if s.stage == final.stage and s.eval_time_ms is not None]
    return max(times) / 1000 if times else None


def summarise(run: LogRun) -> RunSummary:
    final: Score | None = run.final
    return RunSummary(
        log=run.file if not run.index else f"{run.file}#{run.index + 1}",
        seed=str(run.seed) if run.seed is not None else None,
        stage=final.stage if final else None,
        val_bpb=final.val_bpb if final else None,
        val_loss=final.val_loss if final else None,
        steps=run.steps_done,
        step_avg_ms=run.step_avg_ms,
        train_s=run.train_time_ms / 1000 if run.train_time_ms is not None else None,
        eval_s=timed_eval_s(run),
        eval_end_to_end_s=end_to_end_eval_s(run),
        calibration_s=run.calibration_s,
        bytes_total=run.total_bytes,
        bytes_code=run.code_bytes,
        val_tokens=run.val_tokens,
        train_shards=run.train_shards,
    )


def shipped_bytes(root: Path, names: tuple[str, ...]) -> int:
    """Sizes of files as shipped (missing ones count 0: the loader already reported them)."""
    total = 0
    for name in names:
        try:
            total += (root / name).stat().st_size
        except OSError:
            continue
    return total
