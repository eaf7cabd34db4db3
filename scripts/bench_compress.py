"""Artifact bytes by compressor and code layout, on the same quantized weights (CPU).

    python scripts/bench_compress.py                       # synthetic weights with the reference model's shapes
    python scripts/bench_compress.py --checkpoint sd.pt    # a trained state_dict (torch.save); int6 RTN codes
    python scripts/bench_compress.py --out compress.json

Synthetic weights are Student-t (df 5) rows with log-normal row scales: heavier tails than a Gaussian, like trained
weights. The order-0 entropy of the codes is the floor for any coder that ignores context; it shows how much a
compressor finds beyond symbol frequencies. reference/artifact.py's defaults (compressor "lzma", layout "offset")
come from this table.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.artifact import (  # noqa: E402
    ARTIFACT_CODE_LAYOUT,
    artifact_compressors,
    quantize_model,
    serialize_quantized,
)

BENCH_LAYOUTS = ("offset", "zigzag", "int8")


def synthetic_state(layers: int, dim: int, hidden: int, vocab: int, kv_dim: int, seed: int) -> dict:
    """Weights with the reference trainer's shapes (nn.Linear layouts); embeddings tied to the head."""
    g = torch.Generator().manual_seed(seed)

    def mat(rows: int, cols: int) -> torch.Tensor:
        t = torch.distributions.StudentT(5.0).sample((rows, cols)) / math.sqrt(cols)
        return t * torch.exp(0.3 * torch.randn(rows, 1, generator=g))

    torch.manual_seed(seed)
    state = {"tok_emb.weight": mat(vocab, dim)}
    for i in range(layers):
        p = f"blocks.{i}."
        state |= {p + "attn.q.weight": mat(dim, dim), p + "attn.k.weight": mat(kv_dim, dim),
                  p + "attn.v.weight": mat(kv_dim, dim), p + "attn.proj.weight": mat(dim, dim),
                  p + "mlp.up.weight": mat(hidden, dim), p + "mlp.down.weight": mat(dim, hidden),
                  p + "attn_norm.weight": torch.ones(dim), p + "mlp_scale": torch.rand(dim)}
    return state


def module_from_state(state: dict) -> nn.Module:
    """A module tree holding the tensors: 2-D '*.weight' leaves become nn.Linear (nn.Embedding if named *emb*)."""
    root = nn.Module()
    for name, t in state.items():
        *path, leaf = name.split(".")
        parent = root
        for part in path[:-1] if leaf == "weight" and t.ndim == 2 else path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        if leaf == "weight" and t.ndim == 2:
            kind = nn.Embedding if "emb" in path[-1] else nn.Linear
            mod = kind(t.shape[0], t.shape[1]) if kind is nn.Embedding else nn.Linear(t.shape[1], t.shape[0], False)
            mod.weight = nn.Parameter(t.float(), requires_grad=False)
            parent.add_module(path[-1], mod)
        else:
            parent.register_parameter(leaf, nn.Parameter(t.float(), requires_grad=False))
    return root


def code_entropy_bytes(quantized: dict) -> float:
    """Order-0 entropy of each tensor's codes, summed, in bytes."""
    total = 0.0
    for e in quantized.values():
        if e["kind"] == "quant":
            counts = torch.bincount((e["q"].flatten().to(torch.int16) + 128).long(), minlength=256).double()
            p = counts[counts > 0] / counts.sum()
            total += -(p * p.log2()).sum().item() * e["q"].numel() / 8
    return total


def measure(quantized: dict) -> list[dict]:
    """Every compressor on the default layout; every layout with the default compressor (a full grid of
    LZMA-extreme runs on ~25 MB takes many minutes)."""
    codecs = artifact_compressors()
    runs = [(ARTIFACT_CODE_LAYOUT, name) for name in codecs]
    runs += [(layout, "lzma") for layout in BENCH_LAYOUTS if layout != ARTIFACT_CODE_LAYOUT]
    rows = []
    for layout, name in runs:
        payload = serialize_quantized(quantized, layout=layout)
        compress, decompress = codecs[name]
        t0 = time.perf_counter()
        blob = compress(payload)
        t1 = time.perf_counter()
        assert decompress(blob) == payload
        rows.append({"compressor": name, "layout": layout, "bytes": len(blob), "raw_bytes": len(payload),
                     "compress_s": t1 - t0, "decompress_s": time.perf_counter() - t1})
    return rows


def print_compress_table(rows: list[dict], entropy: float) -> None:
    best = min(r["bytes"] for r in rows)
    print(f"{'compressor':<16} {'layout':<8} {'bytes':>12} {'vs best':>9} {'comp s':>8} {'decomp s':>9}")
    for r in sorted(rows, key=lambda r: r["bytes"]):
        print(f"{r['compressor']:<16} {r['layout']:<8} {r['bytes']:>12,} {r['bytes'] / best - 1:>+9.2%} "
              f"{r['compress_s']:>8.2f} {r['decompress_s']:>9.3f}")
    print(f"uncompressed payload: {rows[0]['raw_bytes']:,} bytes; order-0 entropy of the codes: {entropy:,.0f} bytes")


def parse_bench_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, help="a state_dict saved with torch.save (default: synthetic)")
    ap.add_argument("--bits", type=int, default=6)
    ap.add_argument("--layers", type=int, default=11)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=1792)  # defaults: the reference trainer's pr1250 preset
    ap.add_argument("--kv-dim", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    return ap.parse_args(argv)


def run_compress_bench(argv: list[str] | None = None) -> int:
    args = parse_bench_args(argv)
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    else:
        state = synthetic_state(args.layers, args.dim, args.hidden, args.vocab, args.kv_dim, args.seed)
    quantized = quantize_model(module_from_state(state), bits=args.bits)
    rows = measure(quantized)
    entropy = code_entropy_bytes(quantized)
    source = args.checkpoint or f"synthetic {args.layers}x{args.dim} (mlp {args.hidden}, vocab {args.vocab})"
    print(f"weights: {source}; int{args.bits} RTN codes, int8 embeddings, fp16 rest")
    print_compress_table(rows, entropy)
    if args.out:
        args.out.write_text(json.dumps({"source": str(source), "bits": args.bits, "entropy_bytes": entropy,
                                        "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_compress_bench())
