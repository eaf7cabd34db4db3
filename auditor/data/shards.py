"""Token shards in the challenge's format: a 256 x int32 header (magic, version, token count), then uint16 tokens.

The same layout the challenge's `fineweb_{train,val}_*.bin` files use, so toy data sets written here are read by
real submissions unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from auditor.load.errors import InputError

MAGIC, VERSION, HEADER_INTS = 20240520, 1, 256


def write_shard(path: Path, tokens: np.ndarray) -> Path:
    """Write `tokens` (any integer array with values < 65536) as one shard; returns the path."""
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() >= 1 << 16):
        raise ValueError("shard tokens must fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (MAGIC, VERSION, tokens.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(header.tobytes())
        handle.write(tokens.astype("<u2", copy=False).tobytes())
    return path


def read_shard(path: Path) -> np.ndarray:
    """The tokens of one shard as uint16; a file that is not a shard is an InputError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read shard: {exc.strerror or exc}") from exc
    if len(raw) < HEADER_INTS * 4:
        raise InputError(f"{path}: not a token shard (shorter than its 1024-byte header)")
    header = np.frombuffer(raw, dtype="<i4", count=HEADER_INTS)
    magic, version, count = (int(v) for v in header[:3])
    if magic != MAGIC or version != VERSION:
        raise InputError(f"{path}: not a token shard (magic {magic}, version {version})")
    if len(raw) != HEADER_INTS * 4 + 2 * count:
        raise InputError(f"{path}: header says {count} tokens, file holds {(len(raw) - HEADER_INTS * 4) // 2}")
    return np.frombuffer(raw, dtype="<u2", offset=HEADER_INTS * 4).copy()
