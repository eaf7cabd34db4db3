"""The report model: frozen records that flow from checks to renderers (no libcst objects past this point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    """How a reviewer acts on a finding; ordered by `rank`."""

    ILLEGAL = "illegal"
    NEEDS_REVIEW = "needs-review"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "needs-review": 1, "illegal": 2}[self.value]


class Confidence(str, Enum):
    """HIGH: exact structural match; MEDIUM: dataflow with one heuristic hop; LOW: names only."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Verdict(str, Enum):
    CLEAN = "clean"
    NEEDS_REVIEW = "needs-review"
    ILLEGAL = "illegal"
    UNANALYZABLE = "unanalyzable"


class CheckStatus(str, Enum):
    """The token that ends each numbered check of the review."""

    FOUND = "FOUND"
    HOLD = "HOLD"
    CLEAR = "CLEAR"
    NOT_PRESENT = "NOT PRESENT"
    DISABLED = "DISABLED"  # present but unreachable with the default environment
    NOTE = "NOTE"  # a record check with notes only (info findings): nothing that blocks the submission


@dataclass(frozen=True, slots=True)
class Evidence:
    """One hop of an evidence chain: source -> ... -> sink, in order."""

    line: int | None
    text: str  # the source line(s), stripped
    note: str = ""  # what this hop shows, e.g. "TARGET: shifted slice of the val stream"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    confidence: Confidence
    line: int | None
    message: str
    end_line: int | None = None
    evidence: tuple[Evidence, ...] = ()
    knob: str | None = None  # env var that switches the construct on, when defaults leave it off
    path: str | None = None  # the sibling module the finding is in (relative to the folder); None: the script
    origin: str = "static"  # where the evidence comes from: "static" (code), "runtime" (trace) or "both"
    disagreement: str | None = None  # what the other analysis said when static and runtime disagree

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.path or "", self.line or 0, self.rule)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One numbered check in the review, one per rule in the catalogue."""

    rule: str
    title: str
    status: CheckStatus
    note: str = ""
    lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What was audited: the script as shipped, and the code that was analysed."""

    script: str  # path of the training script that was read
    sha256: str  # of the shipped bytes
    size: int  # shipped bytes
    wrapper: str | None = None  # e.g. "lzma(raw)+b85 exec shim" when the code was decoded
    inner_size: int | None = None  # bytes of decoded code, when wrapped
    siblings: tuple[str, ...] = ()  # other code files the script execs or imports from its folder


@dataclass(frozen=True, slots=True)
class Claims:
    """The few submission.json / README fields the code review shows in its key line."""

    title: str | None = None
    val_bpb: float | None = None
    seeds: tuple[str, ...] = ()
    bytes_total: int | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One training run as its log shows it (the record review's per-seed row)."""

    log: str  # the log file, relative to the folder
    seed: str | None
    stage: str | None  # the score stage reported as final: "legal_ttt", "final_int8_zlib_roundtrip" ...
    val_bpb: float | None
    val_loss: float | None
    steps: int | None = None
    step_avg_ms: float | None = None
    train_s: float | None = None
    eval_s: float | None = None  # the timed region of the final stage
    eval_end_to_end_s: float | None = None  # every timed evaluation segment after training
    calibration_s: float | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    val_tokens: int | None = None
    train_shards: int | None = None


@dataclass(frozen=True, slots=True)
class Significance:
    """The gain over a baseline in nats per token (val_loss) and its one-sided Welch t-test."""

    baseline: str  # what it was compared with: "--baseline-bpb 1.2244" or a folder
    gain_nats: float  # baseline mean loss - this mean loss (positive: better)
    required_nats: float
    t: float
    p: float  # for gain >= required_nats; nan when it cannot be computed
    note: str = ""


@dataclass(frozen=True, slots=True)
class RecordReview:
    """What the folder's logs and submission.json show; its checks come after the code checks in the review."""

    runs: tuple[RunSummary, ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    mean_bpb: float | None = None
    std_bpb: float | None = None
    mean_loss: float | None = None
    max_bytes: int | None = None
    shipped_code_bytes: int | None = None
    significance: Significance | None = None


@dataclass(frozen=True, slots=True)
class AuditResult:
    path: str  # as given on the command line
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    techniques: tuple[str, ...] = ()  # "GQA (4 KV heads)", "BigramHash", "score-first TTT", ...
    source: SourceInfo | None = None
    claims: Claims = field(default_factory=Claims)
    error: str | None = None  # why the file is unanalyzable, one sentence
    record: RecordReview | None = None  # a records folder's logs and claims; None for a lone script
    runtime: tuple[str, ...] = ()  # summary lines of a runtime trace (pgolf-audit trace); empty when none ran


@dataclass(frozen=True, slots=True)
class Report:
    tool_name: str
    tool_version: str
    command: str  # the command line that reproduces this report
    results: tuple[AuditResult, ...]
