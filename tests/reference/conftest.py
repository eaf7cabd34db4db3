"""Shared toy setting for the reference trainer tests: one synthetic data set, a tiny config, a subprocess runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GENERATED = Path(__file__).resolve().parents[2] / "reference" / "records" / "reference_trainer" / "train_gpt.py"

# Small enough for ~10 s on one CPU thread; large enough that GPTQ, sliding windows and TTT chunks all happen.
TOY_ENV = {
    "PRESET": "pr1250",
    "NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2", "MLP_MULT": "2",
    "BIGRAM_VOCAB_SIZE": "64", "BIGRAM_DIM": "16", "TRAIN_SEQ_LEN": "128", "TRAIN_BATCH_TOKENS": "2048",
    "MICRO_BATCH_TOKENS": "1024", "ITERATIONS": "40", "WARMUP_STEPS": "1", "MAX_WALLCLOCK_SECONDS": "0",
    "TRAIN_LOG_EVERY": "1", "VAL_LOSS_EVERY": "20", "AVERAGING": "none", "GPTQ_CALIB_SEQS": "4",
    "EVAL_STRIDE": "64", "EVAL_BATCH_SEQS": "16", "TTT_CHUNK_TOKENS": "2048", "TTT_EPOCHS": "1",
    "TTT_LR": "0.001", "MATRIX_LR": "0.02", "SEED": "7", "OMP_NUM_THREADS": "1",
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: threads only contend (the CI box has 2 cores shared with other tests)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    from auditor.data.synth import synth_dataset

    return synth_dataset(tmp_path_factory.mktemp("toy"), vocab_size=512, train_tokens=60_000, val_tokens=8_320)


@pytest.fixture(scope="session")
def records_copy(tmp_path_factory) -> Path:
    """A records folder holding only the generated train_gpt.py, outside the repository."""
    folder = tmp_path_factory.mktemp("records") / "reference_trainer"
    folder.mkdir()
    shutil.copy(GENERATED, folder / "train_gpt.py")
    return folder


@pytest.fixture(scope="session")
def pipeline_run(records_copy, toy_data):
    """The toy run of the generated script from its records folder: (stdout, the folder)."""
    return run_trainer(records_copy, toy_data), records_copy


@pytest.fixture(scope="session")
def toy_env() -> dict[str, str]:
    return dict(TOY_ENV)


@pytest.fixture(scope="session")
def trainer():
    return run_trainer


def run_trainer(folder: Path, data, nproc: int = 1, timeout: float = 120, **overrides: str) -> str:
    """Run the folder's train_gpt.py (under torchrun when nproc > 1) with the toy env; its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "PYTHONPATH")}
    env.update(TOY_ENV, **data.env(), **overrides)
    cmd = [sys.executable, "train_gpt.py"]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "train_gpt.py"]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
