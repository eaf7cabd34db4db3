"""Record checkers, one module per record rule id; claims-match runs last (it reads the others' results)."""

from __future__ import annotations

from auditor.record.checks import (
    artifact_size,
    calibration_within_budget,
    eval_time,
    seeds_significance,
    submission_format,
    train_time,
    train_val_overlap,
)

RECORD_CHECKERS = {
    module.RULE: module.check
    for module in (
        artifact_size,
        train_time,
        eval_time,
        calibration_within_budget,
        seeds_significance,
        train_val_overlap,
        submission_format,
    )
}
