"""Trace real challenge submissions at toy scale (the GPU experiment of issue #5), in two steps:

    # 1. where the bare mirror is: copy the five cases out of it (real PR code: never commit the folder)
    python scripts/trace_real.py extract --mirror /work/.mirror/openai+parameter-golf/repo \\
        --labels ../shared/eval/dev.jsonl --into shared/trace_real_cases
    # 2. on the GPU machine (or on CPU with --device cpu): trace each case, print a table, write JSON
    python scripts/trace_real.py run --cases shared/trace_real_cases --device cuda --out trace_real.json
    # (--only baseline,legal-ttt-549 runs a subset: split the cases when one command may not exceed 10 minutes)

Cases: the naive baseline (main:train_gpt.py), the legal score-first TTT record of 2026-03-23 (#549 on main), and
three illegal PRs of different rules from the dev labels (pre-quant TTT #462, target-in-hash n-gram cache #779,
two-pass rescore #991). `run` needs torch, numpy, sentencepiece, libcst and rich importable (PYTHONPATH=. is
enough from the repository root; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAIN_CASES = {
    "baseline": ("main", "train_gpt.py", ["clean"]),
    "legal-ttt-549": ("main", "records/track_10min_16mb/2026-03-23_LeakyReLU_LegalTTT_ParallelMuon", ["clean"]),
}
PR_CASES = {"prequant-ttt": 462, "target-in-hash": 779, "rescore": 991}
SIZE_LIMIT = 5_000_000


def _git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], check=True, capture_output=True).stdout


def _copy(mirror: Path, ref: str, path: str, into: Path) -> None:
    """A file, or every small file of a folder, at ref -> into/ (flat, like a records folder)."""
    kind = _git(mirror, "cat-file", "-t", f"{ref}:{path}").decode().strip()
    into.mkdir(parents=True, exist_ok=True)
    if kind == "blob":
        (into / Path(path).name).write_bytes(_git(mirror, "show", f"{ref}:{path}"))
        return
    for line in _git(mirror, "ls-tree", "-l", ref, f"{path}/").decode().splitlines():
        meta, name = line.split("\t", 1)
        size = meta.split()[3]
        if meta.split()[1] == "blob" and size.isdigit() and int(size) <= SIZE_LIMIT:
            (into / Path(name).name).write_bytes(_git(mirror, "show", f"{ref}:{name}"))


def extract(mirror: Path, labels: Path, into: Path) -> None:
    rows = {json.loads(line)["pr"]: json.loads(line) for line in labels.read_text().splitlines() if line.strip()}
    manifest = {}
    for name, (ref, path, expect) in MAIN_CASES.items():
        _copy(mirror, ref, path, into / name)
        manifest[name] = {"ref": ref, "path": path, "expect": expect}
    for rule, pr in PR_CASES.items():
        row = rows[pr]
        folder = str(Path(row["path"]).parent) if "/" in row["path"] else row["path"]
        _copy(mirror, row["ref"], folder, into / f"{rule}-{pr}")
        manifest[f"{rule}-{pr}"] = {"ref": row["ref"], "path": folder, "expect": row["rules"]}
    (into / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"extracted {len(manifest)} cases into {into}")


def run_cases(cases: Path, device: str, timeout: float, probes: bool, out: Path | None, only: str) -> int:
    from auditor import __version__
    from auditor.model import Report
    from auditor.render.json import document
    from auditor.trace.api import trace_path
    from auditor.trace.runner import RunConfig, dataset

    manifest = json.loads((cases / "manifest.json").read_text())
    if only:
        manifest = {k: v for k, v in manifest.items() if k in only.split(",")}
    data = dataset()
    config = RunConfig(device=device, timeout=timeout)
    table, results = [], []
    for name, meta in manifest.items():
        start = time.perf_counter()
        result = trace_path(str(cases / name), data, config, probes=probes)
        results.append(result)
        runtime = sorted({f.rule for f in result.findings if f.origin in ("runtime", "both")})
        static = sorted({f.rule for f in result.findings if f.origin in ("static", "both")})
        table.append((name, ",".join(meta["expect"]), result.verdict.value, ",".join(runtime) or "-",
                      ",".join(static) or "-", time.perf_counter() - start, "; ".join(result.runtime[:2])))
    print(f"{'case':<22} {'expected':<40} {'verdict':<13} {'runtime':<28} {'static':<28} {'wall s':>7}")
    for row in table:
        print(f"{row[0]:<22} {row[1][:40]:<40} {row[2]:<13} {row[3][:28]:<28} {row[4][:28]:<28} {row[5]:>7.1f}")
        print(f"{'':<22} {row[6]}")
    if out:
        report = Report("pgolf-audit", __version__, "scripts/trace_real.py run", tuple(results))
        out.write_text(json.dumps({"device": device, "table": table, "report": document(report)}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ext = sub.add_parser("extract")
    ext.add_argument("--mirror", type=Path, required=True)
    ext.add_argument("--labels", type=Path, required=True)
    ext.add_argument("--into", type=Path, required=True)
    run = sub.add_parser("run")
    run.add_argument("--cases", type=Path, required=True)
    run.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    run.add_argument("--timeout", type=float, default=540.0, help="per run of a script")
    run.add_argument("--no-probe", action="store_true")
    run.add_argument("--out", type=Path)
    run.add_argument("--only", default="", help="comma-separated case names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract(args.mirror, args.labels, args.into)
        return 0
    return run_cases(args.cases, args.device, args.timeout, not args.no_probe, args.out, args.only)


if __name__ == "__main__":
    sys.exit(main())
