"""submission.json: its schema (the fields the challenge uses, with their types) and the claims it makes.

The schema is written from the 55 records at the challenge's HEAD (rules.md §22): the minimal baseline form is
author, github_id, name, blurb, date, val_loss, val_bpb, bytes_total, bytes_code; later records add seeds or
seed_results, hardware, compliance flags and statistics. Malformed JSON is the loader's input error (exit 2); here
the document is already a parsed object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auditor.load.source import as_float, as_int

_NUMBER = (int, float)
REQUIRED: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "author": (str,),
    "github_id": (str,),
    "val_bpb": _NUMBER,
}
RECOMMENDED: dict[str, tuple[type, ...]] = {
    "val_loss": _NUMBER,
    "bytes_total": (int,),
    "bytes_code": (int,),
    "date": (str,),
    "blurb": (str,),
}
OPTIONAL: dict[str, tuple[type, ...]] = {
    "track": (str,),
    "seeds": (list, dict),
    "seed_results": (dict, list),
    "hardware": (str, dict),
    "val_bpb_std": _NUMBER,
    "val_loss_std": _NUMBER,
    "pytorch_version": (str,),
    "compliance": (dict,),
    "artifact_bytes_max": (int,),
    "p_value": _NUMBER,
    "t_statistic": _NUMBER,
    "base_pr": (int, str),
}
SEED_FIELDS: dict[str, tuple[type, ...]] = {
    "val_loss": _NUMBER,
    "val_bpb": _NUMBER,
    "artifact_bytes": (int,),
    "bytes_total": (int,),
    "steps": (int,),
    "step_avg_ms": _NUMBER,
    "eval_time_s": _NUMBER,
    "train_time_s": _NUMBER,
}


@dataclass(frozen=True)
class SeedClaim:
    seed: str
    val_bpb: float | None = None
    val_loss: float | None = None
    bytes_total: int | None = None


@dataclass(frozen=True)
class SubmissionClaims:
    val_bpb: float | None = None
    val_loss: float | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    seeds: tuple[SeedClaim, ...] = ()
    compliance: dict[str, bool] = field(default_factory=dict)


def schema_problems(data: object) -> list[str]:
    """Missing required or recommended fields and fields of the wrong type, one sentence each."""
    if not isinstance(data, dict):
        return [f"submission.json holds a {type(data).__name__}, not an object"]
    problems = [f"`{key}` is missing" for key in REQUIRED if key not in data]
    problems += [f"`{key}` is missing (recommended)" for key in RECOMMENDED if key not in data]
    for table in (REQUIRED, RECOMMENDED, OPTIONAL):
        problems += [_type_problem(key, data[key], types) for key, types in table.items() if key in data]
    for seed, entry in _seed_entries(data):
        if not isinstance(entry, dict):
            continue
        problems += [_type_problem(f"seed_results.{seed}.{key}", entry[key], types)
                     for key, types in SEED_FIELDS.items() if key in entry]
    compliance = data.get("compliance")
    if isinstance(compliance, dict):
        problems += [f"`compliance.{key}` is {type(value).__name__}, expected bool"
                     for key, value in compliance.items() if not isinstance(value, bool)]
    return [p for p in problems if p]


def _type_problem(key: str, value: object, types: tuple[type, ...]) -> str:
    if value is None:
        return f"`{key}` is null"
    ok = isinstance(value, types) and not isinstance(value, bool)
    if ok and isinstance(value, float) and not math.isfinite(value):
        return f"`{key}` is not a finite number"
    if ok:
        return ""
    wanted = "number" if types == _NUMBER else " or ".join(_JSON_NAME[t] for t in types)
    return f"`{key}` is {_JSON_NAME.get(type(value), type(value).__name__)}, expected {wanted}"


_JSON_NAME = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object",
              type(None): "null"}


def read_claims(data: object) -> SubmissionClaims:
    """The numbers submission.json claims; fields of the wrong type count as not claimed."""
    if not isinstance(data, dict):
        return SubmissionClaims()
    bytes_total = as_int(data.get("bytes_total"))
    seeds = tuple(_seed_claim(seed, entry) for seed, entry in _seed_entries(data))
    compliance = data.get("compliance")
    return SubmissionClaims(
        val_bpb=as_float(data.get("val_bpb")),
        val_loss=as_float(data.get("val_loss")),
        bytes_total=bytes_total if bytes_total is not None else as_int(data.get("artifact_bytes_max")),
        bytes_code=as_int(data.get("bytes_code")),
        seeds=seeds,
        compliance={k: v for k, v in compliance.items() if isinstance(v, bool)} if isinstance(compliance, dict)
        else {},
    )


def _seed_entries(data: dict) -> list[tuple[str, object]]:
    """(seed, entry) from `seed_results` ({seed: {...}} or [{seed: ..}]) and `seeds` ([1337, ...] or {seed: ...})."""
    out: dict[str, object] = {}
    for key in ("seed_results", "seeds"):
        value = data.get(key)
        if isinstance(value, dict):
            for seed, entry in value.items():
                out.setdefault(str(seed), entry)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "seed" in item:
                    out.setdefault(str(item["seed"]), item)
                elif isinstance(item, (int, str)) and not isinstance(item, bool):
                    out.setdefault(str(item), None)
    return list(out.items())


def _seed_claim(seed: str, entry: object) -> SeedClaim:
    if isinstance(entry, dict):
        total = as_int(entry.get("artifact_bytes"))
        return SeedClaim(seed, as_float(entry.get("val_bpb")), as_float(entry.get("val_loss")),
                         total if total is not None else as_int(entry.get("bytes_total")))
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):  # {"1337": 1.1192}
        return SeedClaim(seed, as_float(entry))
    return SeedClaim(seed)
