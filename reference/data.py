"""Token shards (the challenge's 20240520 header, uint16 tokens) and the distributed training stream."""

import glob
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_INTS = 20240520, 1, 256


def load_data_shard(file: Path) -> Tensor:
    header = np.fromfile(file, dtype="<i4", count=SHARD_HEADER_INTS)
    if header.size != SHARD_HEADER_INTS or int(header[0]) != SHARD_MAGIC or int(header[1]) != SHARD_VERSION:
        raise ValueError(f"unexpected shard header in {file}")
    num_tokens = int(header[2])
    offset = SHARD_HEADER_INTS * 4
    if file.stat().st_size != offset + 2 * num_tokens:
        raise ValueError(f"shard size mismatch for {file}: header says {num_tokens} tokens")
    tokens = np.fromfile(file, dtype="<u2", count=num_tokens, offset=offset)
    return torch.from_numpy(tokens).to(torch.int32)  # widened by torch: no numpy copy of the file's array


def shard_files(pattern: str) -> list[Path]:
    files = [Path(p) for p in sorted(glob.glob(pattern))]
    if not files:
        raise FileNotFoundError(f"no shards match {pattern}")
    return files


def load_validation_tokens(pattern: str, seq_len: int) -> Tensor:
    """The whole val split, cut to a multiple of `seq_len` plus the one token the last target needs."""
    tokens = torch.cat([load_data_shard(f) for f in shard_files(pattern)])
    usable = (tokens.numel() - 1) // seq_len * seq_len
    if usable <= 0:
        raise ValueError(f"validation split is shorter than one sequence of {seq_len} tokens")
    return tokens[: usable + 1].contiguous()


class TokenStream:
    """Train shards read in order, wrapping around; no sampling, so every rank sees the same stream."""

    def __init__(self, pattern: str):
        self.files = shard_files(pattern)
        self.file_idx = 0
        self.tokens = load_data_shard(self.files[0])
        self.pos = 0

    def take(self, n: int) -> Tensor:
        chunks = []
        while n > 0:
            if self.pos >= self.tokens.numel():
                self.file_idx = (self.file_idx + 1) % len(self.files)
                self.tokens, self.pos = load_data_shard(self.files[self.file_idx]), 0
                continue
            k = min(n, self.tokens.numel() - self.pos)
            chunks.append(self.tokens[self.pos : self.pos + k])
            self.pos, n = self.pos + k, n - k
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


class DistributedTokenLoader:
    """Each call takes one micro-batch for every rank from the shared stream and keeps this rank's span.

    The global batch is `world_size * accum_steps * micro_tokens` tokens whatever the world size, so 1, 2 and 8 GPUs
    consume the same tokens per optimizer step (in a different order across micro-steps).
    """

    def __init__(self, pattern: str, rank: int, world_size: int, device: torch.device):
        self.rank, self.world_size, self.device = rank, world_size, device
        self.stream = TokenStream(pattern)

    def next_batch(self, micro_tokens: int, seq_len: int) -> tuple[Tensor, Tensor]:
        span = micro_tokens + 1
        chunk = self.stream.take(span * self.world_size)
        local = chunk[self.rank * span : (self.rank + 1) * span].to(torch.int64)
        if self.device.type == "cuda":  # pinned: the copies below do not wait for the GPU's queue to drain
            local = local.pin_memory()
        x = local[:-1].reshape(-1, seq_len)  # (B, T)
        y = local[1:].reshape(-1, seq_len)  # (B, T)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
