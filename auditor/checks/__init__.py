"""The checker registry: one module per rule id, each exposing `RULE` and `check(facts) -> CheckResult`."""

from __future__ import annotations

from types import ModuleType

from auditor.checks import (
    causality,
    hashed_ngram_cache,
    ngram_tilt,
    oracle_select,
    prequant_ttt,
    rescore,
    scored_region_slot,
    target_in_hash,
    train_data_at_eval,
    unanalyzable,
    val_calibration,
    val_in_artifact,
)

_MODULES: tuple[ModuleType, ...] = (
    target_in_hash,
    hashed_ngram_cache,
    ngram_tilt,
    prequant_ttt,
    rescore,
    oracle_select,
    scored_region_slot,
    val_calibration,
    val_in_artifact,
    train_data_at_eval,
    causality,
    unanalyzable,
)
CHECKERS = {module.RULE: module.check for module in _MODULES}
