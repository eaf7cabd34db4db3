"""What `pgolf-audit reproduce` runs: a records folder's own script with its claims, or a reference preset."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from auditor.load.errors import InputError
from auditor.load.logs import LogRun
from auditor.load.source import find_script, read_submission
from auditor.record.folder import read_folder
from auditor.record.submission import SubmissionClaims, read_claims

PRESETS = ("baseline", "pr1250")  # the PRESET values of reference/config.py
DEFAULT_SEEDS = ("1337", "42", "2025")


@dataclass(frozen=True)
class Target:
    name: str  # as shown in the report: the folder, or "preset pr1250"
    script: Path
    folder: Path | None  # the records folder holding the claims; None for a preset
    env: dict[str, str] = field(default_factory=dict)  # set for every seed (PRESET=... for a preset)
    claims: SubmissionClaims = SubmissionClaims()
    claimed_runs: tuple[LogRun, ...] = ()  # the runs the folder's own logs show

    @property
    def default_seeds(self) -> tuple[str, ...]:
        seeds = tuple(c.seed for c in self.claims.seeds) or tuple(str(r.seed) for r in self.claimed_runs
                                                                   if r.seed is not None)
        return tuple(dict.fromkeys(seeds)) or DEFAULT_SEEDS


def reference_script() -> Path:
    """The generated single-file reference trainer (reference/records/reference_trainer/train_gpt.py)."""
    spec = importlib.util.find_spec("reference")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        script = Path(location) / "records" / "reference_trainer" / "train_gpt.py"
        if script.is_file():
            return script
    raise InputError("the reference trainer is not installed (reference/records/reference_trainer/train_gpt.py)")


def resolve(spec: str) -> Target:
    """A path (records folder or script) wins over a preset name; `preset:NAME` always means the preset."""
    path = Path(spec)
    if not spec.startswith("preset:") and path.exists():
        if path.is_dir():
            folder = path
            script, _ = find_script(folder)
        else:
            script, folder = path, path.parent
        has_record = (folder / "submission.json").is_file()
        submission = read_submission(folder) if has_record else None
        runs = read_folder(folder).runs if has_record else ()
        return Target(str(path), script.resolve(), folder.resolve() if has_record else None,
                      claims=read_claims(submission), claimed_runs=runs)
    name = spec.removeprefix("preset:")
    if name not in PRESETS:
        raise InputError(f"{spec!r} is neither a path nor a reference preset ({', '.join(PRESETS)})")
    return Target(f"preset {name}", reference_script(), None, env={"PRESET": name})
