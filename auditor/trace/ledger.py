"""The ledger: what the instrumented child saw, in order, as plain data (written as JSON, read by the parent).

Positions are indices into the validation stream (the val shards concatenated in sorted order). Every event has a
sequence number `seq` (global order) and a wall time `t` (seconds since the script started).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Read:
    seq: int
    t: float
    path: str
    split: str  # "val" | "train"
    api: str  # np.fromfile, np.memmap, open, ...


@dataclass
class Score:
    """Targets from the val stream reached a loss / log-prob read (cross_entropy, nll_loss, gather by target)."""

    seq: int
    t: float
    id: int
    kind: str  # "ce" | "gather"
    grad: bool  # the output carried a graph (could be back-propagated)
    version: int  # optimizer steps taken so far
    pos: list[int]
    val: list[float]  # per position: NLL for "ce", the gathered value for "gather"
    rows: dict[str, list[float]] = field(default_factory=dict)  # watched position -> log-softmax row
    row_sums: list[float] = field(default_factory=list)  # gather from a vocab-wide row: sums of sampled rows


@dataclass
class Count:
    """Graph-free per-position losses (or log-probs) reduced or stored: the positions that reach a score."""

    seq: int
    t: float
    pos: list[int]
    val: list[float]


@dataclass
class Backward:
    """A backward pass reached a val-target loss; `pos` are the positions whose loss got a nonzero gradient."""

    seq: int
    t: float
    score_id: int
    pos: list[int]


@dataclass
class Step:
    seq: int
    t: float
    version: int  # after the step
    module_params: bool  # at least one optimized tensor is an nn.Parameter (model / adapter weights)
    free_params: bool  # at least one is a bare tensor with requires_grad (SLOT-style delta)


@dataclass
class Use:
    """Val tokens used as model input (embedding lookup in an nn.Parameter)."""

    seq: int
    t: float
    pos: list[int]


@dataclass
class TableRead:
    """A tensor read at an index computed (hashed) from val tokens; `dep` = latest stream position per element."""

    seq: int
    t: float
    dep: list[int]


@dataclass
class Ledger:
    val_tokens: int = 0
    reads: list[Read] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    backwards: list[Backward] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    table_reads: list[TableRead] = field(default_factory=list)
    train_backward_seqs: list[int] = field(default_factory=list)  # backward passes through train-target losses
    train_use_seqs: list[int] = field(default_factory=list)  # train tokens fed to the model
    untracked_val_tensors: int = 0  # val reads whose tensors could not be followed
    wall: float = 0.0
    exit_status: str = "ok"  # "ok" | "exception" | "exit:<code>"
    error: str = ""  # the exception line of the script, when it raised
    artifacts: dict[str, int] = field(default_factory=dict)  # files the run wrote in its cwd -> bytes
    shims: list[str] = field(default_factory=list)  # stand-ins the script relied on

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Ledger:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        kinds = {
            "reads": Read,
            "scores": Score,
            "counts": Count,
            "backwards": Backward,
            "steps": Step,
            "uses": Use,
            "table_reads": TableRead,
        }
        for key, kind in kinds.items():
            raw[key] = [kind(**item) for item in raw.get(key, [])]
        return cls(**raw)

    def score_trained(self) -> set[int]:
        """Ids of score events that a backward went through (training forwards, not pure scores)."""
        return {b.score_id for b in self.backwards}
