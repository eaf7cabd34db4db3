"""Parse Parameter Golf train logs of every era into runs: seed, steps, times, sizes, data fingerprints and scores.

`parse_log(text, "train_seed42.log")` -> the runs in that text (most files hold one); `parse_log_file(path)` reads a
file; `parse_logs({name: text, ...})` does several files, sorted by name. Formats: `../shared/rules.md` §22 (March
baseline, score-first era, SP8192 era, CaseOps / phased-TTT era). Logs are recognised by what they print, not by
their names; lines that match nothing are ignored and a value that does not parse is skipped, so nothing here
raises on malformed input. The copy of the source code that many scripts log first is skipped by the same reader as
`auditor.load.source` uses.

Which value wins when a run prints a field several times:
- `seed`: the first `seed:N` line, else the hyper-parameter dump's `seed`, else the first `seed=N`, `seed:N` or
  `Seed N` inside any other line.
- `steps_done`, `train_time_ms`: the `stopping_early` line when there is one, else the last step line.
- `step_avg_ms`: the last `step_avg` a step line printed, else `train_time_ms / steps_done` (CaseOps-era step lines
  print `tok/s` only).
- `total_bytes`: the last `Total submission size <label>: N bytes` line with a label (the quantized artifact); the
  unlabelled line (raw weights + code in the baseline) only when no labelled line exists; other spellings
  (`Total artifact size: 15,921,334 bytes`, `total_artifact_bytes:N`, `model:N code:N total:N`) only when neither
  exists. `code_bytes` falls back the same way (`Code: N bytes`, `code_bytes:N`).
- `code_bytes`, `code_bytes_compressed`, `val_tokens`, `train_shards`, `world_size`: the last value printed.
- `scores`: every score line, in order. `LogRun.best(stage)` is the last `_exact` line of a stage (printed to more
  digits) else its last line; `LogRun.final` is the best score of the stage of the last non-periodic, non-diagnostic
  score line, or of the earlier stage whose numbers that line only repeats. Some scripts re-print
  `final_int8_zlib_roundtrip_exact` with other numbers for legacy parsers (rules.md §22), so a reviewer matches
  claims against every stage, not only `final`.

One file can hold several runs: a wrapper that ran seeds one after the other, or the script's own log file
appended to the captured stdout of the same run. A new run starts when a header line (`seed:`, `Hyperparameters:`,
`model_params:`, `train_loader:` ...) follows training output; a run that repeats the previous one (same steps, train
time, size and scores) is merged into it rather than counted twice.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, cast

_CODE_START = re.compile(r'^(?:"""|\'\'\'|import \w|from [\w.]+ import |def \w|class \w|#!)')
_SEPARATOR = re.compile(r"^={20,}\s*$")
_LOG_LINE_CHARS = 65_536  # a single runaway line is cut, not read whole
_MAX_LINES = 200_000  # lines read per file, a dump of the source code included
_MAX_BYTES = 64 << 20  # bytes read per log file
_MAX_HARDWARE = 24  # hardware lines kept per run

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# epoch seconds (`1776142360.710 `), `[12:00:01] ` or an ISO time stamp that a launcher put before each line
_PREFIX = re.compile(
    r"^(?:\d{10}(?:\.\d+)?|\[\d{1,2}:\d{2}:\d{2}\]|\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?\]?) "
)

# --- run boundaries and identity
_HEADER = re.compile(
    r"^(?:Hyperparameters\b|seed[:=]\s*\d|model_params[:=]|train_loader:|train_shards[:=]"
    r"|Running (?:Python|PyTorch)\b)"
)
_SEED_LINE = re.compile(r"^seed[:=]\s*(\d+)\b", re.IGNORECASE)
_SEED_TOKEN = re.compile(r"(?<![\w.])seed(?:[:=]\s*|\s+)(\d+)\b", re.IGNORECASE)
_DUMP_START = re.compile(r"^(?:hyper-?parameters|hparams|config(?:uration)?)\s*:?\s*$", re.IGNORECASE)
_DUMP = re.compile(r"^\s+([A-Za-z_][A-Za-z0-9_]*):(?:\s(.*))?$")  # "  ttt_epochs: 3" (the value may be empty)
_HEADER_TOKEN = re.compile(r"([a-z_][a-z0-9_]*)[:=](\S+)")

# --- training
_STEP = re.compile(r"^(?:step[:\s]\s*)?(\d+)/(\d+)\b(?=.*?\b(?:train_loss|val_loss|loss|train_time|step_avg|tok/s)\b)")
_TRAIN_TIME = re.compile(rf"\btrain_time[:=]\s*({_NUM})\s*(ms|s|m|min)\b")
_STEP_AVG = re.compile(rf"\bstep_avg[:=]\s*({_NUM})\s*ms\b")
_STEP_T = re.compile(rf"(?<![\w.])t:\s*({_NUM})ms\b")  # "step:9/20 loss:… t:812ms step_avg:…"
_ELAPSED_MS = re.compile(r"\belapsed\s+(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s\b")  # "| elapsed 9m58s"
_STOP = re.compile(r"^(?:stopping_early|early_stop)\b")
_STOP_STEP = re.compile(r"\bstep[:=]\s*(\d+)/(\d+)")
_RESERVE = re.compile(rf"\breserving\s+({_NUM})\s*s\b(?:,\s*effective[=:]\s*({_NUM})\s*ms)?")

# --- artifact
_CODE = re.compile(r"^Code size(?:\s*\(([^)]*)\))?\s*:\s*(\d+)\s*bytes")
_TOTAL = re.compile(r"(?:^|\|\s*)Total submission(?: size)?(?:\s+([^:|\s][^:|]{0,80}?))?\s{0,8}:\s*(\d+)\s*bytes")
_MODEL = re.compile(r"^Serialized model(?:\s+([^:\s][^:]{0,80}?))?\s{0,8}:\s*(\d+)\s*bytes")
# other spellings, used only when a run has no `Code size` / `Total submission` line: "Code: 49961 bytes",
# "code_bytes:…", "[QUANT] Total artifact size:   15,921,334 bytes", "total_artifact_bytes:…", "total:… bytes",
# "model:… code:… total:…"
_CODE_LOOSE = re.compile(
    r"(?<![\w.])code(?:[ _]snapshot)?"
    r"(?:(?:[ _]size)?\s*[:=]\s*(\d[\d,]*)\s*bytes\b|_bytes\s*[:=]\s*(\d[\d,]*)(?=\s|$))",
    re.IGNORECASE,
)
_SIZE_SUMMARY = re.compile(r"(?<![\w.])model[:=]\d+\s+code[:=](\d+)\s+total[:=](\d+)\b", re.IGNORECASE)
_TOTAL_LOOSE = re.compile(
    r"(?<![\w.])total(?:[ _](?:artifact|submission))?(?:[ _]size)?(?:(_bytes)\s*[:=]\s*(\d[\d,]*)(?=\s|$)"
    r"|\s*[:=]\s*(\d[\d,]*)\s*bytes\b)",
    re.IGNORECASE,
)

# --- data fingerprints and hardware
_VAL_TOKENS = re.compile(r"(?<![\w.])val_tokens[:=]\s*(\d+)\b")
_VAL_LOADER_TOKENS = re.compile(r"^val_loader:.*?\btokens:(\d+)\b")
_TRAIN_SHARDS = re.compile(r"(?<![\w.])train_shards[:=]\s*(\d+)\b")
_WORLD_SIZE = re.compile(r"(?<![\w.])world_size[:=]\s*(\d+)\b")
_RUNNING = re.compile(r"^Running (?:Python|PyTorch|CUDA|on)\b")
_SMI_HEADER = re.compile(r"^\|\s*NVIDIA-SMI\b")
_HARDWARE_LOOSE = re.compile(r"(?<![\w.])\d+\s?[x×]\s?(?:NVIDIA\s)?[ABH]\d{2,3}\b", re.IGNORECASE)  # "8xH100 SXM"
_GPU_ROW = re.compile(r"^\|\s+(\d+)\s+(NVIDIA\b.*?|Tesla\b.*?)\s+(?:On|Off)\s+\|")

# --- scores and timings
_LOSS = re.compile(rf"(?<![\w.])val_loss(?:[:=]\s*|\s+)({_NUM}|nan|inf)\b")
_BPB = re.compile(rf"(?<![\w.])val_bpb(?:[:=]\s*|\s+)({_NUM}|nan|inf)\b")
_EVAL_TIME = re.compile(rf"\b(?:eval_time|time|elapsed)[:=]\s*({_NUM})\s*(ms|s)\b")
_PERIODIC = re.compile(r"^(?:step[:\s]\s*)?(\d+)(?:/\d+)?$")
_STAGE_CHARS = re.compile(r"^[A-Za-z][\w\-.:/+ ]*$")
_SETTING = re.compile(r"^[\w.]+[:=]\S*\d\S*$")  # "stride:64" between a stage name and its numbers
_TOTAL_EVAL = re.compile(rf"^total_eval_time[:=]\s*({_NUM})\s*(ms|s)\b")
_DONE_WORDS = frozenset({"done", "finished", "complete", "completed", "elapsed", "took"})
_DURATION = re.compile(
    rf"(?:\bin\s+|\b(?:elapsed|time|took)[=:]?\s*|\()({_NUM})\s*(ms|s)\b\)?|({_NUM})\s*(ms|s)\s+elapsed\b"
)
_TIMED_LABEL = re.compile(r"^[A-Za-z][\w\-.]*:?")
_TIMED_FIRST = re.compile(r"^(?:gptq|hessian)|hessian|calibrat", re.IGNORECASE)  # timing lines without "done"
# Hessian collection, calibration data, or a whole GPTQ pass (`gptq:calibrating …` then `gptq:done … time=…`);
# quantizing and compressing weights afterwards touch no data and are listed with the other segments
_CALIBRATION = re.compile(r"hessian|calibrat|collect|generat|^gptq:done$", re.IGNORECASE)
_NOT_FINAL = re.compile(r"^(?:periodic$|diagnostic|pre[-_]?quant|best_|post_ema|post_swa)")


@dataclass(frozen=True, slots=True)
class Score:
    """One reported evaluation: a stage name, its loss (nats/token) and bits per byte, and how long it took.

    `stage` is the line's name lower-cased, words joined by `_`, without `_exact` (then `exact` is true) and without
    settings such as `stride:64`: "final_int8_zlib_roundtrip", "legal_ttt", "quantized_ttt_phased",
    "ttt_sliding:done", "diagnostic_pre-quantization_post-ema". Validation during training is stage "periodic"
    with its `step`.
    """

    stage: str
    val_loss: float | None  # None where a line prints bpb only (`ppm_mixer val_bpb:…`)
    val_bpb: float
    eval_time_ms: float | None = None  # `eval_time:…ms`, `time:…ms` or `elapsed=…s` on the same line
    exact: bool = False
    step: int | None = None  # periodic scores only
    line: str = ""  # the log line, stripped


@dataclass(frozen=True, slots=True)
class Timing:
    """A timed segment the log reports after training: Hessian collection, decompression, compile warm-up ..."""

    stage: str  # the line's leading words, normalised like a score stage: "gptq:collected", "ttt_lora:compile_warmup"
    seconds: float
    line: str


@dataclass(frozen=True, slots=True)
class LogRun:
    """What one training run printed. Every field is None / empty / False when the log does not say."""

    file: str  # the name the caller gave
    index: int = 0  # position of the run in its file (0 for most files)
    seed: int | None = None
    steps_done: int | None = None
    steps_total: int | None = None
    step_avg_ms: float | None = None
    stopped_early: bool = False  # a `stopping_early` / `early_stop` line: the wall-clock cap ended training
    train_time_ms: float | None = None
    train_budget_ms: float | None = None  # `effective=…ms` of `gptq:reserving …`: the cap minus the reserve
    gptq_reserve_s: float | None = None  # `gptq:reserving 12s`, else the dumped `gptq_reserve_seconds`
    calibration_s: float | None = None  # the sum of `calibration`
    calibration: tuple[Timing, ...] = ()  # GPTQ / Hessian / calibration-data lines with a duration
    code_bytes: int | None = None  # `Code size: N bytes` or `Code size (uncompressed): N bytes`
    code_bytes_compressed: int | None = None  # `Code size (compressed): N bytes`
    model_bytes: int | None = None  # `Serialized model <total_label>: N bytes`
    total_bytes: int | None = None  # `Total submission size <label>: N bytes`
    total_label: str | None = None  # "int8+zlib", "quantized+brotli"; None for an unlabelled total
    val_tokens: int | None = None
    train_shards: int | None = None
    world_size: int | None = None
    gpus: tuple[str, ...] = ()  # one name per nvidia-smi GPU row: "NVIDIA H100 80GB HBM3"
    hardware: tuple[str, ...] = ()  # `Running Python/PyTorch …`, nvidia-smi header and GPU rows, stripped
    scores: tuple[Score, ...] = ()
    eval_times: tuple[Timing, ...] = ()  # other timed segments after training (no score lines), in log order
    total_eval_time_s: float | None = None  # `total_eval_time:508.8s`
    hparams: dict[str, str] = field(default_factory=dict, hash=False)  # the dump and `key:value` header lines
    # the line each value was read from, for evidence: "train_time", "total_bytes", "val_tokens", "train_shards"
    quotes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def best(self, stage: str) -> Score | None:
        """The last `_exact` score of `stage`, else its last score."""
        matching = [s for s in self.scores if s.stage == stage]
        exact = [s for s in matching if s.exact]
        return (exact or matching or [None])[-1]

    @property
    def stages(self) -> tuple[str, ...]:
        """Score stages in order of first appearance."""
        return tuple(dict.fromkeys(s.stage for s in self.scores))

    @property
    def final(self) -> Score | None:
        """The best score of the last stage printed that is neither periodic nor a diagnostic.

        A stage that only re-prints the numbers of an earlier stage (`final_int8_zlib_roundtrip_exact` after the
        sliding window, for legacy parsers) gives way to that earlier stage.
        """
        for score in reversed(self.scores):
            if not _NOT_FINAL.match(score.stage):
                best = cast(Score, self.best(score.stage))
                for earlier in self.scores:
                    if earlier.stage == score.stage:
                        break
                    repeated = (earlier.val_loss, earlier.val_bpb) == (best.val_loss, best.val_bpb)
                    if repeated and not _NOT_FINAL.match(earlier.stage):
                        return self.best(earlier.stage)
                return best
        return None

    @property
    def periodic(self) -> tuple[Score, ...]:
        return tuple(s for s in self.scores if s.stage == "periodic")


# ---------------------------------------------------------------------------------------------- API


def parse_log(text: str, name: str) -> tuple[LogRun, ...]:
    """The runs that `text` (a log called `name`) shows; empty when nothing in it looks like a run."""
    return _parse_lines(_printed_lines(text), name)


def parse_log_file(path: Path, name: str | None = None) -> tuple[LogRun, ...]:
    """The runs of the log at `path` (the first _MAX_BYTES read); OSError propagates."""
    with path.open("rb") as handle:
        data = handle.read(_MAX_BYTES)
    return parse_log(data.decode("utf-8", "replace"), name if name is not None else str(path))


def parse_logs(files: Mapping[str, str]) -> list[LogRun]:
    """Every run of every file (name -> text), files in name order; files without a run contribute nothing."""
    return [run for name in sorted(files) for run in parse_log(files[name], name)]


def printed_lines(handle: BinaryIO, max_lines: int) -> Iterator[str]:
    """The lines a log printed, skipping the copy of the source code that many scripts log first.

    The baseline logs its own code, then a line of '='; `x=y` keyword arguments in that code are not settings. When
    no separator ever closes what looked like code, those lines were output after all and are given back.
    """
    held: list[str] = []
    in_code = False
    for _ in range(max_lines):
        raw = handle.readline(_LOG_LINE_CHARS)
        if not raw:
            break
        line = raw.decode("utf-8", "replace")
        if in_code:
            held.append(line)
            if _SEPARATOR.match(line):
                in_code, held = False, []
        elif _CODE_START.match(line):
            in_code, held = True, [line]
        else:
            yield line
    yield from held


def _printed_lines(text: str) -> list[str]:
    """The lines the run printed (the logged copy of the source code skipped)."""
    return list(printed_lines(io.BytesIO(text.encode("utf-8", "replace")), _MAX_LINES))


# ---------------------------------------------------------------------------------------------- runs


def _parse_lines(lines: Iterable[str], name: str) -> tuple[LogRun, ...]:
    runs: list[LogRun] = []
    builder = _RunBuilder()
    for raw in lines:
        line = _PREFIX.sub("", raw.rstrip("\r\n"), count=1)
        if builder.started and _HEADER.match(line.strip()):
            runs.extend(builder.build(name, len(runs)))
            builder = _RunBuilder()
        builder.feed(line)
    runs.extend(builder.build(name, len(runs)))
    return _merge_repeats(runs)


def _merge_repeats(runs: list[LogRun]) -> tuple[LogRun, ...]:
    """Fold a run that repeats the one before it (a log file appended to captured stdout) into it."""
    merged: list[LogRun] = []
    for run in runs:
        if merged and _repeats(merged[-1], run):
            merged[-1] = _fill(merged[-1], run)
        else:
            merged.append(replace(run, index=len(merged)))
    return tuple(merged)


def _repeats(first: LogRun, second: LogRun) -> bool:
    """Same steps, train time and size (one of them known), and the results of one are among the other's.

    Only rank 0's log file is copied, so a copy can lack lines that other code printed to stdout.
    """
    key = (first.steps_done, first.train_time_ms, first.total_bytes)
    if key != (second.steps_done, second.train_time_ms, second.total_bytes):
        return False
    mine, theirs = _results(first), _results(second)
    if key == (None, None, None):
        return bool(mine) and mine == theirs
    return mine <= theirs or theirs <= mine


def _results(run: LogRun) -> set[tuple[str, float | None, float]]:
    return {(s.stage, s.val_loss, s.val_bpb) for s in run.scores if s.stage != "periodic"}


def _fill(first: LogRun, second: LogRun) -> LogRun:
    """`first` with the fields it lacks taken from `second`; the longer list of scores; hyper-parameters united."""
    updates: dict[str, object] = {}
    for name in LogRun.__dataclass_fields__:
        if name in ("file", "index", "hparams"):
            continue
        mine, theirs = getattr(first, name), getattr(second, name)
        if _absent(mine) and not _absent(theirs):
            updates[name] = theirs
    if len(_results(second)) > len(_results(first)):
        updates["scores"] = second.scores
    return replace(first, **updates, hparams={**second.hparams, **first.hparams})


def _absent(value: object) -> bool:
    return value is None or value is False or value == ()


class _RunBuilder:
    """Accumulates one run's facts line by line; `build` applies the first/last rules of the module docstring."""

    def __init__(self) -> None:
        self.started = False  # training output or results seen: a header line now starts the next run
        self.recognised = False
        self.seed_line: int | None = None
        self.seed_token: int | None = None
        self.step: int | None = None
        self.steps_total: int | None = None
        self.step_train_ms: float | None = None
        self.step_avg_ms: float | None = None
        self.stopped = False
        self.stop_step: int | None = None
        self.stop_total: int | None = None
        self.stop_train_ms: float | None = None
        self.reserve_s: float | None = None
        self.budget_ms: float | None = None
        self.code: int | None = None
        self.code_compressed: int | None = None
        self.totals: list[tuple[str | None, int]] = []
        self.models: list[tuple[str | None, int]] = []
        self.loose_code: int | None = None
        self.loose_total: int | None = None
        self.val_tokens: int | None = None
        self.train_shards: int | None = None
        self.world_size: int | None = None
        self.gpus: dict[int, str] = {}
        self.hardware: list[str] = []
        self.scores: list[Score] = []
        self.calibration: list[Timing] = []
        self.eval_times: list[Timing] = []
        self.total_eval_s: float | None = None
        self.hparams: dict[str, str] = {}
        self.in_dump = False
        self.quotes: dict[str, str] = {}  # field -> the line it was last read from
        self.total_quotes: dict[str | None, str] = {}  # total label -> its line

    # ----------------------------------------------------------------------------------------- lines

    def feed(self, line: str) -> None:
        if self.in_dump:
            if dump := _DUMP.match(line):
                self.hparams.setdefault(dump.group(1), (dump.group(2) or "").strip())
                return
            self.in_dump = False
        text = line.strip()
        if not text:
            return
        if _DUMP_START.match(text):
            self.in_dump = True
            return
        self._fingerprints(text)
        if self._score(text) or self._step(text) or self._stop(text):
            return
        if self._artifact(text) or self._timing(text) or self._hardware(text):
            return
        self._seed_and_header(text)

    def _fingerprints(self, text: str) -> None:
        """Data and world-size facts that share lines with other facts (`train_shards:80 val_tokens:…`)."""
        # every line passes here: a substring test first spares three regex searches on the ~all that lack the words
        if "val_" in text and (m := _VAL_TOKENS.search(text) or _VAL_LOADER_TOKENS.match(text)):
            self.val_tokens, self.quotes["val_tokens"] = _int(m.group(1)), text
        if "train_shards" in text and (m := _TRAIN_SHARDS.search(text)):
            self.train_shards, self.quotes["train_shards"] = _int(m.group(1)), text
        if "world_size" in text and (m := _WORLD_SIZE.search(text)):
            self.world_size = _int(m.group(1))

    def _seed_and_header(self, text: str) -> None:
        if m := _SEED_LINE.match(text):
            if self.seed_line is None:
                self.seed_line = _int(m.group(1))
            self.recognised = True
        elif self.seed_token is None and (m := _SEED_TOKEN.search(text)):
            self.seed_token = _int(m.group(1))
        if not self.started:  # `train_batch_tokens:786432 train_seq_len:2048 …` before training: settings
            tokens = text.split()
            pairs = [_HEADER_TOKEN.fullmatch(t) for t in tokens]
            if tokens and all(pairs):
                for pair in pairs:
                    key, value = cast(re.Match[str], pair).groups()
                    if not re.fullmatch(r"\d+/\d+", value):  # `warmup_step:3/20` is progress
                        self.hparams.setdefault(key, value)

    def _step(self, text: str) -> bool:
        m = _STEP.match(text)
        if m is None:
            return False
        self.started = self.recognised = True
        self.step, self.steps_total = _int(m.group(1)), _int(m.group(2))
        ms = _train_ms(text)
        if ms is not None:
            self.step_train_ms, self.quotes["step_train_time"] = ms, text
        if avg := _STEP_AVG.search(text):
            self.step_avg_ms = _float(avg.group(1))
        return True

    def _stop(self, text: str) -> bool:
        if not _STOP.match(text):
            return False
        self.started = self.recognised = self.stopped = True
        if (ms := _train_ms(text)) is not None:
            self.stop_train_ms, self.quotes["stop_train_time"] = ms, text
        if m := _STOP_STEP.search(text):
            self.stop_step, self.stop_total = _int(m.group(1)), _int(m.group(2))
        if m := _RESERVE.search(text):
            self.reserve_s = _float(m.group(1))
        return True

    def _artifact(self, text: str) -> bool:
        if m := _CODE.match(text):
            kind = (m.group(1) or "").lower()
            if "compress" in kind and "uncompress" not in kind:
                self.code_compressed = _int(m.group(2))
            else:
                self.code = _int(m.group(2))
            return True
        if m := _TOTAL.search(text):
            self.started = self.recognised = True
            if (value := _int(m.group(2))) is not None:
                self.totals.append((m.group(1), value))
                self.total_quotes[m.group(1)] = text
            return True
        if text.lower().startswith("gptq") and (m := _RESERVE.search(text)):
            self.reserve_s = _float(m.group(1))
            if m.group(2) is not None:
                self.budget_ms = _float(m.group(2))
            return True
        found = False
        if m := _MODEL.match(text):
            found = True
            if (value := _int(m.group(2))) is not None:
                self.models.append((m.group(1), value))
        if m := _SIZE_SUMMARY.search(text):
            found, self.loose_code, self.loose_total = True, _int(m.group(1)), _int(m.group(2))
            self.total_quotes.setdefault(None, text)
            self.started = self.recognised = True
        if m := _CODE_LOOSE.search(text):
            found, self.loose_code = True, _int((m.group(1) or m.group(2)).replace(",", ""))
        if m := _TOTAL_LOOSE.search(text):
            value = _int((m.group(2) or m.group(3)).replace(",", ""))
            if value is not None:
                found, self.loose_total = True, value
                self.total_quotes.setdefault(None, text)
                self.started = self.recognised = True
        return found

    def _score(self, text: str) -> bool:
        bpb = _BPB.search(text)
        if bpb is None:
            return False
        loss = _LOSS.search(text)
        cut = min(bpb.start(), loss.start()) if loss else bpb.start()
        stage, exact, step = _stage(text[:cut])
        value = _float(bpb.group(1))
        if stage is None or value is None:
            return False
        eval_ms = None
        if timed := _EVAL_TIME.search(text, cut):
            eval_ms = _ms(timed.group(1), timed.group(2))
        self.scores.append(Score(stage, _float(loss.group(1)) if loss else None, value, eval_ms, exact, step, text))
        if stage == "periodic":
            self.started = self.recognised = True
            if step is not None and (self.step is None or step >= self.step):
                self.step = step
                total = re.match(r"^(?:step[:\s]\s*)?\d+/(\d+)", text)
                self.steps_total = _int(total.group(1)) if total else self.steps_total
                if (ms := _train_ms(text)) is not None:
                    self.step_train_ms = ms
                if avg := _STEP_AVG.search(text):
                    self.step_avg_ms = _float(avg.group(1))
        else:
            self.started = self.recognised = True
        return True

    def _timing(self, text: str) -> bool:
        if m := _TOTAL_EVAL.match(text):
            self.total_eval_s = _seconds(m.group(1), m.group(2))
            self.started = True
            return True
        words = text.split()
        done = any(re.split(r"[=:(]", w.strip("():,."))[0].lower() in _DONE_WORDS for w in words)
        if not done and not _TIMED_FIRST.search(words[0]):
            return False
        if not _TIMED_LABEL.match(text):
            return False
        duration = _DURATION.search(text)
        if duration is None:
            return False
        number, unit = (duration.group(1), duration.group(2)) if duration.group(1) else duration.group(3, 4)
        seconds = _seconds(number, unit)
        if seconds is None:
            return False
        timing = Timing(_timed_stage(words), seconds, text)
        (self.calibration if _CALIBRATION.search(timing.stage) else self.eval_times).append(timing)
        return True

    def _hardware(self, text: str) -> bool:
        if m := _GPU_ROW.match(text):
            index = _int(m.group(1))
            if index is not None:
                self.gpus.setdefault(index, m.group(2).strip())
        elif not (_RUNNING.match(text) or _SMI_HEADER.match(text) or _HARDWARE_LOOSE.search(text)):
            return False
        if text not in self.hardware and len(self.hardware) < _MAX_HARDWARE:
            self.hardware.append(text)
        return True

    # ----------------------------------------------------------------------------------------- result

    def build(self, name: str, index: int) -> tuple[LogRun, ...]:
        """This run, or nothing when no seed, step, score, stop or size line was seen."""
        if not self.recognised:
            return ()
        train_ms = self.stop_train_ms if self.stop_train_ms is not None else self.step_train_ms
        steps_done = self.stop_step if self.stop_step is not None else self.step
        step_avg = self.step_avg_ms
        if step_avg is None and train_ms is not None and steps_done:
            step_avg = train_ms / steps_done
        labelled = [(label, value) for label, value in self.totals if label]
        loose: list[tuple[str | None, int | None]] = [(None, self.loose_total)]
        total_label, total = (labelled or self.totals or loose)[-1]
        models = [value for label, value in self.models if label == total_label] or [v for _, v in self.models]
        reserve = self.reserve_s if self.reserve_s is not None else _float(self.hparams.get("gptq_reserve_seconds"))
        seed = self.seed_line if self.seed_line is not None else _int(self.hparams.get("seed"))
        calibration = tuple(self.calibration)
        quotes = {k: v for k, v in self.quotes.items() if k in ("val_tokens", "train_shards")}
        train_quote = self.quotes.get("stop_train_time" if self.stop_train_ms is not None else "step_train_time")
        if train_quote:
            quotes["train_time"] = train_quote
        if total_label in self.total_quotes:
            quotes["total_bytes"] = self.total_quotes[total_label]
        return (
            LogRun(
                file=name,
                index=index,
                seed=seed if seed is not None else self.seed_token,
                steps_done=steps_done,
                steps_total=self.stop_total if self.stop_total is not None else self.steps_total,
                step_avg_ms=step_avg,
                stopped_early=self.stopped,
                train_time_ms=train_ms,
                train_budget_ms=self.budget_ms,
                gptq_reserve_s=reserve,
                calibration_s=round(sum(t.seconds for t in calibration), 6) if calibration else None,
                calibration=calibration,
                code_bytes=self.code if self.code is not None or self.code_compressed is not None else self.loose_code,
                code_bytes_compressed=self.code_compressed,
                model_bytes=models[-1] if models else None,
                total_bytes=total,
                total_label=total_label,
                val_tokens=self.val_tokens,
                train_shards=self.train_shards,
                world_size=self.world_size if self.world_size is not None else _int(self.hparams.get("world_size")),
                gpus=tuple(self.gpus[i] for i in sorted(self.gpus)),
                hardware=tuple(self.hardware),
                scores=tuple(self.scores),
                eval_times=tuple(self.eval_times),
                total_eval_time_s=self.total_eval_s,
                hparams=dict(self.hparams),
                quotes=quotes,
            ),
        )


# ---------------------------------------------------------------------------------------------- values


def _stage(prefix: str) -> tuple[str | None, bool, int | None]:
    """(normalised stage, exact, step) from the text before `val_loss`; stage None when it is not a log line."""
    if periodic := _PERIODIC.match(prefix.strip(" :,|")):
        return "periodic", False, _int(periodic.group(1))
    words = [w for w in prefix.replace("|", " ").split() if not _SETTING.match(w)]
    raw = " ".join(words).strip(" :,-")
    if not raw:
        return "score", False, None
    if not _STAGE_CHARS.match(raw):  # quotes, parentheses, braces: code, not a log line
        return None, False, None
    stage = re.sub(r":\s+", ":", raw).lower().replace(" ", "_")
    exact = stage.endswith("_exact")
    return (stage[: -len("_exact")] if exact else stage), exact, None


def _timed_stage(words: list[str]) -> str:
    """The leading words of a timing line up to a number, a setting or a word such as `done`."""
    kept: list[str] = []
    for word in words:
        if re.search(r"\d|[=(]", word) or word.lower() in _DONE_WORDS or word in ("in", "-", "|"):
            break
        kept.append(word)
    stage = re.sub(r":_+", ":", "_".join(kept).lower()).strip(":_")
    return stage or words[0].strip(":").lower()


def _train_ms(text: str) -> float | None:
    if m := _TRAIN_TIME.search(text):
        return _ms(m.group(1), m.group(2))
    if m := _STEP_T.search(text):
        return _float(m.group(1))
    if m := _ELAPSED_MS.search(text):
        hours, minutes, seconds = m.groups()
        total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
        return total * 1000.0
    return None


def _ms(number: str, unit: str) -> float | None:
    value = _float(number)
    if value is None:
        return None
    return value * {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "min": 60_000.0}[unit]


def _seconds(number: str, unit: str) -> float | None:
    ms = _ms(number, unit)
    return None if ms is None else ms / 1000.0


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    if text is None or len(text) > 30:
        return None
    try:
        return int(text)
    except ValueError:
        return None
