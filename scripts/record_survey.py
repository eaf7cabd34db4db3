"""Run the record review over every records folder below ROOT and report what it parsed and found.

    python scripts/record_survey.py ROOT [--json OUT]

ROOT is a checkout's `records/` (or any folder holding records folders, e.g. an extracted dev set). Prints the
number of folders and runs, the folders where no run was found (and why), and every claims-match / record finding
at needs-review or above with its folder, so a reviewer can check each discrepancy against the logs.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from auditor.api import audit_path
from auditor.catalog import load_catalog
from auditor.load.errors import InputError


def record_folders(root: Path) -> list[Path]:
    """Folders that hold a submission.json or a training script, deepest first wins (no nesting)."""
    found = sorted({p.parent for pattern in ("submission.json", "train_gpt.py") for p in root.rglob(pattern)})
    return [f for f in found if not any(o != f and o in f.parents for o in found)]


def survey(root: Path) -> dict:
    record_rules = {r for r, spec in load_catalog().items() if spec.kind == "record"}
    rows, errors = [], []
    for folder in record_folders(root):
        try:
            result = audit_path(str(folder))
        except InputError as exc:
            errors.append({"folder": str(folder.relative_to(root)), "error": str(exc)})
            continue
        record = result.record
        runs = record.runs if record else ()
        rows.append({
            "folder": str(folder.relative_to(root)),
            "runs": len(runs),
            "scored": sum(r.val_bpb is not None for r in runs),
            "logs": sorted({r.log.split("#")[0] for r in runs}),
            "no_run_reason": _no_run_reason(folder) if not runs else None,
            "findings": [{"rule": f.rule, "severity": f.severity.value, "path": f.path, "message": f.message}
                         for f in result.findings if f.rule in record_rules],
        })
    return {"root": str(root), "folders": rows, "errors": errors}


def _no_run_reason(folder: Path) -> str:
    texts = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", "")]
    if not texts:
        return "no log file in the folder"
    return f"{len(texts)} text file(s), none prints a seed, step, score or size line"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--json", type=Path, help="write the full survey here")
    args = parser.parse_args()
    data = survey(args.root)
    rows = data["folders"]
    tally = collections.Counter((f["rule"], f["severity"]) for r in rows for f in r["findings"])
    print(f"{len(rows)} folders, {sum(r['runs'] for r in rows)} runs ({sum(r['scored'] for r in rows)} with a final "
          f"score); {len(data['errors'])} input errors")
    for row in rows:
        if not row["runs"]:
            print(f"  no run: {row['folder']}: {row['no_run_reason']}")
    for error in data["errors"]:
        print(f"  error: {error['folder']}: {error['error']}")
    print("findings by rule and severity:")
    for (rule, severity), n in sorted(tally.items()):
        print(f"  {rule:28} {severity:13} {n}")
    print("discrepancies and limits at needs-review or above:")
    for row in rows:
        for f in row["findings"]:
            if f["severity"] != "info":
                print(f"  {row['folder']}: [{f['rule']}] {f['message']}")
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
