"""Toy data sets in the challenge's layout, built from text every CPython ships (`pydoc_data.topics`).

    <out>/datasets/fineweb10B_sp<V>/fineweb_train_000000.bin ... fineweb_val_000000.bin
    <out>/tokenizers/fineweb_<V>_bpe.model

Documents are pydoc topics; the validation documents are held out from the training ones (no overlap), each
document starts with the tokenizer's BOS id as in the challenge's shards, and the tokenizer is a sentencepiece BPE
model with byte fallback trained on the training documents. Real submissions run on it through the same env vars
they read for the real data (DATA_PATH, TOKENIZER_PATH, VOCAB_SIZE).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.data.shards import write_shard

VAL_FRACTION = 0.2
MIN_VOCAB = 384  # 256 byte pieces + 3 special ids + the characters the text needs


@dataclass(frozen=True)
class SynthDataset:
    root: Path
    data_path: Path
    tokenizer_path: Path
    vocab_size: int
    train_files: tuple[Path, ...]
    val_files: tuple[Path, ...]

    def env(self) -> dict[str, str]:
        return {
            "DATA_PATH": str(self.data_path),
            "TOKENIZER_PATH": str(self.tokenizer_path),
            "VOCAB_SIZE": str(self.vocab_size),
        }


def bundled_documents() -> list[str]:
    """The pydoc topics, in a fixed order: about 470 KB of English prose and code."""
    from pydoc_data.topics import topics

    return [topics[name].strip() for name in sorted(topics) if topics[name].strip()]


def split_documents(docs: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(train, val): a seeded, disjoint split by document."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(docs) * VAL_FRACTION))
    return [docs[i] for i in order[n_val:]], [docs[i] for i in order[:n_val]]


def train_tokenizer(texts: Iterable[str], path: Path, vocab_size: int) -> Path:
    """A sentencepiece BPE model with byte fallback (every text encodes) written to `path`."""
    import sentencepiece as spm

    model = io.BytesIO()
    lines = [line for text in texts for line in text.splitlines() if line.strip()]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.99,  # rare characters fall back to bytes, so small vocabularies train
        split_digits=True,
        num_threads=1,
        minloglevel=2,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return path


def encode_documents(docs: Iterable[str], tokenizer: Path) -> Iterator[np.ndarray]:
    """Each document as BOS + its tokens."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    for doc in docs:
        yield np.asarray([sp.bos_id(), *sp.encode(doc)], dtype=np.int64)


def _stream(encoded: list[np.ndarray], n_tokens: int, seed: int) -> np.ndarray:
    """`n_tokens` tokens of whole documents, reshuffled on each pass when more are asked for than exist."""
    rng, out, have = random.Random(seed), [], 0
    while have < n_tokens:
        for i in rng.sample(range(len(encoded)), len(encoded)):
            out.append(encoded[i])
            have += len(encoded[i])
            if have >= n_tokens:
                break
    return np.concatenate(out)[:n_tokens]


def write_split(tokens: np.ndarray, folder: Path, split: str, n_shards: int) -> tuple[Path, ...]:
    """`tokens` cut into `n_shards` shards named as the challenge names them."""
    pieces = np.array_split(tokens, n_shards)
    return tuple(write_shard(folder / f"fineweb_{split}_{i:06d}.bin", piece) for i, piece in enumerate(pieces))


def synth_dataset(
    out_dir: Path,
    *,
    vocab_size: int = 1024,
    train_tokens: int = 200_000,
    val_tokens: int = 32_768,
    train_shards: int = 1,
    seed: int = 0,
) -> SynthDataset:
    """Build a toy data set under `out_dir` (created if needed) and describe it."""
    if not MIN_VOCAB <= vocab_size <= 1 << 16:
        raise ValueError(f"vocab_size must be in [{MIN_VOCAB}, 65536], got {vocab_size}")
    out_dir = Path(out_dir)
    train_docs, val_docs = split_documents(bundled_documents(), seed)
    tokenizer = train_tokenizer(train_docs, out_dir / "tokenizers" / f"fineweb_{vocab_size}_bpe.model", vocab_size)
    data_path = out_dir / "datasets" / f"fineweb10B_sp{vocab_size}"
    train = write_split(_stream(list(encode_documents(train_docs, tokenizer)), train_tokens, seed), data_path,
                        "train", train_shards)
    val = write_split(_stream(list(encode_documents(val_docs, tokenizer)), val_tokens, seed + 1), data_path, "val", 1)
    return SynthDataset(out_dir, data_path, tokenizer, vocab_size, train, val)
