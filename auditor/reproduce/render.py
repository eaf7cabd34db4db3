"""The reproduction report as markdown (for a PR comment or a file) and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from auditor.reproduce.compare import Reproduction


def _num(value: float | int | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def markdown(rep: Reproduction) -> str:
    lines = [f"### pgolf-audit reproduction — {rep.target}", ""]
    ours = f"{_num(rep.mean_bpb, '.4f')} ± {_num(rep.std_bpb, '.4f')}" if rep.mean_bpb is not None else "—"
    claimed = (f"{_num(rep.claimed_mean_bpb, '.4f')}" + (f" ± {rep.claimed_std_bpb:.4f}"
               if rep.claimed_std_bpb else "")) if rep.claimed_mean_bpb is not None else "not claimed"
    lines += [f"**Verdict:** {rep.verdict.value.upper()} · **val_bpb:** {ours} over {len(rep.rows)} seed(s) · "
              f"**claimed:** {claimed}" + (f" · **tolerance:** {rep.tolerance:.4f}" if rep.tolerance else ""), ""]
    lines += [f"Command: `{rep.command}`", f"Hardware: {', '.join(rep.hardware) if rep.hardware else 'not logged'}",
              ""]
    lines += ["| seed | val_bpb | claimed | Δ | stage | steps (claimed) | step ms | train s | eval s | bytes "
              "(claimed) | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep.rows:
        lines.append(
            f"| {r.seed} | {_num(r.val_bpb, '.4f')} | {_num(r.claimed_bpb, '.4f')} | {_num(r.delta, '+.4f')} | "
            f"{r.stage or '—'} | {_num(r.steps, 'd')} ({_num(r.claimed_steps, 'd')}) | {_num(r.step_avg_ms, '.1f')} | "
            f"{_num(r.train_s, '.1f')} | {_num(r.eval_s, '.1f')} | {_num(r.bytes_total, ',d')} "
            f"({_num(r.claimed_bytes, ',d')}) | {r.wall_s:.0f} |")
    lines += ["", "**Why:**", *[f"- {reason}" for reason in rep.reasons], ""]
    return "\n".join(lines)


def to_json(rep: Reproduction) -> str:
    doc = asdict(rep)
    doc["verdict"] = rep.verdict.value
    for row, data in zip(rep.rows, doc["rows"]):
        data["delta"] = row.delta
    return json.dumps(doc, indent=1)
