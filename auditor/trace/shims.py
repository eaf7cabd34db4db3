"""Child-side stand-ins for what a toy machine lacks: FlashAttention-3, torch.compile, multi-process
torch.distributed, CUDA (on a CPU machine) and the network. Each is installed only where needed."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import types

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

LOOPBACK = ("127.0.0.1", "::1", "localhost")
USED: list[str] = []  # what the script actually needed, in order of first use


def _used(what: str) -> None:
    if what not in USED:
        USED.append(what)


def install(cuda_to_cpu: bool) -> None:
    """Install the shims; each one notes in USED when the script first relies on it."""
    _no_network()
    torch.compile = _compile  # type: ignore[assignment]
    torch.inference_mode = _InferenceMode  # type: ignore[misc]
    _flash_attention()
    _single_process_distributed()
    if cuda_to_cpu:
        _cuda_to_cpu()
        _used("CUDA calls -> CPU")


def _compile(model=None, *args, **kwargs):
    """torch.compile(model) / @torch.compile / @torch.compile(...) all return the eager callable."""
    _used("torch.compile -> eager")
    if model is None:
        return lambda fn: fn
    return model


class _InferenceMode(torch.no_grad):
    """inference_mode as no_grad: eager code (compile is off) may reuse a cache built while scoring in training,
    which inference tensors forbid; for the ledger both mean "no graph"."""

    def __init__(self, mode: bool = True):
        super().__init__()
        _used("inference_mode -> no_grad")


def _no_network() -> None:
    orig = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in LOOPBACK:
            return orig(self, address)
        _used(f"network blocked ({host})")
        raise OSError(f"network access is disabled under pgolf-audit trace (connect to {host})")

    socket.socket.connect = connect  # type: ignore[method-assign]
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def _attention(q, k, v, causal=False, softmax_scale=None, **_):
    """FlashAttention layout (B, T, H, D) on top of scaled_dot_product_attention; GQA by repeating kv heads."""
    _used("flash-attn -> scaled_dot_product_attention")
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    if k.shape[1] != q.shape[1]:
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=softmax_scale)
    return out.transpose(1, 2)


def _varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q=None, max_seqlen_k=None, causal=False,
                      softmax_scale=None, **_):
    """Packed documents (total, H, D): attention within each [cu[i], cu[i+1]) segment."""
    out = torch.empty_like(q)
    bounds = cu_seqlens_q.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            out[a:b] = _attention(q[None, a:b], k[None, a:b], v[None, a:b], causal, softmax_scale)[0]
    return out


def _flash_attention() -> None:
    for name in ("flash_attn_interface", "flash_attn", "flash_attn.flash_attn_interface", "flash_attn_3"):
        try:
            present = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            present = False
        if present:
            continue
        module = types.ModuleType(name)
        module.flash_attn_func = _attention  # type: ignore[attr-defined]
        module.flash_attn_varlen_func = _varlen_attention  # type: ignore[attr-defined]
        module.__path__ = []  # a package, so `flash_attn.flash_attn_interface` imports
        sys.modules[name] = module


def _single_process_distributed() -> None:
    """Collectives on an uninitialised world of one are no-ops; init_process_group falls back to gloo."""
    import torch.distributed as dist

    if not dist.is_available():
        return
    orig_init = dist.init_process_group

    def init_process_group(backend=None, *args, **kwargs):
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
        kwargs.pop("device_id", None)
        _used("init_process_group -> single process")
        if not torch.cuda.is_available() or os.environ.get("PGOLF_TRACE_CUDA_SHIM") == "1":
            backend = "gloo"
        return orig_init(backend, *args, **kwargs)

    dist.init_process_group = init_process_group
    for name in ("all_reduce", "reduce", "broadcast", "barrier", "all_gather_into_tensor", "reduce_scatter_tensor"):
        orig = getattr(dist, name, None)
        if orig is not None:
            setattr(dist, name, _noop_unless_initialised(orig))


def _noop_unless_initialised(fn):
    import torch.distributed as dist

    def wrapped(*args, **kwargs):
        if dist.is_initialized():
            return fn(*args, **kwargs)
        return None

    return wrapped


def _fake_nvidia_smi() -> None:
    """Scripts log `nvidia-smi` output at start-up; without a GPU the command is missing."""
    import subprocess

    orig_run = subprocess.run

    def run(args, *a, **k):
        if isinstance(args, (list, tuple)) and args and args[0] == "nvidia-smi":
            _used("nvidia-smi -> stub")
            text = k.get("text") or k.get("universal_newlines")
            out = "nvidia-smi: no GPU (pgolf-audit trace on CPU)"
            return subprocess.CompletedProcess(args, 0, out if text else out.encode(), "" if text else b"")
        return orig_run(args, *a, **k)

    subprocess.run = run


class _CudaToCpu(TorchFunctionMode):
    """Every device argument naming CUDA becomes the CPU."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if "device" in kwargs:
            kwargs["device"] = _cpu(kwargs["device"])
        name = getattr(func, "__name__", "")
        if name == "cuda":
            return args[0]
        if name == "to":
            args = tuple(_cpu(a) for a in args)
            kwargs.pop("non_blocking", None)
        return func(*args, **kwargs)


def _cpu(device):
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    if isinstance(device, str) and device.startswith("cuda"):
        return "cpu"
    return device


def _cuda_to_cpu() -> None:
    os.environ["PGOLF_TRACE_CUDA_SHIM"] = "1"
    cuda = torch.cuda
    for name in ("synchronize", "set_device", "manual_seed", "manual_seed_all", "empty_cache",
                 "reset_peak_memory_stats", "set_per_process_memory_fraction"):
        setattr(cuda, name, lambda *a, **k: None)
    for name in ("max_memory_allocated", "max_memory_reserved", "memory_allocated", "memory_reserved"):
        setattr(cuda, name, lambda *a, **k: 0)
    cuda.is_available = lambda: True  # scripts refuse to start without CUDA
    cuda.device_count = lambda: 1
    cuda.current_device = lambda: 0
    cuda.get_device_name = lambda *a, **k: "cpu (pgolf-audit shim)"
    cuda.is_bf16_supported = lambda *a, **k: True
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    orig_generator = torch.Generator

    class Generator(orig_generator):  # a class still, so `torch.Generator | None` annotations evaluate
        def __new__(cls, device="cpu"):
            return orig_generator(device=_cpu(device))

    torch.Generator = Generator  # type: ignore[misc]
    orig_autocast = torch.autocast

    class autocast(orig_autocast):  # noqa: N801 - stands in for torch.autocast
        def __init__(self, device_type="cpu", *args, **kwargs):
            super().__init__("cpu" if device_type == "cuda" else device_type, *args, **kwargs)

    _fake_nvidia_smi()
    torch.autocast = autocast  # type: ignore[misc]
    torch.amp.autocast = autocast  # type: ignore[misc]
    _CudaToCpu().__enter__()
