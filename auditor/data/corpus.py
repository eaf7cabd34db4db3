"""A data set in the challenge's layout from text files already on a machine (e.g. the .py files of site-packages).

The toy set (`synth`) is 4M tokens, which a baseline-sized model memorises within ~60 steps; this one is as large
as the files given, so training runs of 100+ steps of 524,288 tokens can see each token about once. Deterministic
for the same files: sorted by path, duplicates (same bytes) dropped, then shuffled with a fixed seed; the first
files of that order are the val split (whole files, none of them in train), the next ones the tokenizer's sample,
and all but the val files the train stream. Encoding runs in worker processes; `digest` hashes what a trainer reads
(shards and tokenizer), so runs on different machines can show they used the same data.
"""

from __future__ import annotations

import glob
import hashlib
import multiprocessing
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from auditor.data.synth import MIN_VOCAB, SynthDataset, encode_documents, train_tokenizer, write_split

CHARS_PER_TOKEN_MAX = 4  # val files are picked by size before encoding: 4 chars per token or fewer at vocab >= 384
MAX_FILE_BYTES = 1 << 20  # larger files are mostly generated tables
SHARD_TOKENS = 100_000_000  # the challenge's shard size


def expand(patterns: Sequence[str]) -> list[Path]:
    """The files that the glob patterns match (`**` recursive), sorted; a pattern that matches none is a ValueError."""
    found = set()
    for pattern in patterns:
        matches = [m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m)]
        if not matches:
            raise ValueError(f"{pattern}: matches no file")
        found.update(matches)
    return [Path(m) for m in sorted(found)]


def read_documents(files: Sequence[Path], max_file_bytes: int = MAX_FILE_BYTES) -> list[tuple[str, str]]:
    """(path, text) of each non-empty UTF-8 file up to `max_file_bytes`, sorted by path, first copy of equal bytes."""
    seen, docs = set(), []
    for path in sorted({str(f) for f in files}):
        try:
            if os.path.getsize(path) > max_file_bytes:
                continue
            raw = Path(path).read_bytes()
            text = raw.decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue  # unreadable or not text: not part of the corpus
        key = hashlib.sha1(raw).digest()
        if text and key not in seen:
            seen.add(key)
            docs.append((path, text))
    return docs


def _encode_chunk(job: tuple[str, list[str]]) -> np.ndarray:
    """BOS + tokens of each text, concatenated, as uint16 (one worker's share)."""
    tokenizer, texts = job
    return np.concatenate([*encode_documents(texts, Path(tokenizer)), np.zeros(0, dtype=np.int64)]).astype(np.uint16)


def _chunks(texts: Sequence[str], chars: int) -> Iterator[list[str]]:
    chunk, size = [], 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        if size >= chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def encode_parallel(texts: Sequence[str], tokenizer: Path, *, max_tokens: int | None = None,
                    workers: int | None = None, chunk_chars: int = 4_000_000) -> np.ndarray:
    """BOS + tokens of each text in order, in `workers` processes (default: all cores), cut at `max_tokens`.

    Chunks are encoded in order and the pool stops once `max_tokens` are in: only what is kept is encoded (plus
    the chunks already under way).
    """
    workers = workers or os.cpu_count() or 1
    parts, have = [], 0
    jobs = ((str(tokenizer), chunk) for chunk in _chunks(texts, chunk_chars))
    # spawn, not fork: the parent may hold threads (sentencepiece's trainer, torch)
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    results = pool.imap(_encode_chunk, jobs) if pool else map(_encode_chunk, jobs)
    try:
        for part in results:
            parts.append(part)
            have += part.size
            if max_tokens is not None and have >= max_tokens:
                break
    finally:
        if pool is not None:
            pool.terminate()
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)
    return tokens[:max_tokens] if max_tokens is not None else tokens


def tokenize_texts(texts: Sequence[str], tokenizer: Path, out_dir: Path, *, split: str, shard_tokens: int,
                   workers: int | None = 1) -> tuple[Path, ...]:
    """Encode documents with an existing tokenizer into shards of at most `shard_tokens` tokens."""
    tokens = encode_parallel(texts, tokenizer, workers=workers)
    return write_split(tokens, Path(out_dir), split, max(1, -(-tokens.size // shard_tokens)))


def corpus_dataset(files: Sequence[Path], out_dir: Path, *, vocab_size: int = 1024, val_tokens: int = 2_097_152,
                   max_train_tokens: int | None = None, tokenizer_chars: int = 8_000_000, seed: int = 0,
                   workers: int | None = None) -> SynthDataset:
    """Build the data set under `out_dir` (layout as `synth_dataset`'s) from `files`; see the module docstring."""
    if not MIN_VOCAB <= vocab_size <= 1 << 16:
        raise ValueError(f"vocab_size must be in [{MIN_VOCAB}, 65536], got {vocab_size}")
    docs = [text for _, text in read_documents(files)]
    if len(docs) < 2:
        raise ValueError(f"need at least 2 distinct UTF-8 text files, got {len(docs)} of {len(files)} given")
    random.Random(seed).shuffle(docs)
    n_val, chars = 0, 0
    while n_val < len(docs) - 1 and chars < val_tokens * CHARS_PER_TOKEN_MAX:
        chars += len(docs[n_val])
        n_val += 1
    val_docs, train_docs = docs[:n_val], docs[n_val:]
    sample, chars = [], 0
    for text in train_docs:
        if chars >= tokenizer_chars:
            break
        sample.append(text)
        chars += len(text)
    out_dir = Path(out_dir)
    # one trainer thread: sentencepiece's result depends on the thread count (and 8M chars take seconds)
    tokenizer = train_tokenizer(sample, out_dir / "tokenizers" / f"fineweb_{vocab_size}_bpe.model", vocab_size)
    data_path = out_dir / "datasets" / f"fineweb10B_sp{vocab_size}"
    val = encode_parallel(val_docs, tokenizer, max_tokens=val_tokens, workers=workers)
    train = encode_parallel(train_docs, tokenizer, max_tokens=max_train_tokens, workers=workers)
    return SynthDataset(out_dir, data_path, tokenizer, vocab_size,
                        write_split(train, data_path, "train", max(1, -(-train.size // SHARD_TOKENS))),
                        write_split(val, data_path, "val", 1))


def digest(dataset: SynthDataset) -> str:
    """sha256 over the tokenizer model and every shard (names and bytes, in order): equal digests, equal data."""
    h = hashlib.sha256()
    for path in (dataset.tokenizer_path, *dataset.train_files, *dataset.val_files):
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while block := handle.read(1 << 24):
                h.update(block)
    return h.hexdigest()
