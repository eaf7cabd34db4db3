"""Provenance through numpy: val tokens leaving torch by `.numpy()` (n-gram caches are mostly numpy) become a
`TrackedArray` that keeps the same `dep` shadow through indexing, astype/reshape and ufuncs, and records a table
read when an untracked array is indexed with a key hashed from tokens.

Tables: indexing a plain ndarray with a tracked key calls no hook, so large arrays made by np.zeros & co. are
TrackedArrays too (see `hook_tables`). Limit: an in-place ufunc into a plain array (`plain ^= tracked`) cannot
carry the shadow (plain arrays take no attributes), so a key accumulated that way is invisible; keys built by
expressions are followed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class TrackedArray(np.ndarray):
    _pg_dep: np.ndarray | None
    _pg_hashed: bool
    _pg_src: str
    on_table_read: Callable[[np.ndarray], None] | None = None  # set by the recorder

    def __array_finalize__(self, obj) -> None:
        # views and new arrays start untracked; the operations below set the shadow where they can follow it
        self._pg_dep, self._pg_hashed = None, False
        self._pg_src = getattr(obj, "_pg_src", "val")

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [_plain(x) for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if method != "__call__" or not isinstance(result, np.ndarray) or result.ndim == 0:
            return result
        deps = [x._pg_dep for x in inputs if isinstance(x, TrackedArray) and x._pg_dep is not None]
        if not deps:
            return out[0] if out else result
        try:
            dep = np.maximum.reduce([np.broadcast_to(d, result.shape) for d in deps]) if len(deps) > 1 else (
                np.broadcast_to(deps[0], result.shape).copy())
        except ValueError:
            return out[0] if out else result
        target = out[0] if out else result
        if isinstance(target, TrackedArray):
            target._pg_dep, target._pg_hashed = dep, True
            return target
        return track(target, dep, True)

    def __getitem__(self, idx):
        comps = idx if isinstance(idx, tuple) else (idx,)
        plain_idx = tuple(_plain(c) for c in comps) if isinstance(idx, tuple) else _plain(idx)
        result = _plain(self)[plain_idx]
        keys = [c for c in comps if isinstance(c, TrackedArray) and c._pg_dep is not None]
        if self._pg_dep is None:
            hashed = [c for c in keys if c._pg_hashed]
            if hashed and TrackedArray.on_table_read is not None:
                TrackedArray.on_table_read(_max_dep(hashed))
            return result
        if not isinstance(result, np.ndarray) or result.ndim == 0:
            return result
        try:
            dep = self._pg_dep[plain_idx]
        except (IndexError, ValueError):
            return result
        return track(result, dep, self._pg_hashed)

    def __setitem__(self, idx, value) -> None:
        plain_idx = tuple(_plain(c) for c in idx) if isinstance(idx, tuple) else _plain(idx)
        _plain(self)[plain_idx] = _plain(value)
        if isinstance(value, TrackedArray) and value._pg_dep is not None:
            if self._pg_dep is None:
                self._pg_dep = np.full(self.shape, -1, dtype=np.int64)
            try:
                self._pg_dep[plain_idx] = value._pg_dep
            except ValueError:
                self._pg_dep = None
                return
            self._pg_hashed = self._pg_hashed or value._pg_hashed
        elif self._pg_dep is not None:
            self._pg_dep[plain_idx] = -1

    def astype(self, dtype, *args, **kwargs):
        return self._same(_plain(self).astype(dtype, *args, **kwargs))

    def copy(self, *args, **kwargs):
        return self._same(_plain(self).copy(*args, **kwargs))

    def reshape(self, *shape, **kwargs):
        result = _plain(self).reshape(*shape, **kwargs)
        if self._pg_dep is None:
            return result
        return track(result, self._pg_dep.reshape(*shape, **kwargs), self._pg_hashed)

    def ravel(self, *args, **kwargs):
        return self.reshape(-1)

    flatten = ravel

    def _same(self, result: np.ndarray):
        if self._pg_dep is None:
            return result
        return track(result, self._pg_dep.copy(), self._pg_hashed)


TABLE_MIN = 4096  # elements: arrays this large made by np.zeros & co. may be lookup tables


def hook_tables() -> None:
    """Large arrays from np.zeros/ones/full/empty become (untracked) TrackedArrays, so that indexing one with a
    key hashed from tokens is seen: numpy gives an index array no hook into a plain array's indexing."""
    for name in ("zeros", "ones", "full", "empty"):
        orig = getattr(np, name)

        def make(*args, _orig=orig, **kwargs):
            arr = _orig(*args, **kwargs)
            return arr.view(TrackedArray) if isinstance(arr, np.ndarray) and arr.size >= TABLE_MIN else arr

        setattr(np, name, make)


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, TrackedArray) else x


def _max_dep(arrays: list[TrackedArray]) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]._pg_dep
    return np.maximum.reduce(np.broadcast_arrays(*[a._pg_dep for a in arrays]))


def track(arr: np.ndarray, dep: np.ndarray, hashed: bool, src: str = "val") -> TrackedArray:
    out = _plain(arr).view(TrackedArray)
    out._pg_dep, out._pg_hashed, out._pg_src = np.asarray(dep, dtype=np.int64), hashed, src
    return out


def plain(x):
    """The ndarray behind a TrackedArray (for handing to torch)."""
    return _plain(x)
