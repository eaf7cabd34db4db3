"""`pgolf-audit compare OLD NEW`: per-seed results of two submissions and the significance of NEW's gain.

The gain is in nats per token (val_loss), as the challenge states its 0.005-nat bar; the test is one-sided Welch
(NEW's mean loss below OLD's minus the bar), with p reported against 0.01 (record) and 0.25 (progression).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from auditor.catalog import load_catalog
from auditor.load.errors import InputError
from auditor.model import RunSummary
from auditor.record import stats
from auditor.record.facts import summarise
from auditor.record.folder import read_folder


@dataclass(frozen=True)
class Side:
    label: str
    runs: tuple[RunSummary, ...]

    @property
    def losses(self) -> list[float]:
        return [r.val_loss for r in self.runs if r.val_loss is not None]

    @property
    def bpbs(self) -> list[float]:
        return [r.val_bpb for r in self.runs if r.val_bpb is not None]


@dataclass(frozen=True)
class Comparison:
    old: Side
    new: Side
    required_nats: float
    gain_nats: float | None
    test: stats.TTest | None
    p_record: float
    p_progression: float


def read_side(path: str) -> Side:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"no such folder: {path}")
    runs = tuple(summarise(run) for run in read_folder(folder).runs if run.final is not None)
    if not runs:
        raise InputError(f"{path}: no run with a final score in its logs")
    return Side(folder.name or str(folder), runs)


def compare(old: Side, new: Side) -> Comparison:
    options = load_catalog()["seeds-significance"].options
    required = float(options.get("min_gain_nats", 0.005))
    gain = test = None
    if old.losses and new.losses:
        gain = stats.mean(old.losses) - stats.mean(new.losses)
        test = stats.welch(new.losses, [x - required for x in old.losses], "less")
    return Comparison(old, new, required, gain, test, float(options.get("p_record", 0.01)),
                      float(options.get("p_progression", 0.25)))


def _side_rows(side: Side) -> list[str]:
    rows = [f"{side.label}:", f"  {'seed':>8}  {'val_bpb':>10}  {'val_loss':>10}  log"]
    for run in side.runs:
        loss = f"{run.val_loss:.6f}" if run.val_loss is not None else "–"
        rows.append(f"  {run.seed or '?':>8}  {run.val_bpb:>10.6f}  {loss:>10}  {run.log}")
    spread = f" ± {stats.std(side.bpbs):.6f}" if len(side.bpbs) > 1 else ""
    rows.append(f"  {'mean':>8}  {stats.mean(side.bpbs):>10.6f}{spread}")
    return rows


def render_text(c: Comparison) -> str:
    rows = _side_rows(c.old) + [""] + _side_rows(c.new) + [""]
    if c.gain_nats is None or c.test is None:
        rows.append("No val_loss in one of the folders' logs: the gain in nats cannot be computed.")
        return "\n".join(rows) + "\n"
    rows.append(f"gain: {c.gain_nats:+.5f} nats/token ({c.new.label} vs {c.old.label}); required {c.required_nats}")
    if math.isnan(c.test.p):
        rows.append("p: not computable (fewer than 2 runs or no spread)")
    else:
        rows.append(f"one-sided Welch t = {c.test.t:.3f}, df = {c.test.df:.1f}, p = {c.test.p:.4g}")
        rows.append(f"record (p < {c.p_record}): {'yes' if c.test.p < c.p_record else 'no'}; "
                    f"progression (p < {c.p_progression}): {'yes' if c.test.p < c.p_progression else 'no'}")
    return "\n".join(rows) + "\n"


def render_json(c: Comparison) -> str:
    def side(s: Side) -> dict:
        return {"label": s.label, "runs": [{"seed": r.seed, "val_bpb": r.val_bpb, "val_loss": r.val_loss,
                                            "log": r.log} for r in s.runs],
                "mean_bpb": stats.mean(s.bpbs), "mean_loss": stats.mean(s.losses) if s.losses else None}

    finite = c.test is not None and not math.isnan(c.test.p)
    doc = {"old": side(c.old), "new": side(c.new), "gain_nats": c.gain_nats, "required_nats": c.required_nats,
           "t": c.test.t if finite else None, "df": c.test.df if finite else None,
           "p": c.test.p if finite else None, "p_record": c.p_record, "p_progression": c.p_progression}
    return json.dumps(doc, indent=2) + "\n"
