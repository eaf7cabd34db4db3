"""Child-side instrumentation: provenance of the token streams and the ledger events (imports torch and numpy).

Token tensors read from `fineweb_val_*` / `fineweb_train_*` become `Tracked` tensors carrying a shadow `dep`
tensor of the same shape: for a copied token, its position in the stream; for a value computed from tokens
(a hash, a mask), the latest stream position it depends on; -1 where nothing from the stream is involved.
Structural ops (slicing, reshape, to, cat, stack, pad, roll, ...) apply themselves to the shadow; elementwise
arithmetic takes the max and marks the result `hashed`. Every other op returns a plain tensor, so model
activations are never tracked and the overhead stays on the few token tensors. Where a tracked tensor meets the
model, the event is recorded: a loss or gather at val targets (`Score`, with a backward hook that records which
positions were trained on), an embedding lookup (`Use`), a read at a hashed index (`TableRead`).
"""

from __future__ import annotations

import bisect
import glob
import os
import re
import time
import weakref
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch._C import DisableTorchFunctionSubclass

from auditor.trace import nptrack
from auditor.trace.ledger import Backward, Count, Ledger, Read, Score, Step, TableRead, Use

HEADER_BYTES = 256 * 4
_SPLIT = re.compile(r"fineweb_(val|train)_")

STRUCTURAL = frozenset(
    "__getitem__ view reshape flatten unflatten squeeze unsqueeze contiguous clone detach to cuda cpu long int short "
    "int32 int64 type narrow select permute transpose t expand expand_as repeat unfold roll flip view_as reshape_as "
    "movedim moveaxis tile broadcast_to pin_memory type_as float double half bfloat16 pad split chunk unbind "
    "tensor_split cat concat concatenate stack hstack vstack as_strided squeeze_ unsqueeze_".split()
)
ELEMENTWISE = frozenset(
    "add sub mul div true_divide floor_divide remainder fmod bitwise_xor bitwise_and bitwise_or bitwise_left_shift "
    "bitwise_right_shift neg abs clamp clamp_min clamp_max eq ne lt le gt ge where minimum maximum pow "
    "log exp log1p expm1 log2 sqrt square sigmoid tanh nan_to_num negative "
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ __rfloordiv__ "
    "__mod__ __rmod__ __xor__ __rxor__ __and__ __rand__ __or__ __ror__ __lshift__ __rlshift__ __rshift__ "
    "__rrshift__ __neg__ __abs__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __pow__ __rpow__ "
    "add_ sub_ mul_ div_ remainder_ bitwise_xor_ bitwise_and_ bitwise_or_ clamp_ __iadd__ __isub__ __imul__ "
    "__ixor__ __iand__ __ior__ __imod__ __ilshift__ __irshift__".split()
)
LOSSES = frozenset({"cross_entropy", "nll_loss"})
GATHERS = frozenset({"gather", "take_along_dim"})
LOOKUPS = frozenset({"embedding", "index_select", "take"})
REDUCTIONS = frozenset({"sum", "mean", "nansum", "item", "tolist", "numpy"})


class Tracked(torch.Tensor):
    """A token tensor that remembers where its elements came from (see the module docstring)."""

    _pg_dep: torch.Tensor
    _pg_src: str
    _pg_hashed: bool

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return RECORDER.dispatch(func, args, kwargs or {})


def _is_tracked(x: object) -> bool:
    return isinstance(x, Tracked) and hasattr(x, "_pg_dep")


def _flat(args: tuple, kwargs: dict) -> list:
    out = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


def _wrap(t: torch.Tensor, dep: torch.Tensor, src: str, hashed: bool) -> torch.Tensor:
    out = t if isinstance(t, Tracked) else t.as_subclass(Tracked)
    out._pg_dep, out._pg_src, out._pg_hashed = dep, src, hashed
    return out


def _plain(t):
    return t.as_subclass(torch.Tensor) if isinstance(t, Tracked) else t


class Streams:
    """The token streams of the toy data set: shard -> first position, perturbations, content lookup."""

    def __init__(self, data_path: str, perturb: dict[int, int]):
        self.base: dict[str, tuple[str, int]] = {}  # resolved shard path -> (split, first stream position)
        self.tokens: dict[str, np.ndarray] = {}
        self.perturb = perturb
        self._index: dict[str, dict[bytes, int]] = {}
        for split in ("val", "train"):
            pos, parts = 0, []
            for f in sorted(glob.glob(os.path.join(data_path, f"fineweb_{split}_*.bin"))):
                toks = np.fromfile(f, dtype="<u2", offset=HEADER_BYTES)
                self.base[os.path.realpath(f)] = (split, pos)
                parts.append(toks)
                pos += toks.size
            self.tokens[split] = np.concatenate(parts) if parts else np.zeros(0, dtype="<u2")

    def shard(self, path: object) -> tuple[str, int] | None:
        try:
            key = os.path.realpath(os.fspath(path))  # type: ignore[arg-type]
        except TypeError:
            return None
        if key in self.base:
            return self.base[key]
        match = _SPLIT.search(os.path.basename(key))
        return (match.group(1), -1) if match else None

    def find(self, arr: np.ndarray) -> tuple[str, np.ndarray] | None:
        """Positions of an integer array copied out of a stream (content match on its rows)."""
        if arr.ndim == 0 or arr.size < 16 or arr.dtype.kind not in "iu":
            return None
        rows = arr.reshape(-1, arr.shape[-1])
        if rows.shape[1] < 16:
            return None
        for split in ("val", "train"):
            stream = self.tokens[split]
            index = self._lookup(split)
            deps = []
            for row in rows:
                head = row[:8].astype("<u2").tobytes()
                start = index.get(head)
                if start is None or not np.array_equal(stream[start : start + row.size], row):
                    break
                deps.append(np.arange(start, start + row.size))
            else:
                return split, np.stack(deps).reshape(arr.shape)
        return None

    def _lookup(self, split: str) -> dict[bytes, int]:
        if split not in self._index:
            stream = np.ascontiguousarray(self.tokens[split])
            raw = stream.tobytes()
            index: dict[bytes, int] = {}
            for i in range(max(0, stream.size - 7)):
                index.setdefault(raw[2 * i : 2 * i + 16], i)
            self._index[split] = index
        return self._index[split]


class Recorder:
    def __init__(self) -> None:
        self.ledger = Ledger()
        self.t0 = time.perf_counter()
        self.started = time.time()
        self.seq = 0
        self.version = 0
        self.watch: set[int] = set()
        self.streams: Streams | None = None
        # (start addr, end addr, itemsize, split, pos0, weakref): token arrays read from the shards, by address
        self.buffers: list[tuple[int, int, int, str, int, weakref.ref]] = []
        self._starts: list[int] = []

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def _tick(self) -> tuple[int, float]:
        self.seq += 1
        return self.seq, round(time.perf_counter() - self.t0, 6)

    def register_buffer(self, arr: np.ndarray, split: str, pos0: int) -> None:
        start = arr.__array_interface__["data"][0]
        entry = (start, start + arr.nbytes, arr.itemsize, split, pos0, weakref.ref(arr))
        i = bisect.bisect(self._starts, start)
        self._starts.insert(i, start)
        self.buffers.insert(i, entry)

    def record_read(self, path: object, api: str) -> tuple[str, int] | None:
        hit = self.streams.shard(path) if self.streams else None
        if hit:
            seq, t = self._tick()
            self.ledger.reads.append(Read(seq, t, os.path.basename(os.fspath(path)), hit[0], api))
        return hit

    def from_array(self, arr: np.ndarray, tensor: torch.Tensor) -> torch.Tensor:
        """Wrap a tensor made from a numpy array when the array holds stream tokens."""
        if isinstance(arr, nptrack.TrackedArray) and arr._pg_dep is not None:
            dep = torch.from_numpy(np.ascontiguousarray(arr._pg_dep)).reshape(tensor.shape)
            return _wrap(tensor, dep, arr._pg_src, arr._pg_hashed)
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu" or arr.size == 0:
            return tensor
        found = self._by_address(arr)
        if found is None and self.streams is not None:
            found = self.streams.find(np.asarray(arr))
        if found is None:
            return tensor
        split, dep = found
        return _wrap(tensor, torch.as_tensor(dep, dtype=torch.long).reshape(tensor.shape), split, False)

    def _by_address(self, arr: np.ndarray) -> tuple[str, np.ndarray] | None:
        start = arr.__array_interface__["data"][0]
        i = bisect.bisect(self._starts, start) - 1
        if i < 0:
            return None
        b_start, b_end, itemsize, split, pos0, alive = self.buffers[i]
        if start >= b_end or arr.itemsize != itemsize or alive() is None:  # freed: the address may be reused
            return None
        first = pos0 + (start - b_start) // itemsize
        steps = [s // itemsize for s in arr.strides]
        dep = np.full(arr.shape, first, dtype=np.int64)
        for axis, step in enumerate(steps):
            shape = [1] * arr.ndim
            shape[axis] = arr.shape[axis]
            dep = dep + (np.arange(arr.shape[axis]) * step).reshape(shape)
        return split, dep

    # -- optimizer steps -------------------------------------------------------------------------------------------
    def on_step(self, optimizer, args, kwargs) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        self.version += 1
        seq, t = self._tick()
        module = any(isinstance(p, torch.nn.Parameter) for p in params)
        free = any(not isinstance(p, torch.nn.Parameter) for p in params)
        self.ledger.steps.append(Step(seq, t, self.version, module, free))

    def _on_train_backward(self, grad: torch.Tensor) -> None:
        self.ledger.train_backward_seqs.append(self._tick()[0])

    # -- dispatch ------------------------------------------------------------------------------------------------
    def dispatch(self, func, args: tuple, kwargs: dict):
        name = getattr(func, "__name__", "")
        with DisableTorchFunctionSubclass():
            if name in LOSSES:
                return self._loss(func, name, args, kwargs)
            if name in GATHERS:
                return self._gather(func, args, kwargs)
            if name in LOOKUPS:
                return self._lookup(func, name, args, kwargs)
            if name == "__getitem__" and not _is_tracked(args[0]):
                return self._index_read(func, args, kwargs)
            if name in ("__setitem__", "copy_"):
                return self._store(func, name, args, kwargs)
            if name in REDUCTIONS and _is_tracked(args[0]) and args[0]._pg_src == "score":
                self._count(args[0])
            out = func(*args, **kwargs)
            if name == "numpy" and _is_tracked(args[0]) and args[0]._pg_src == "val":
                self._register_numpy(args[0], out)
                return nptrack.track(out, args[0]._pg_dep.cpu().numpy(), args[0]._pg_hashed)
            if name in STRUCTURAL:
                return self._structural(func, name, args, kwargs, out)
            if name in ELEMENTWISE and isinstance(out, torch.Tensor):
                return self._elementwise(args, kwargs, out)
            return out

    def _structural(self, func, name, args, kwargs, out):
        tracked = [a for a in _flat(args, kwargs) if _is_tracked(a)]
        if not tracked:
            return out
        src = _src(tracked)
        hashed = any(a._pg_hashed for a in tracked)
        shadow = self._shadow_call(func, name, args, kwargs, out)
        if shadow is None:
            return _plain(out) if isinstance(out, torch.Tensor) else out
        if isinstance(out, (tuple, list)):
            return type(out)(_wrap(o, s, src, hashed) for o, s in zip(out, shadow))
        return _wrap(out, shadow, src, hashed)

    def _shadow_call(self, func, name, args, kwargs, out):
        def sub(a, like=None):
            if _is_tracked(a):
                return a._pg_dep
            if isinstance(a, torch.Tensor) and like is not None:
                return torch.full(a.shape, -1, dtype=torch.long, device=a.device)
            return a

        if name in ("to", "cuda", "cpu", "pin_memory"):
            device = out.device if isinstance(out, torch.Tensor) else None
            return args[0]._pg_dep.to(device) if _is_tracked(args[0]) else None
        if name in ("long", "int", "short", "int32", "int64", "type", "float", "double", "half", "bfloat16",
                    "contiguous", "clone", "detach", "type_as"):
            return args[0]._pg_dep.clone() if _is_tracked(args[0]) else None
        if name == "__getitem__":  # the index selects shadow elements as it selects tokens
            return args[0]._pg_dep[args[1]]
        new_args = []
        for a in args:
            if isinstance(a, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in a):
                new_args.append(type(a)(sub(x, like=True) for x in a))
            else:
                new_args.append(sub(a))
        new_kwargs = {k: sub(v) for k, v in kwargs.items()}
        if name == "pad":
            new_kwargs["value"] = -1
            if len(new_args) > 3:
                new_args = new_args[:3]
            new_kwargs.pop("mode", None)
        try:
            return func(*new_args, **new_kwargs)
        except Exception:  # noqa: BLE001 - an op the shadow cannot follow: drop tracking, never break the script
            return None

    def _elementwise(self, args, kwargs, out):
        tracked = [a for a in _flat(args, kwargs) if _is_tracked(a)]
        if not tracked:
            return out
        dep = None
        for a in tracked:
            try:
                d = torch.broadcast_to(a._pg_dep.to(out.device), out.shape)
            except RuntimeError:
                return _plain(out)
            dep = d if dep is None else torch.maximum(dep, d)
        return _wrap(out, dep.clone(), _src(tracked), True)

    def _store(self, func, name, args, kwargs):
        dest = args[0]
        value = args[2] if name == "__setitem__" else args[1]
        result = func(*args, **kwargs)
        if not (_is_tracked(value) or _is_tracked(dest)):
            return result
        if _is_tracked(value) and value._pg_src == "score":
            if not _is_tracked(dest):  # per-token losses stored in a buffer: they count as scored
                self._count(value)
            return result
        if not _is_tracked(dest):
            if not _is_tracked(value) or dest.dtype.is_floating_point:
                return result
            dest.__class__ = Tracked
            dest._pg_dep = torch.full(dest.shape, -1, dtype=torch.long, device=dest.device)
            dest._pg_src, dest._pg_hashed = value._pg_src, False
        fill = value._pg_dep if _is_tracked(value) else -1
        try:
            if name == "__setitem__":
                dest._pg_dep[args[1]] = fill
            else:
                dest._pg_dep.copy_(torch.broadcast_to(torch.as_tensor(fill), dest.shape))
        except Exception:  # noqa: BLE001
            dest._pg_dep = torch.full(dest.shape, -1, dtype=torch.long, device=dest.device)
        dest._pg_hashed = dest._pg_hashed or (_is_tracked(value) and value._pg_hashed)
        return result

    def _register_numpy(self, t, arr):
        dep = t._pg_dep.reshape(-1)
        if arr.ndim == 1 and dep.numel() and bool((dep == torch.arange(dep[0], dep[0] + dep.numel())).all()):
            self.register_buffer(arr, t._pg_src, int(dep[0]))

    # -- events ----------------------------------------------------------------------------------------------------
    def _loss(self, func, name, args, kwargs):
        out = func(*args, **kwargs)
        target = args[1] if len(args) > 1 else kwargs.get("target")
        if not _is_tracked(target) or target._pg_hashed:
            return out
        if target._pg_src not in ("val", "train"):
            return out
        if target._pg_src == "train":
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(self._on_train_backward)
            return out
        logits = args[0] if args else kwargs["input"]
        ignore = kwargs.get("ignore_index", args[4] if len(args) > 4 else -100)
        inp = logits.detach().float()
        tgt = _plain(target)
        if inp.ndim > 2:
            inp, tgt = inp.movedim(1, -1).reshape(-1, inp.shape[1]), tgt.reshape(-1)
        logp = inp.log_softmax(-1) if name == "cross_entropy" else inp
        flat_t = tgt.reshape(-1)
        pos = target._pg_dep.reshape(-1).cpu()
        keep = (pos >= 0) & (flat_t.cpu() != ignore)
        nll = -logp.gather(-1, flat_t.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        rows = {}
        for w in self.watch:
            hits = (pos == w).nonzero().flatten()
            if hits.numel():
                rows[str(w)] = logp[int(hits[-1])].cpu().tolist()
        out = self._score(out, "ce", pos, keep, nll.cpu(), rows, [])
        if isinstance(out, torch.Tensor) and out.shape == target.shape:
            return _wrap(out, target._pg_dep, "score", False)
        if isinstance(out, torch.Tensor) and out.numel() == 1 and not out.requires_grad:
            seq, t = self._tick()  # mean/sum reduction inside the loss: every valid position counts
            self.ledger.counts.append(Count(seq, t, pos[keep].tolist(), nll.cpu()[keep].tolist()))
        return out

    def _gather(self, func, args, kwargs):
        out = func(*args, **kwargs)
        index = kwargs.get("index", args[2] if len(args) > 2 else None)
        if index is None and func.__name__ == "take_along_dim":
            index = args[1] if len(args) > 1 else kwargs.get("indices")
        source = args[0]
        if not _is_tracked(index) or index._pg_src != "val" or not source.is_floating_point():
            return out
        if index._pg_hashed:
            return self._table_read(index._pg_dep, out)
        pos = index._pg_dep.reshape(-1).cpu()
        if out.numel() != pos.numel():
            return out
        sums = _row_sums(source.detach(), 4) if source.shape[-1] >= 32 else []
        out = self._score(out, "gather", pos, pos >= 0, out.detach().float().reshape(-1).cpu(), {}, sums)
        return _wrap(out, index._pg_dep.reshape(out.shape), "score", False)

    def _index_read(self, func, args, kwargs):
        out = func(*args, **kwargs)
        source, idx = args[0], args[1]
        comps = idx if isinstance(idx, tuple) else (idx,)
        tracked = [c for c in comps if _is_tracked(c)]
        if not tracked or not isinstance(source, torch.Tensor):
            return out
        if tracked[0]._pg_src != "val":
            if tracked[0]._pg_src == "train" and isinstance(source, torch.nn.Parameter):
                self.ledger.train_use_seqs.append(self._tick()[0])
            return out
        hashed = [c for c in tracked if c._pg_hashed]
        if hashed:
            return self._table_read(_max_dep(hashed), out)
        if isinstance(source, torch.nn.Parameter):
            return self._use(_max_dep(tracked), out)
        if not source.is_floating_point():
            return out
        pos = _max_dep(tracked).reshape(-1).cpu()
        if out.numel() != pos.numel():
            return out
        sums = _row_sums(source.detach()[comps[0]], 4) if len(comps) == 2 and source.ndim == 2 else []
        out = self._score(out, "gather", pos, pos >= 0, out.detach().float().reshape(-1).cpu(), {}, sums)
        return _wrap(out, pos.reshape(out.shape).to(out.device), "score", False)

    def _lookup(self, func, name, args, kwargs):
        out = func(*args, **kwargs)
        index = args[0] if name == "embedding" else (args[2] if len(args) > 2 else kwargs.get("index"))
        if name == "take":
            index = args[1] if len(args) > 1 else kwargs.get("index")
        if not _is_tracked(index):
            if name == "index_select" and _is_tracked(args[0]):
                return self._structural(func, name, args, kwargs, out)
            return out
        if index._pg_src != "val":
            if index._pg_src == "train":
                self.ledger.train_use_seqs.append(self._tick()[0])
            return out
        if index._pg_hashed:
            return self._table_read(index._pg_dep, out)
        return self._use(index._pg_dep, out)

    def _count(self, t) -> None:
        if t.requires_grad and torch.is_grad_enabled():  # a training loss being reduced, not a score
            return
        pos = t._pg_dep.reshape(-1).cpu()
        keep = pos >= 0
        values = _plain(t).detach().float().reshape(-1).cpu()
        seq, ts = self._tick()
        self.ledger.counts.append(Count(seq, ts, pos[keep].tolist(), values[keep].tolist()))

    def _use(self, dep, out):
        seq, t = self._tick()
        pos = dep.reshape(-1)
        self.ledger.uses.append(Use(seq, t, pos[pos >= 0].tolist()))
        return out

    def _table_read(self, dep, out):
        seq, t = self._tick()
        self.ledger.table_reads.append(TableRead(seq, t, dep.reshape(-1).tolist()))
        return out

    def _score(self, out, kind, pos, keep, values, rows, sums):
        seq, t = self._tick()
        sid = len(self.ledger.scores)
        grad = isinstance(out, torch.Tensor) and out.requires_grad
        kept_pos = pos[keep]
        self.ledger.scores.append(
            Score(seq, t, sid, kind, grad, self.version, kept_pos.tolist(), values[keep].tolist(), rows, sums)
        )
        if grad:
            out.register_hook(partial(self._hook_positions, sid, pos, keep))
        return out

    def _hook_positions(self, sid, pos, keep, grad):
        g = grad.detach().reshape(-1).cpu()
        if g.numel() == pos.numel():
            hit = pos[keep & (g != 0)]
        else:
            hit = pos[keep] if bool((g != 0).any()) else pos[:0]
        seq, t = self._tick()
        self.ledger.backwards.append(Backward(seq, t, sid, hit.tolist()))


def _src(tracked: list) -> str:
    """Per-position losses stay losses when combined with token tensors (masks): "score" wins."""
    srcs = [a._pg_src for a in tracked]
    return "score" if "score" in srcs else srcs[0]


def _max_dep(tracked: list) -> torch.Tensor:
    deps = torch.broadcast_tensors(*[c._pg_dep for c in tracked])
    out = deps[0]
    for d in deps[1:]:
        out = torch.maximum(out, d)
    return out


def _row_sums(rows: torch.Tensor, n: int) -> list[float]:
    """Sums over the vocabulary of a few candidate rows: probabilities as is, log-probabilities exponentiated."""
    flat = rows.float().reshape(-1, rows.shape[-1])[:n]
    sums = []
    for row in flat:
        if bool((row >= 0).all()):
            sums.append(float(row.sum()))
        elif bool((row <= 0).all()):
            sums.append(float(row.exp().sum()))
    return sums


RECORDER = Recorder()


def install(data_path: str, perturb: dict[int, int], watch: set[int]) -> Recorder:
    """Hook numpy reads, tensor creation from numpy and optimizer steps; returns the recorder."""
    rec = RECORDER
    rec.streams = Streams(data_path, perturb)
    rec.ledger.val_tokens = int(rec.streams.tokens["val"].size)
    rec.watch = watch
    _hook_numpy(rec)
    _hook_torch(rec)
    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(rec.on_step)
    return rec


def _perturbed(rec: Recorder, arr: np.ndarray, split: str, pos0: int) -> np.ndarray:
    if split != "val" or not rec.streams.perturb or arr.ndim != 1:
        return arr
    hits = {p - pos0: v for p, v in rec.streams.perturb.items() if 0 <= p - pos0 < arr.size}
    if not hits:
        return arr
    if not arr.flags.writeable:
        arr = np.array(arr)
    for i, v in hits.items():
        arr[i] = v
    return arr


def _hook_numpy(rec: Recorder) -> None:
    orig_fromfile = np.fromfile

    def fromfile(file, dtype=float, count=-1, sep="", offset=0, **kw):
        arr = orig_fromfile(file, dtype=dtype, count=count, sep=sep, offset=offset, **kw)
        hit = rec.record_read(file, "np.fromfile")
        if hit and hit[1] >= 0 and np.dtype(dtype).itemsize == 2:
            pos0 = hit[1] + (offset - HEADER_BYTES) // 2
            arr = _perturbed(rec, arr, hit[0], pos0)
            rec.register_buffer(arr, hit[0], pos0)
        return arr

    class memmap(np.memmap):  # noqa: N801 - stands in for np.memmap
        def __new__(cls, filename, dtype=np.uint8, mode="r+", offset=0, shape=None, order="C"):
            arr = np.memmap.__new__(cls, filename, dtype=dtype, mode=mode, offset=offset, shape=shape, order=order)
            hit = rec.record_read(filename, "np.memmap")
            if hit and hit[1] >= 0 and np.dtype(dtype).itemsize == 2:
                pos0 = hit[1] + (offset - HEADER_BYTES) // 2
                if rec.streams.perturb and hit[0] == "val":
                    copy = _perturbed(rec, np.array(arr), hit[0], pos0)
                    rec.register_buffer(copy, hit[0], pos0)
                    return copy
                rec.register_buffer(arr, hit[0], pos0)
            return arr

    np.fromfile = fromfile
    np.memmap = memmap
    _hook_open(rec)


def _hook_open(rec: Recorder) -> None:
    import builtins
    import io

    orig_open = builtins.open

    def traced_open(file, mode="r", *args, **kwargs):
        handle = orig_open(file, mode, *args, **kwargs)
        if "r" in mode and not isinstance(file, int):
            rec.record_read(file, "open")
        return handle

    builtins.open = traced_open
    io.open = traced_open
    Path.open = lambda self, mode="r", *a, **k: traced_open(self, mode, *a, **k)  # type: ignore[method-assign]


def _hook_torch(rec: Recorder) -> None:
    orig_from_numpy, orig_as_tensor, orig_tensor = torch.from_numpy, torch.as_tensor, torch.tensor

    def from_numpy(arr):
        return rec.from_array(arr, orig_from_numpy(nptrack.plain(arr)))

    def as_tensor(data, *args, **kwargs):
        out = orig_as_tensor(nptrack.plain(data), *args, **kwargs)
        return rec.from_array(data, out) if isinstance(data, np.ndarray) else out

    def tensor(data, *args, **kwargs):
        out = orig_tensor(nptrack.plain(data), *args, **kwargs)
        return rec.from_array(data, out) if isinstance(data, np.ndarray) else out

    torch.from_numpy, torch.as_tensor, torch.tensor = from_numpy, as_tensor, tensor
    nptrack.TrackedArray.on_table_read = lambda dep: rec._table_read(torch.from_numpy(np.array(dep)), None)
    nptrack.hook_tables()


def finish(rec: Recorder, cwd: Path, ledger_path: Path) -> None:
    rec.ledger.wall = round(time.perf_counter() - rec.t0, 3)
    for path in sorted(Path(cwd).rglob("*")):  # files the run wrote (the copied submission keeps its mtimes)
        if path.is_file() and path != ledger_path and "__pycache__" not in path.parts:
            if path.stat().st_mtime >= rec.started:
                rec.ledger.artifacts[str(path.relative_to(cwd))] = path.stat().st_size
    rec.ledger.save(ledger_path)
