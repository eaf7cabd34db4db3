"""The weight artifact: quantize a model's state_dict, serialize it compactly, compress it; and the way back.

quantize_model -> pack -> bytes (what counts toward the 16,000,000-byte limit with the code) -> unpack -> a
state_dict of float tensors that loads into the model. The blob names its compressor, so unpack needs nothing but
the bytes. scripts/bench_compress.py compares compressors and byte layouts on the same quantized weights.
Measured on int6 codes of synthetic Student-t weights with the reference shapes (11x512, MLP 1792; 32.4 MB
serialized, order-0 code entropy 18.61 MB): brotli-11 18.67 MB, zstd-22 18.93 MB, LZMA 19.18-19.27 MB across
presets 6/9/9e, lc 0-3 and layouts (all within 0.5%), zlib-9 20.78 MB, a delta filter before LZMA 21.16 MB.
"lzma" (9e, lc=lp=pb=0) is the stdlib default; brotli-11 saves ~2.7% where the brotli package is available.
Tests: tests/reference/test_artifact.py.

Per-tensor treatment (bytes go where error hurts most):
- nn.Linear weights (>= ARTIFACT_MIN_QUANT_NUMEL elements): int6 codes + fp16 per-row scales, GPTQ where a
  Hessian was collected for the module, round-to-nearest otherwise.
- nn.Embedding weights: int8 round-to-nearest per row. An embedding row is looked up, not
  multiplied by inputs, so GPTQ has no Hessian for it; with tied output heads it is the most error-sensitive
  matrix, and at vocab 1024 x 512 the extra 2 bits cost little.
- Everything else (norm gains, scalar mixes, biases, skip weights, tiny matrices): fp16, a negligible share of
  the bytes, and control tensors are where rounding hurts per byte the most.
- Tensors sharing storage (tied weights) are stored once.
"""

import json
import lzma
import struct
import zlib

import torch
from torch import Tensor, nn

from reference.gptq import dequantize, gptq_quantize, rtn_quantize

ARTIFACT_MAGIC = b"PGQ1"
ARTIFACT_MIN_QUANT_NUMEL = 4096
ARTIFACT_EMBED_BITS = 8
ARTIFACT_CODE_LAYOUT = "offset"  # codes stored as q + qmax (uint8); see scripts/bench_compress.py

# ----------------------------------------------------------------------------------------------------------------
# Quantization of a whole model


def quantize_model(model: nn.Module, hessians: dict[str, Tensor] | None = None, *, bits: int = 6) -> dict:
    """state_dict -> {name: entry}; entry kinds: quant (q, scale, bits, dtype), raw (data, dtype), alias (of)."""
    module_of = {f"{name}.weight": mod for name, mod in model.named_modules()}
    state = model.state_dict()
    groups: dict[tuple, list[str]] = {}  # names sharing one tensor (tied weights)
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        groups.setdefault(key, []).append(name)
    out: dict = {}
    for names in groups.values():
        # A tied embedding/head is stored once, with the embedding's treatment.
        primary = next((n for n in names if isinstance(module_of.get(n), nn.Embedding)), names[0])
        out[primary] = quantize_tensor(primary, state[primary].detach(), module_of.get(primary), hessians or {}, bits)
        out.update({n: {"kind": "alias", "of": primary} for n in names if n != primary})
    return {name: out[name] for name in state}


def quantize_tensor(name: str, t: Tensor, module: nn.Module | None, hessians: dict[str, Tensor], bits: int) -> dict:
    dtype = str(t.dtype).removeprefix("torch.")
    if not t.is_floating_point():
        return {"kind": "raw", "data": t.cpu(), "dtype": dtype}
    is_linear, is_embedding = isinstance(module, nn.Linear), isinstance(module, nn.Embedding)
    if not (is_linear or is_embedding) or t.ndim != 2 or t.numel() < ARTIFACT_MIN_QUANT_NUMEL:
        # Control tensors (gains, mixes, scalars) and tiny matrices: a negligible share of the bytes.
        return {"kind": "raw", "data": t.cpu().half() if t.dtype == torch.float32 else t.cpu(), "dtype": dtype}
    hessian = hessians.get(name.removesuffix(".weight")) if is_linear else None
    if is_embedding:
        bits = ARTIFACT_EMBED_BITS
    q, scale = gptq_quantize(t, hessian.to(t.device), bits=bits) if hessian is not None else rtn_quantize(t, bits=bits)
    return {"kind": "quant", "q": q.cpu(), "scale": scale.cpu(), "bits": bits, "dtype": dtype}


def dequantize_state(quantized: dict) -> dict[str, Tensor]:
    """{name: entry} -> state_dict of tensors in their original dtypes."""
    state: dict[str, Tensor] = {}
    for name, e in quantized.items():
        if e["kind"] == "quant":
            state[name] = dequantize(e["q"], e["scale"]).to(getattr(torch, e["dtype"]))
        elif e["kind"] == "raw":
            state[name] = e["data"].to(getattr(torch, e["dtype"]))
    for name, e in quantized.items():
        if e["kind"] == "alias":
            state[name] = state[e["of"]]
    return state


# ----------------------------------------------------------------------------------------------------------------
# Serialization: a JSON header (names, shapes, dtypes) and the raw arrays back to back


def encode_codes(q: Tensor, bits: int, layout: str) -> bytes:
    qmax = 2 ** (bits - 1) - 1
    if layout == "offset":  # 0..2*qmax: small magnitudes cluster around one byte value
        b = (q.to(torch.int16) + qmax).to(torch.uint8)
    elif layout == "zigzag":  # 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...: magnitude order
        q16 = q.to(torch.int16)
        b = torch.where(q16 >= 0, 2 * q16, -2 * q16 - 1).to(torch.uint8)
    elif layout == "int8":
        b = q.view(torch.uint8)
    else:
        raise ValueError(f"unknown code layout {layout!r}")
    return b.contiguous().numpy().tobytes()


def decode_codes(raw: Tensor, bits: int, layout: str) -> Tensor:
    qmax = 2 ** (bits - 1) - 1
    if layout == "offset":
        return (raw.to(torch.int16) - qmax).to(torch.int8)
    if layout == "zigzag":
        z = raw.to(torch.int16)
        return torch.where(z % 2 == 0, z // 2, -(z + 1) // 2).to(torch.int8)
    return raw.view(torch.int8)


def tensor_bytes(t: Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""


def serialize_quantized(quantized: dict, *, layout: str = ARTIFACT_CODE_LAYOUT) -> bytes:
    """JSON header | all codes | all other arrays. Codes go together: one long run of similar statistics for the
    compressor, not interleaved with fp16 bytes."""
    header, codes, chunks = {"layout": layout, "entries": []}, [], []
    for name, e in quantized.items():
        meta = {"name": name, "kind": e["kind"]}
        if e["kind"] == "alias":
            meta["of"] = e["of"]
        elif e["kind"] == "quant":
            meta.update(shape=list(e["q"].shape), bits=e["bits"], dtype=e["dtype"])
            codes.append(encode_codes(e["q"], e["bits"], layout))
            chunks.append(tensor_bytes(e["scale"]))
        else:
            store = str(e["data"].dtype).removeprefix("torch.")
            meta.update(shape=list(e["data"].shape), dtype=e["dtype"], store=store)
            chunks.append(tensor_bytes(e["data"]))
        header["entries"].append(meta)
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<I", len(head)) + head + b"".join(codes) + b"".join(chunks)


def deserialize_quantized(payload: bytes) -> dict:
    (head_len,) = struct.unpack_from("<I", payload)
    header = json.loads(payload[4:4 + head_len])
    buf = torch.frombuffer(bytearray(payload[4 + head_len:]), dtype=torch.uint8)
    n_codes = sum(m["shape"][0] * m["shape"][1] for m in header["entries"] if m["kind"] == "quant")
    pos = {"codes": 0, "rest": n_codes}  # read cursors into the two regions
    out = {}

    def take(n: int, region: str = "rest") -> Tensor:
        pos[region] += n
        return buf[pos[region] - n:pos[region]]

    for meta in header["entries"]:
        if meta["kind"] == "alias":
            out[meta["name"]] = {"kind": "alias", "of": meta["of"]}
        elif meta["kind"] == "quant":
            rows, cols = meta["shape"]
            q = decode_codes(take(rows * cols, "codes"), meta["bits"], header["layout"]).reshape(rows, cols)
            scale = take(rows * 2).view(torch.float16).clone()
            out[meta["name"]] = {"kind": "quant", "q": q.clone(), "scale": scale, "bits": meta["bits"],
                                 "dtype": meta["dtype"]}
        else:
            store = getattr(torch, meta["store"])
            n = torch.Size(meta["shape"]).numel() * torch.empty(0, dtype=store).element_size()
            data = take(n).view(store).reshape(meta["shape"]).clone()
            out[meta["name"]] = {"kind": "raw", "data": data, "dtype": meta["dtype"]}
    return out


# ----------------------------------------------------------------------------------------------------------------
# Compressors (zstd and brotli only where installed)

# Raw LZMA2 streams (no container header): the filter chain is fixed by the compressor's name.
# lc=0/lp=0/pb=0: quantized codes are close to i.i.d. bytes, so literal context bits only dilute the statistics.
ARTIFACT_LZMA_FILTERS = {
    "lzma": [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": 0, "pb": 0}],
    "lzma-9": [{"id": lzma.FILTER_LZMA2, "preset": 9}],
    "lzma-9e": [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}],
    "lzma-6": [{"id": lzma.FILTER_LZMA2, "preset": 6}],
    "lzma-9e-lc0pb0": [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "pb": 0}],
    "lzma-9e-lc1": [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 1, "lp": 0, "pb": 0}],
    "lzma-delta1-9e": [{"id": lzma.FILTER_DELTA, "dist": 1},
                       {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}],
}


def lzma_codec(filters: list[dict]):
    return (lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=filters),
            lambda b: lzma.decompress(b, format=lzma.FORMAT_RAW, filters=filters))


def artifact_compressors() -> dict:
    """name -> (compress, decompress) for every compressor available in this interpreter."""
    codecs = {name: lzma_codec(filters) for name, filters in ARTIFACT_LZMA_FILTERS.items()}
    codecs["zlib-9"] = (lambda b: zlib.compress(b, 9), zlib.decompress)
    try:
        import zstandard

        codecs["zstd-22"] = (lambda b: zstandard.ZstdCompressor(level=22).compress(b),
                             lambda b: zstandard.ZstdDecompressor().decompress(b))
    except ImportError:
        pass
    try:
        import brotli

        codecs["brotli-11"] = (lambda b: brotli.compress(b, quality=11, lgwin=24), brotli.decompress)
    except ImportError:
        pass
    return codecs


# ----------------------------------------------------------------------------------------------------------------
# The artifact


def pack(quantized: dict, *, compressor: str = "lzma", layout: str = ARTIFACT_CODE_LAYOUT) -> bytes:
    """Quantized entries -> MAGIC | len(name) | name | compressed payload."""
    codecs = artifact_compressors()
    if compressor not in codecs:
        raise ValueError(f"unknown or unavailable compressor {compressor!r}; available: {sorted(codecs)}")
    name = compressor.encode()
    return ARTIFACT_MAGIC + bytes([len(name)]) + name + codecs[compressor][0](serialize_quantized(quantized,
                                                                                                  layout=layout))


def unpack_quantized(blob: bytes) -> dict:
    """The quantized entries back from the artifact bytes, exactly as packed."""
    if blob[:4] != ARTIFACT_MAGIC:
        raise ValueError("not a pgolf weight artifact (bad magic)")
    n = blob[4]
    name = blob[5:5 + n].decode()
    codecs = artifact_compressors()
    if name not in codecs:
        raise ValueError(f"artifact compressed with {name!r}, which is not available here")
    return deserialize_quantized(codecs[name][1](blob[5 + n:]))


def unpack(blob: bytes) -> dict[str, Tensor]:
    """Artifact bytes -> state_dict of float tensors (dequantized), ready for model.load_state_dict."""
    return dequantize_state(unpack_quantized(blob))
