"""How far the tracer's shims get on real submissions, and what it finds: trace every (or a sample of the)
labelled dev-set scripts at toy scale and tabulate.

    python scripts/trace_devset.py --index PATH/TO/pg-dev/index.jsonl [--prs 549,462,...] [--limit N]
        [--device cpu|cuda] [--timeout S] [--probe] [--out FILE.json]

Per script: whether the run completed (else the first line of the reason), wall time, the shims it needed, the
rules the runtime trace reported and the labelled rules. The dev-set code is read in place, never copied here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--prs", default="", help="comma-separated PR numbers (default: all)")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from auditor.trace.api import trace_path
    from auditor.trace.runner import RunConfig, dataset

    rows = [json.loads(line) for line in args.index.read_text().splitlines() if line.strip()]
    if args.prs:
        wanted = {int(p) for p in args.prs.split(",")}
        rows = [r for r in rows if r["pr"] in wanted]
    if args.limit:
        rows = rows[: args.limit]
    data = dataset()
    config = RunConfig(device=args.device, timeout=args.timeout)
    out = []
    for row in rows:
        folder = args.index.parent / str(row["pr"])
        start = time.perf_counter()
        result = trace_path(str(folder), data, config, probes=args.probe)
        runtime = sorted({f.rule for f in result.findings if f.origin in ("runtime", "both")})
        ran = not any(line.startswith("reason: ") for line in result.runtime)
        status = "ran" if ran else next(line for line in result.runtime if line.startswith("reason: "))[8:]
        shims = next((line[7:] for line in result.runtime if line.startswith("shims: ")), "")
        entry = {
            "pr": row["pr"], "labels": row.get("rules", []), "label_verdict": row.get("verdict"),
            "verdict": result.verdict.value, "runtime_rules": runtime, "status": status,
            "wall": round(time.perf_counter() - start, 1), "shims": shims,
        }
        out.append(entry)
        print(f"#{entry['pr']:<5} {entry['wall']:>6.1f}s {entry['label_verdict'] or '-':<8} "
              f"labels={','.join(entry['labels']) or '-':<40} runtime={','.join(runtime) or '-':<30} "
              f"{status[:100]}", flush=True)
    ran = sum(e["status"] == "ran" for e in out)
    print(f"{ran}/{len(out)} scripts ran to the end at toy scale on {args.device}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
