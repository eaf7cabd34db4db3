"""Toy-scale values for the env knobs real submissions read, set only for the names a script actually reads.

Layer counts and layer-index knobs (XSA_LAST_N, VE_LAYERS, ...) keep the script's defaults so index-based options
stay valid; width, sequence lengths, batch sizes, iteration counts and chunk sizes shrink.
"""

from __future__ import annotations

import re

TOY = {
    "ITERATIONS": "4",
    "WARMUP_STEPS": "1",
    "WARMDOWN_ITERS": "2",
    "MUON_MOMENTUM_WARMUP_STEPS": "2",
    "VAL_LOSS_EVERY": "0",
    "TRAIN_LOG_EVERY": "1",
    "TRAIN_BATCH_TOKENS": "2048",
    "TRAIN_SEQ_LEN": "128",
    "EVAL_SEQ_LEN": "128",
    "TTT_EVAL_SEQ_LEN": "128",
    "ROPE_TRAIN_SEQ_LEN": "128",
    "VAL_BATCH_SIZE": "2048",
    "VAL_BATCH_TOKENS": "2048",
    "EVAL_STRIDE": "64",
    "MODEL_DIM": "128",
    "NUM_HEADS": "4",
    "NUM_KV_HEADS": "2",
    "TTT_CHUNK_TOKENS": "2048",
    "TTT_CHUNK_SIZE": "64",  # tokens per TTT chunk where the name means that (kept <= EVAL_SEQ_LEN)
    "TTT_EPOCHS": "2",  # >= 2: multi-epoch adaptation (train, then score again) must stay visible
    "TTT_BATCH_SEQS": "4",
    "SEED": "1337",
}

_READ = re.compile(r"""(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]*)["']""")


def env_names(code: str) -> set[str]:
    """Names the script reads from the environment (os.environ.get / os.environ[...] / os.getenv)."""
    return set(_READ.findall(code))


def toy_env(code: str) -> dict[str, str]:
    names = env_names(code)
    return {name: value for name, value in TOY.items() if name in names}
