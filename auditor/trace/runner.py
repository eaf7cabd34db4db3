"""Parent side of a traced run: toy data, environment, a copy of the submission in a temp folder, a subprocess
with a timeout, and the ledger it leaves. Nothing here imports torch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from auditor.trace.knobs import toy_env
from auditor.trace.ledger import Ledger

TAIL_LINES = 30
COPY_LIMIT = 50_000_000  # bytes; larger files of a records folder (checkpoints, logs) stay behind
DATA_VERSION = 1
TRAIN_TOKENS, VAL_TOKENS, VOCAB = 65_536, 16_384, 1024
# Launch-command variables that describe the original machine, not the submission's configuration.
_MACHINE_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NNODES",
                "NODE_RANK", "CUDA_VISIBLE_DEVICES", "PATH", "PYTHONPATH", "HOME", "OMP_NUM_THREADS")
_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "OMP_NUM_THREADS")


@dataclass(frozen=True)
class RunConfig:
    device: str = "cpu"  # "cpu" | "cuda"
    timeout: float = 300.0
    traced: bool = True
    perturb: dict[int, int] = field(default_factory=dict)  # val position -> replacement token
    watch: tuple[int, ...] = ()  # val positions whose full distribution is recorded
    env: dict[str, str] = field(default_factory=dict)  # extra knobs, override the toy values
    launch_env: dict[str, str] = field(default_factory=dict)  # the record's launch command; toy values win


@dataclass(frozen=True)
class RunResult:
    ledger: Ledger | None
    returncode: int | None
    timed_out: bool
    wall: float
    tail: str  # last lines of the script's combined output
    reason: str = ""  # why the run does not count, empty when it ran to the end

    @property
    def ok(self) -> bool:
        return not self.reason


def dataset(vocab_size: int = VOCAB, root: Path | None = None):
    """The toy data set, built once per machine (cached under the temp folder) and reused."""
    from auditor.data.synth import SynthDataset, synth_dataset

    base = root or Path(tempfile.gettempdir()) / f"pgolf-audit-trace-data-v{DATA_VERSION}-{vocab_size}"
    marker = base / "READY"
    if not marker.exists():
        staging = Path(tempfile.mkdtemp(prefix="pgolf-synth-", dir=base.parent))
        synth_dataset(staging, vocab_size=vocab_size, train_tokens=TRAIN_TOKENS, val_tokens=VAL_TOKENS)
        (staging / "READY").write_text("ok")
        try:
            staging.rename(base)
        except OSError:  # another process got there first
            shutil.rmtree(staging, ignore_errors=True)
    data_path = base / "datasets" / f"fineweb10B_sp{vocab_size}"
    return SynthDataset(
        base,
        data_path,
        base / "tokenizers" / f"fineweb_{vocab_size}_bpe.model",
        vocab_size,
        tuple(sorted(data_path.glob("fineweb_train_*.bin"))),
        tuple(sorted(data_path.glob("fineweb_val_*.bin"))),
    )


def child_env(code: str, data, config: RunConfig, cuda_to_cpu: bool) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    launch = {k: v for k, v in config.launch_env.items() if k not in _MACHINE_ENV and not k.startswith("NCCL_")}
    env.update(launch)  # feature switches as the record ran them (TTT_ENABLED=1, ...)
    env.update(toy_env(code))
    env.update(data.env())
    env.update(config.env)
    env.setdefault("OMP_NUM_THREADS", "1")  # toy tensors: threads only contend
    env.update(PYTHONHASHSEED="0", PYTHONUNBUFFERED="1", PGOLF_TRACE_WATCH=",".join(map(str, config.watch)))
    env["PGOLF_TRACE_PERTURB"] = ",".join(f"{k}:{v}" for k, v in config.perturb.items())
    if not config.traced:
        env["PGOLF_TRACE_OFF"] = "1"
    if config.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
        if cuda_to_cpu:
            env["PGOLF_TRACE_CUDA_TO_CPU"] = "1"
    return env


def needs_cuda_shim(code: str) -> bool:
    """Scripts written for CUDA only (no CPU fallback of their own) get the CUDA -> CPU shim on CPU."""
    return "cuda" in code and "is_available() else" not in code


def _copy_submission(script: Path, into: Path) -> Path:
    """Copy the script's folder (small files only) so the run can never modify the submission."""
    for item in script.parent.iterdir():
        if item.is_file() and item.stat().st_size <= COPY_LIMIT:
            shutil.copy2(item, into / item.name)
    return into / script.name


def run(script: Path, data, config: RunConfig = RunConfig()) -> RunResult:
    script = Path(script).resolve()
    code = script.read_text(encoding="utf-8", errors="replace")
    with tempfile.TemporaryDirectory(prefix="pgolf-trace-") as tmp:
        work = Path(tmp) / "run"
        work.mkdir()
        copy = _copy_submission(script, work)
        ledger_path = Path(tmp) / "ledger.json"
        log_path = Path(tmp) / "output.log"
        env = child_env(code, data, config, needs_cuda_shim(code) and config.device == "cpu")
        cmd = [sys.executable, "-m", "auditor.trace.bootstrap", str(copy), str(ledger_path)]
        start = time.perf_counter()
        timed_out = False
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=config.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall = time.perf_counter() - start
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES:])
        ledger = Ledger.load(ledger_path) if ledger_path.exists() else None
        return RunResult(ledger, proc.returncode, timed_out, wall, tail, _reason(ledger, timed_out, config))


def _reason(ledger: Ledger | None, timed_out: bool, config: RunConfig) -> str:
    if timed_out:
        return f"the toy-scale run did not finish within {config.timeout:g} s"
    if ledger is None:
        return "the script's process ended without writing the trace ledger"
    if ledger.exit_status == "exception":
        return f"the script raised {ledger.error}"
    if ledger.exit_status != "ok":
        return f"the script exited with status {ledger.exit_status.split(':')[-1]}"
    return ""
