"""Shared setup for the reference-trainer tests.

- Triton's interpreter on CPU-only machines, and one intra-op thread (tiny tensors on a shared 2-core CI box:
  threads only contend, measured 25x slower steps with 2). TRITON_INTERPRET must be set before any module defining
  a @triton.jit kernel is imported (the interpreter is chosen at decoration time), hence here.
- A trained toy LM for the kernel tests; a synthetic data set, a tiny trainer config and a subprocess runner for the
  end-to-end tests of the generated train_gpt.py.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import torch
except ImportError:  # the core test suite runs without torch; every test here skips then
    torch = None

if torch is not None:
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_toy_lm():
    """(model, train tokens, held-out tokens), trained once per session (a few seconds on one CPU thread)."""
    pytest.importorskip("torch")
    from toy_lm import train_toy_lm

    return train_toy_lm()


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
    scrubbed = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "PYTHONPATH", "TRITON_INTERPRET")  # a real run's environment
    env = {k: v for k, v in os.environ.items() if k not in scrubbed}
    env.update(TOY_ENV, **data.env(), **overrides)
    cmd = [sys.executable, "train_gpt.py"]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "train_gpt.py"]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-1500:] + "\n--- stderr ---\n" + done.stderr[-3000:]
    return done.stdout
