"""`pgolf-audit data synth OUT`, `data corpus OUT GLOB...` and `data tokenize TEXT... --tokenizer MODEL --out DIR`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from auditor.load.errors import InputError


def _parser(error) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgolf-audit data", description="Data sets in the challenge's format.")
    parser.error = error  # type: ignore[method-assign]  # the CLI's one-line usage errors
    sub = parser.add_subparsers(dest="verb", required=True)
    synth = sub.add_parser("synth", help="a toy data set + tokenizer from text bundled with Python")
    synth.error = error  # type: ignore[method-assign]
    synth.add_argument("out", type=Path)
    synth.add_argument("--vocab-size", type=int, default=1024)
    synth.add_argument("--train-tokens", type=int, default=200_000)
    synth.add_argument("--val-tokens", type=int, default=32_768)
    synth.add_argument("--train-shards", type=int, default=1)
    synth.add_argument("--seed", type=int, default=0)
    tok = sub.add_parser("tokenize", help="text files -> shards with a given sentencepiece model")
    tok.error = error  # type: ignore[method-assign]
    tok.add_argument("texts", nargs="+", type=Path, metavar="TEXT", help="UTF-8 text files, one document each")
    tok.add_argument("--tokenizer", type=Path, required=True)
    tok.add_argument("--out", type=Path, required=True)
    tok.add_argument("--split", choices=("train", "val"), default="train")
    tok.add_argument("--shard-tokens", type=int, default=100_000_000)
    tok.add_argument("--workers", type=int, default=1, help="encoding processes")
    corpus = sub.add_parser("corpus", help="a data set + tokenizer from text files on this machine (globs, `**`)")
    corpus.error = error  # type: ignore[method-assign]
    corpus.add_argument("out", type=Path)
    corpus.add_argument("patterns", nargs="+", metavar="GLOB", help="e.g. 'SITE_PACKAGES/**/*.py' (quoted)")
    corpus.add_argument("--vocab-size", type=int, default=1024)
    corpus.add_argument("--val-tokens", type=int, default=2_097_152)
    corpus.add_argument("--train-tokens", type=int, help="cap on the train split (default: every file)")
    corpus.add_argument("--workers", type=int, help="encoding processes (default: all cores)")
    corpus.add_argument("--seed", type=int, default=0)
    return parser


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def run_data(argv: Sequence[str], error) -> int:
    args = _parser(error).parse_args(argv)
    try:
        from auditor.data.corpus import corpus_dataset, digest, expand, tokenize_texts
        from auditor.data.synth import synth_dataset
    except ImportError as exc:
        hint = "pip install 'pgolf-audit[trace]'"
        raise InputError(f"`pgolf-audit data` needs numpy and sentencepiece: {hint} ({exc})") from None
    if getattr(args, "workers", None) is not None and args.workers < 1:
        error("--workers must be positive")
    if args.verb == "synth":
        if min(args.train_tokens, args.val_tokens, args.train_shards) < 1:
            error("--train-tokens, --val-tokens and --train-shards must be positive")
        try:
            ds = synth_dataset(args.out, vocab_size=args.vocab_size, train_tokens=args.train_tokens,
                               val_tokens=args.val_tokens, train_shards=args.train_shards, seed=args.seed)
        except ValueError as exc:
            error(str(exc))
        for key, value in ds.env().items():
            print(f"{key}={value}")
        return 0
    if args.verb == "corpus":
        if args.val_tokens < 1 or (args.train_tokens is not None and args.train_tokens < 1):
            error("--val-tokens and --train-tokens must be positive")
        try:
            ds = corpus_dataset(expand(args.patterns), args.out, vocab_size=args.vocab_size,
                                val_tokens=args.val_tokens, max_train_tokens=args.train_tokens, seed=args.seed,
                                workers=args.workers)
        except ValueError as exc:
            error(str(exc))
        for key, value in {**ds.env(), "SHA256": digest(ds)}.items():
            print(f"{key}={value}")
        return 0
    if not args.tokenizer.is_file():
        raise InputError(f"{args.tokenizer}: no such tokenizer model")
    texts = [_read_text(path) for path in args.texts]
    shards = tokenize_texts(texts, args.tokenizer, args.out, split=args.split, shard_tokens=args.shard_tokens,
                            workers=args.workers)
    for shard in shards:
        print(shard)
    return 0
