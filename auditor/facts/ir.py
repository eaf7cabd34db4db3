"""The intermediate facts one walk of the module produces: values, operations in order, loops and functions.

Everything here is plain data (no libcst nodes), so it can be dumped as JSON and read by checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.facts.cond import Cond, Knob
from auditor.facts.vocab import CARRIED

# How a dependency passes roles on: all of them, provenance only (VAL/TRAIN through opaque calls),
# the shifted-by-one slice of a token stream (target), the truncated slice (input), or a positional index.
ID, PROV, INDEX, SHIFT_TARGET, SHIFT_INPUT = "id", "prov", "idx", "tgt", "inp"
READ = "read"  # the contents of a file whose path carries the role: reading a val shard yields val tokens
AT_TARGET = "at"  # an index that selects the realised token: the value is "at the target" when it is TARGET

Dep = tuple[str, str]


class Val:
    """The abstract value of an expression: symbols it depends on (with a transform) and roles it creates."""

    __slots__ = ("deps", "tags")

    def __init__(self, deps: frozenset[Dep] = frozenset(), tags: frozenset[str] = frozenset()) -> None:
        self.deps, self.tags = deps, tags

    def __reduce__(self) -> tuple:
        # constructor arguments pickle 20% faster and 10% smaller than slot state (facts.pieces keeps walks pickled)
        return Val, (self.deps, self.tags)

    def union(self, *others: Val) -> Val:
        deps, tags = set(self.deps), set(self.tags)
        for other in others:
            deps |= other.deps
            tags |= other.tags
        return Val(frozenset(deps), frozenset(tags))

    def as_prov(self) -> Val:
        """Only provenance flows on (opaque calls): a loss computed from val tokens is val-derived, not a token."""
        if not self.deps and not self.tags:
            return self
        return Val(frozenset({(sym, PROV) for sym, _ in self.deps}), self.tags & CARRIED)  # not VAL_TOKENS

    def as_index(self) -> Val:
        """An index selects elements: val provenance flows on, but not which window region it was cut from."""
        return Val(frozenset((sym, INDEX) for sym, _ in self.deps), self.tags & {"VAL", "TRAIN"})

    def transformed(self, how: str) -> Val:
        return Val(frozenset((sym, how if t == ID else t) for sym, t in self.deps), self.tags)

    def to_json(self) -> dict[str, Any]:
        return {"deps": sorted(f"{s}|{t}" for s, t in self.deps), "tags": sorted(self.tags)}


EMPTY = Val()


@dataclass(slots=True)
class Loop:
    id: int
    func: str
    line: int
    end_line: int
    targets: tuple[str, ...]
    iter_text: str
    is_epoch: bool  # iterations revisit the same data (epochs, passes)
    count: Cond | None = None  # N of `range(N)`, to know when a knob makes the loop run zero times


@dataclass(slots=True)
class Op:
    """One event, in source order inside its function."""

    kind: str  # score | backward | step | call | ref | table_read | table_write | serialize | minimum |
    #            compare_store | param_create | optimizer | mask_store | shift_mix | bos_mask | noncausal | loss
    line: int
    end_line: int
    func: str
    seq: int
    loops: tuple[int, ...]
    guards: tuple[tuple[Cond, bool], ...]
    grad: str  # "" (grad enabled) | "no_grad" (no_grad or inference_mode)
    sym: str = ""
    val: Val = EMPTY
    extra: Any = None


@dataclass(slots=True)
class CallInfo:
    key: str  # "f:name" for plain calls, "m:name" for method calls, "s:Class.name" for self.method calls
    args: list[Val]
    kwargs: dict[str, Val]
    closures: tuple[str, ...]  # local functions passed as arguments (run by the callee: optimizer closures)
    text: str  # callee as written, e.g. "torch.optim.AdamW"
    site: str  # the symbol that holds this call's result


@dataclass(slots=True)
class Function:
    qual: str
    name: str
    cls: str | None
    params: tuple[str, ...]
    line: int
    end_line: int
    parent: str | None
    grad: str = ""  # decorator-level no_grad / inference_mode
    locals: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)  # names read outside call position (functions passed as values)


@dataclass(slots=True)
class PosAccess:
    """`A[i + k]` inside a function: the largest offset over one index variable is the predicted token."""

    func: str
    base: str
    var: str
    offset: int


@dataclass(slots=True)
class ModuleIR:
    functions: dict[str, Function] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    loops: dict[int, Loop] = field(default_factory=dict)
    flows: list[tuple[str, Val, int]] = field(default_factory=list)  # (symbol, value, line)
    knobs: dict[str, Knob] = field(default_factory=dict)
    opaque: dict[str, Val] = field(default_factory=dict)  # call site -> provenance of its arguments
    pos_access: list[PosAccess] = field(default_factory=list)
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # class -> base names
    imports: dict[str, str] = field(default_factory=dict)  # alias -> module path
    lines: list[str] = field(default_factory=list)
