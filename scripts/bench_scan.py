"""Benchmark `pgolf-audit scan`: cold scan vs the libcst parse-only floor on the same distinct scripts and cores,
then the warm scan; peak memory of the whole process tree for each.

    python scripts/bench_scan.py --git /path/to/mirror.git [--refs 'refs/pull/*/head'] [--base main] [--jobs N]
    python scripts/bench_scan.py DIR [--jobs N] [--out bench.json]

1. cold: `python -m auditor scan ...` with an empty cache directory (every distinct folder audited once);
2. floor: `libcst.parse_module` alone on each distinct training script the cold scan audited (deduplicated by
   content), in a pool of the same number of processes; a second CPU figure counts, for self-extracting wrappers,
   the code inside (which the audit parses) instead of the few KB of base85 shipped;
3. warm: the same scan again with the cache the cold run filled.
Prints a table (and writes JSON with --out): wall and CPU time (user + system of every process, workers included)
of each phase. The machine's load average is printed too: other work on the same cores stretches wall times, so on a
shared machine the CPU ratio is the steadier comparison.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.scan.engine import default_jobs  # noqa: E402
from auditor.scan.gitrepo import Objects  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*")
    parser.add_argument("--git")
    parser.add_argument("--refs", action="append", help="refs to scan (repeatable; default refs/pull/*/head)")
    parser.add_argument("--base", default="main")
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="cache to fill (must not exist yet; default: a temporary one)")
    args = parser.parse_args()
    if bool(args.git) == bool(args.dirs):
        parser.error("give DIR... or --git REPO")
    ref_args = [arg for pattern in args.refs or ["refs/pull/*/head"] for arg in ("--refs", pattern)]
    target = ["--git", args.git, *ref_args, "--base", args.base] if args.git else list(args.dirs)
    load_before = os.getloadavg()
    if args.cache_dir and args.cache_dir.exists():
        parser.error(f"{args.cache_dir} exists: the cold scan needs an empty cache")
    with tempfile.TemporaryDirectory(prefix="pgolf-bench-") as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        cache = args.cache_dir or Path(tmp) / "cache"
        command = [sys.executable, "-m", "auditor", "scan", *target, "--jobs", str(args.jobs), "--quiet"]
        command += ["--cache-dir", str(cache), "--format", "jsonl", "--exit-zero"]
        cold_wall, cold_cpu, cold_peak = measure(command, rows_file)
        rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
        scripts = distinct_scripts(rows, args.git)
        floor_wall, floor_cpu, floor_failed = parse_floor(scripts, args.jobs)
        shipped, inner = wrapped_code(rows, scripts)
        _, shipped_cpu, _ = parse_floor(shipped, args.jobs)
        _, inner_cpu, _ = parse_floor(inner, args.jobs)
        wrapped_floor_cpu = floor_cpu - shipped_cpu + inner_cpu
        warm_wall, _, warm_peak = measure(command, rows_file)
    load_after = os.getloadavg()
    verdicts = Counter(row["verdict"] for row in rows if row["status"] != "no-submission")
    per_ref = Counter(worst([r["verdict"] for r in rows if (r["ref"] or r["id"]) == ref]) for ref in refs(rows))
    doc = {
        "jobs": args.jobs,
        "targets": len(refs(rows)),
        "folders": sum(verdicts.values()),
        "distinct_folders": len({row["key"] for row in rows if row["key"]}),
        "distinct_scripts": len(scripts),
        "script_bytes": sum(len(code) for code in scripts.values()),
        "cold_s": round(cold_wall, 1),
        "floor_s": round(floor_wall, 1),
        "floor_cpu_s": round(floor_cpu, 1),
        "floor_parse_failures": floor_failed,
        "cold_over_floor": round(cold_wall / floor_wall, 2) if floor_wall else None,
        "cold_cpu_s": round(cold_cpu, 1),
        "cold_cpu_over_floor_cpu": round(cold_cpu / floor_cpu, 2) if floor_cpu else None,
        "wrappers": len(inner),
        "wrapped_floor_cpu_s": round(wrapped_floor_cpu, 1),
        "cold_cpu_over_wrapped_floor_cpu": round(cold_cpu / wrapped_floor_cpu, 2) if wrapped_floor_cpu else None,
        "warm_s": round(warm_wall, 2),
        "cold_peak_mb": round(cold_peak / 2**20),
        "warm_peak_mb": round(warm_peak / 2**20),
        "verdicts_per_folder": dict(verdicts),
        "verdicts_per_target": dict(per_ref),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }
    print_table(doc)
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------- measuring


def measure(command: list[str], stdout: Path) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system, the whole tree) and peak summed resident memory of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with stdout.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, cwd=ROOT)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                peak[0] = max(peak[0], tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
    if code not in (0, 1):
        raise SystemExit(f"scan failed with exit code {code}: {' '.join(command)}")
    return wall, cpu_since(before), peak[0]


def cpu_since(before: resource.struct_rusage) -> float:
    """CPU seconds of waited-for descendants since BEFORE (pool workers roll up into the process that waits)."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def distinct_scripts(rows: list[dict], repo: str | None) -> dict[str, str]:
    """sha256 -> source text of each distinct training script the scan audited."""
    wanted: dict[str, tuple[str | None, str]] = {}
    for row in rows:
        if row.get("sha256") and row.get("script"):
            wanted.setdefault(row["sha256"], (row["commit"], row["script"]))
    scripts: dict[str, str] = {}
    if repo:
        with Objects(Path(repo)) as objects:
            for sha, (commit, path) in wanted.items():
                kind, data = objects.read(f"{commit}:{path}")
                if kind == "blob":
                    scripts[sha] = data.decode("utf-8", "replace")
    else:
        for sha, (_, path) in wanted.items():
            scripts[sha] = Path(path).read_bytes().decode("utf-8", "replace")
    return scripts


def wrapped_code(rows: list[dict], scripts: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The self-extracting wrappers among the scripts, as shipped and as the code the audit parses inside them.

    The floor parses what is shipped (a few KB of base85 for a wrapper); the audit must parse the code it carries.
    """
    from auditor.load.errors import Unanalyzable
    from auditor.load.unwrap import unwrap

    shipped: dict[str, str] = {}
    inner: dict[str, str] = {}
    for sha in {row["sha256"] for row in rows if row.get("wrapper") and row.get("sha256") in scripts}:
        try:
            inner[sha] = unwrap(scripts[sha], script=Path(tempfile.gettempdir()) / "train_gpt.py").code
        except Unanalyzable:
            continue
        shipped[sha] = scripts[sha]
    return shipped, inner


def _parse(code: str) -> tuple[float, bool]:
    import libcst

    start = time.perf_counter()
    try:
        libcst.parse_module(code)
        ok = True
    except Exception:  # noqa: BLE001 - a script libcst rejects still took its time
        ok = False
    return time.perf_counter() - start, ok


def parse_floor(scripts: dict[str, str], jobs: int) -> tuple[float, float, int]:
    """Wall time of parsing every script once in JOBS spawned processes (largest first), summed CPU, failures."""
    codes = sorted(scripts.values(), key=len, reverse=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_parse, codes, chunksize=1))
    return time.perf_counter() - start, cpu_since(before), sum(1 for _, ok in results if not ok)


def refs(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["ref"] or row["id"] for row in rows))


ORDER = ("illegal", "unanalyzable", "error", "needs-review", "clean", "no-submission")


def worst(verdicts: list[str]) -> str:
    return min(verdicts, key=ORDER.index)


def print_table(doc: dict) -> None:
    print(f"targets {doc['targets']} · records folders {doc['folders']} · distinct folders {doc['distinct_folders']}")
    print(
        f"distinct training scripts {doc['distinct_scripts']} ({doc['script_bytes'] / 1e6:.1f} MB) · jobs {doc['jobs']}"
    )
    print(f"{'measure':<34}{'value':>12}")
    print(f"{'cold scan (s)':<34}{doc['cold_s']:>12}")
    print(f"{'parse-only floor (s)':<34}{doc['floor_s']:>12}")
    print(f"{'cold / floor (wall)':<34}{doc['cold_over_floor']!s:>12}")
    print(f"{'cold CPU (s, all processes)':<34}{doc['cold_cpu_s']:>12}")
    print(f"{'floor CPU (s, all processes)':<34}{doc['floor_cpu_s']:>12}")
    print(f"{'cold / floor (CPU)':<34}{doc['cold_cpu_over_floor_cpu']!s:>12}")
    print(f"{'floor CPU, wrapped code (s)':<34}{doc['wrapped_floor_cpu_s']:>12}")
    print(f"{'cold / that floor (CPU)':<34}{doc['cold_cpu_over_wrapped_floor_cpu']!s:>12}")
    print(f"{'warm scan (s)':<34}{doc['warm_s']:>12}")
    print(f"{'cold peak memory (MB, tree)':<34}{doc['cold_peak_mb']:>12}")
    print(f"{'warm peak memory (MB, tree)':<34}{doc['warm_peak_mb']:>12}")
    print(f"verdicts per folder: {doc['verdicts_per_folder']}")
    print(f"verdicts per target (worst folder): {doc['verdicts_per_target']}")
    print(f"load average before {doc['loadavg_before']} after {doc['loadavg_after']}")


if __name__ == "__main__":
    sys.exit(main())
