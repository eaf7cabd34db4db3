"""Run a training script once per seed under torchrun, each in its own work directory, and parse what it printed.

The script runs from its own folder's path (sibling modules import as they would in the record) with the work
directory as cwd (its `logs/`, artifacts and checkpoints land there). stdout and stderr go to
`<out>/train_seed<seed>.log`, named like a record's logs so `pgolf-audit <out>` reviews them too.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from auditor.load.logs import LogRun, parse_log_file
from auditor.reproduce.target import Target

# variables of an enclosing torchrun / SLURM job would make every seed join it
_SCRUBBED = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK")


@dataclass(frozen=True)
class SeedRun:
    seed: str
    log: Path
    wall_s: float
    returncode: int | None  # None when it did not finish (timeout) or could not start
    run: LogRun | None  # the parsed log (the last run in it)
    error: str | None = None  # why it could not run, with the tail of its output

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.run is not None and self.run.final is not None


def launch_command(python: str, script: Path, nproc: int, launcher: str) -> list[str]:
    if launcher == "python":
        return [python, str(script)]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script)]


def run_seed(target: Target, seed: str, *, out: Path, nproc: int, env: dict[str, str], timeout: float,
             python: str, launcher: str) -> SeedRun:
    workdir = out / f"seed{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = out / f"train_seed{seed}.log"
    full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    full_env.update(target.env, **env, SEED=seed, RUN_ID=f"seed{seed}")
    command = launch_command(python, target.script, nproc, launcher)
    start = time.monotonic()
    returncode: int | None
    error = None
    try:
        with log.open("wb") as handle:
            done = subprocess.run(command, cwd=workdir, env=full_env, stdout=handle, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        returncode = done.returncode
    except subprocess.TimeoutExpired:
        returncode, error = None, f"timed out after {timeout:.0f} s"
    except OSError as exc:
        returncode, error = None, f"could not start {command[0]}: {exc.strerror or exc}"
    wall = time.monotonic() - start
    runs = parse_log_file(log, log.name) if log.is_file() else ()
    run = runs[-1] if runs else None
    if error is None and returncode != 0:
        error = f"exit code {returncode}: {_tail(log)}"
    elif error is None and (run is None or run.final is None):
        error = f"finished without a final score line: {_tail(log)}"
    return SeedRun(seed, log, wall, returncode, run, error)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-600:] or "(no output)"
