"""Overhead of the runtime tracer: the same toy submission run untraced and traced (ledger on), same shims.

    python scripts/bench_trace.py [SCRIPT...] [--repeat N] [--device cpu|cuda] [--out FILE.json]

Defaults to the toy score-first TTT submission (fixtures/trace/legal_score_first_ttt.py). Each run is a fresh
subprocess (interpreter + torch import included, as in `pgolf-audit trace`); the table shows the minimum over
--repeat runs and the ratio traced / untraced (goal: at most 3x). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "fixtures" / "trace" / "legal_score_first_ttt.py"
GOAL = 3.0


def measure(script: Path, data, device: str, repeat: int) -> dict:
    from auditor.trace.runner import RunConfig, run

    times = {}
    for traced in (False, True):
        walls = []
        for _ in range(repeat):
            result = run(script, data, RunConfig(device=device, traced=traced, timeout=600))
            if not result.ok:
                raise SystemExit(f"bench_trace: {script} failed ({'traced' if traced else 'untraced'}): "
                                 f"{result.reason}\n{result.tail}")
            walls.append(result.wall)
        times["traced" if traced else "untraced"] = min(walls)
    times["ratio"] = times["traced"] / times["untraced"]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from auditor.trace.runner import dataset

    data = dataset()
    rows = {str(s): measure(s, data, args.device, args.repeat) for s in args.scripts}
    print(f"{'script':<60} {'untraced s':>10} {'traced s':>9} {'ratio':>6}")
    for name, t in rows.items():
        print(f"{name[-60:]:<60} {t['untraced']:>10.2f} {t['traced']:>9.2f} {t['ratio']:>5.2f}x")
    worst = max(t["ratio"] for t in rows.values())
    print(f"worst ratio {worst:.2f}x (goal <= {GOAL:g}x): {'ok' if worst <= GOAL else 'OVER'}")
    if args.out:
        args.out.write_text(json.dumps({"device": args.device, "repeat": args.repeat, "runs": rows}, indent=2))
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
