"""Measure what a full audit costs relative to parsing alone (goal: audit <= 3x `libcst.parse_module`).

    python scripts/bench_speed.py DIR_OR_FILE... [--repeat 3]

A directory is searched recursively for `train_gpt.py`; files are taken as given. Per file, the code the audit
analyses (after unwrapping exec shims) is parsed with `libcst.parse_module`, and the file is audited with
`auditor.api.audit_path`; each timing is the minimum of --repeat runs of `time.perf_counter`. Prints medians over
the files, the median-size file on its own, libcst's stock MetadataWrapper (Scope + Parent + Position providers)
on that file for comparison, the wall time of one pass over every file in one process, and whether torch got
imported. Nothing is hard-coded: numbers depend on the machine and on the files given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider, ScopeProvider

from auditor.api import audit_path
from auditor.load.errors import InputError, Unanalyzable
from auditor.load.source import load

GOAL = 3.0  # audit time / parse time


@dataclass(frozen=True)
class Sample:
    path: Path
    size: int  # bytes of the analysed code (the inner code of a shim)
    parse: float  # seconds, min over repeats
    audit: float

    @property
    def ratio(self) -> float:
        return self.audit / self.parse if self.parse else float("inf")


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def collect(targets: list[Path]) -> list[Path]:
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            files.extend(sorted(target.rglob("train_gpt.py")))
        elif target.is_file():
            files.append(target)
        else:
            sys.exit(f"bench_speed: no such file or directory: {target}")
    return files


def analysed_code(path: Path) -> str | None:
    """The code the audit parses, or None when the file is not analysable (it is then left out of the ratios)."""
    try:
        code = load(str(path)).code
        cst.parse_module(code)
    except (InputError, Unanalyzable, cst.ParserSyntaxError, RecursionError):
        return None
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", type=Path, metavar="DIR_OR_FILE")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the minimum is kept")
    args = parser.parse_args()
    files = collect(args.targets)
    if not files:
        sys.exit("bench_speed: no train_gpt.py found")

    # One pass over every file in one process, as a CI run or the dev-set evaluation would do it (cold caches).
    start = time.perf_counter()
    for path in files:
        try:
            audit_path(str(path))
        except InputError:
            pass
    total_wall = time.perf_counter() - start

    samples: list[Sample] = []
    skipped = 0
    for path in files:
        code = analysed_code(path)
        if code is None:
            skipped += 1
            continue
        parse = best_of(args.repeat, lambda: cst.parse_module(code))
        audit = best_of(args.repeat, lambda: audit_path(str(path)))
        samples.append(Sample(path, len(code.encode("utf-8", "surrogatepass")), parse, audit))
    if not samples:
        sys.exit("bench_speed: none of the files could be parsed")

    parse_median = statistics.median(s.parse for s in samples)
    audit_median = statistics.median(s.audit for s in samples)
    ratios = sorted(samples, key=lambda s: s.ratio)
    by_size = sorted(samples, key=lambda s: s.size)
    mid = by_size[(len(by_size) - 1) // 2]
    mid_code = load(str(mid.path)).code
    mid_module = cst.parse_module(mid_code)
    providers = (ScopeProvider, ParentNodeProvider, PositionProvider)
    metadata = best_of(args.repeat, lambda: MetadataWrapper(mid_module).resolve_many(providers))

    def verdict(ratio: float) -> str:
        return "meets" if ratio <= GOAL else "misses"

    print(
        f"files: {len(files)} found, {len(samples)} measured, {skipped} not parsable (left out); "
        f"each timing is the min of {args.repeat} runs"
    )
    print(
        f"median over files:  parse {parse_median * 1e3:8.1f} ms   audit {audit_median * 1e3:8.1f} ms   "
        f"ratio {audit_median / parse_median:5.2f}x ({verdict(audit_median / parse_median)} the {GOAL:g}x goal)"
    )
    print(
        f"per-file ratio:     median {statistics.median(s.ratio for s in samples):5.2f}x   "
        f"min {ratios[0].ratio:5.2f}x   max {ratios[-1].ratio:5.2f}x ({ratios[-1].path})"
    )
    print(f"median-size file:   {mid.path} ({mid.size:,} bytes of code)")
    print(f"  parse_module      {mid.parse * 1e3:8.1f} ms")
    print(f"  audit_path        {mid.audit * 1e3:8.1f} ms   ratio {mid.ratio:5.2f}x ({verdict(mid.ratio)} the goal)")
    print(
        f"  stock MetadataWrapper, Scope+Parent+Position resolved (parse excluded) "
        f"{metadata * 1e3:8.1f} ms = {metadata / mid.parse:5.2f}x parse"
    )
    print(
        f"one pass, all {len(files)} files audited in one process: {total_wall:.2f} s; "
        f"torch imported: {'torch' in sys.modules}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
