"""Shared setup for the reference-trainer tests: Triton's interpreter on CPU-only machines, a trained toy LM.

TRITON_INTERPRET must be set before any module defining a @triton.jit kernel is imported (the interpreter is
chosen at decoration time), hence here and not in a test module.
"""

import os

try:
    import torch
except ImportError:  # the core test suite runs without torch; every test here skips then
    torch = None

if torch is not None:
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    # Tiny tensors on a shared 2-core CI box: intra-op threads only contend (measured 25x slower steps with 2).
    torch.set_num_threads(1)


if torch is not None:
    import pytest

    @pytest.fixture(scope="session")
    def trained_toy_lm():
        """(model, train tokens, held-out tokens), trained once per session (a few seconds on one CPU thread)."""
        from toy_lm import train_toy_lm

        return train_toy_lm()
