"""`pgolf-audit reproduce FOLDER_OR_PRESET [--seeds 1337,42,2025] [--nproc N] [--data DIR] [--env K=V]...`

Runs the submission's own script (or a reference preset: `baseline`, `pr1250`) once per seed, parses each log with
the record review's parser, compares with submission.json and the folder's logs, and writes
`<out>/reproduction.md` and `<out>/reproduction.json` (the markdown also goes to stdout). When every seed ran,
`<out>/record/` is the rerun as a records folder (the script, `train_seed<N>.log`, a submission.json of the
reproduced numbers, a README with the report) for `pgolf-audit <out>/record`. Exit codes: 0 reproduced (or
nothing claimed), 1 not reproduced or could not run, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.load.errors import InputError
from auditor.reproduce.compare import FLOOR_BPB, Reproduction, Verdict, compare, reproduced_submission
from auditor.reproduce.render import markdown, to_json
from auditor.reproduce.runner import SeedRun, launch_command, run_seed
from auditor.reproduce.target import Target, resolve


def _parser(error) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgolf-audit reproduce", description=__doc__.splitlines()[0])
    parser.error = error  # type: ignore[method-assign]
    parser.add_argument("target", metavar="FOLDER_OR_PRESET",
                        help="a records folder or train_gpt.py, or a reference preset (baseline, pr1250)")
    parser.add_argument("--seeds", help="comma-separated (default: the claimed seeds, else 1337,42,2025)")
    parser.add_argument("--nproc", type=int, default=8, help="processes per node for torchrun (default 8)")
    parser.add_argument("--data", type=Path, help="a data folder (as `pgolf-audit data synth` writes): sets "
                        "DATA_PATH, TOKENIZER_PATH, VOCAB_SIZE")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra env (repeatable)")
    parser.add_argument("--out", type=Path, help="output folder (default: ./reproduce-<name>)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per seed (default 1800)")
    parser.add_argument("--tol-bpb", type=float, default=FLOOR_BPB, help=f"tolerance floor (default {FLOOR_BPB})")
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch (default: this one)")
    parser.add_argument("--launcher", choices=("torchrun", "python"), default="torchrun",
                        help="`python` runs the script directly in one process")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown", help="stdout format")
    return parser


def data_env(root: Path) -> dict[str, str]:
    """DATA_PATH/TOKENIZER_PATH/VOCAB_SIZE of a `datasets/<name>/` + `tokenizers/*.model` folder, or of a shard dir."""
    if not root.is_dir():
        raise InputError(f"--data {root}: not a folder")
    if any(root.glob("fineweb_*_*.bin")):
        return {"DATA_PATH": str(root.resolve())}
    datasets = sorted(p for p in (root / "datasets").glob("*") if p.is_dir() and any(p.glob("fineweb_*_*.bin")))
    models = sorted((root / "tokenizers").glob("*.model"))
    if len(datasets) != 1 or len(models) != 1:
        raise InputError(f"--data {root}: expected one datasets/<name>/ with shards and one tokenizers/*.model, "
                         f"found {len(datasets)} and {len(models)}")
    env = {"DATA_PATH": str(datasets[0].resolve()), "TOKENIZER_PATH": str(models[0].resolve())}
    if m := re.search(r"sp(\d+)$", datasets[0].name):
        env["VOCAB_SIZE"] = m.group(1)
    return env


def _env_pairs(pairs: list[str], error) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            error(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def run_reproduce(argv: Sequence[str], error) -> int:
    args = _parser(error).parse_args(argv)
    if args.nproc < 1 or args.timeout <= 0 or args.tol_bpb < 0:
        error("--nproc and --timeout must be positive, --tol-bpb not negative")
    target = resolve(args.target)
    seeds = tuple(s.strip() for s in args.seeds.split(",")) if args.seeds else target.default_seeds
    if not all(re.fullmatch(r"\d+", s) for s in seeds):
        error(f"--seeds expects comma-separated integers, got {args.seeds!r}")
    env = {**(data_env(args.data) if args.data else {}), **_env_pairs(args.env, error)}
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.target).name or args.target)
    out = args.out or Path(f"reproduce-{name}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror or exc}") from None
    results = [run_seed(target, seed, out=out, nproc=args.nproc, env=env, timeout=args.timeout,
                        python=args.python, launcher=args.launcher) for seed in seeds]
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**target.env, **env}.items())
    command = " ".join(filter(None, [settings, "SEED=<seed>",
                                     shlex.join(launch_command("python", target.script, args.nproc, args.launcher))]))
    report = compare(target, results, command, floor=args.tol_bpb)
    if report.verdict is not Verdict.COULD_NOT_RUN:
        write_record(out / "record", target, report, results)
    (out / "reproduction.md").write_text(markdown(report), encoding="utf-8")
    (out / "reproduction.json").write_text(to_json(report), encoding="utf-8")
    sys.stdout.write(markdown(report) if args.format == "markdown" else to_json(report) + "\n")
    return 0 if report.verdict in (Verdict.REPRODUCED, Verdict.NO_CLAIMS) else 1


def write_record(folder: Path, target: Target, report: Reproduction, results: list[SeedRun]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(target.script, folder / target.script.name)
    for result in results:
        shutil.copy(result.log, folder / result.log.name)
    today = datetime.date.today().isoformat()
    doc = reproduced_submission(report, results, today)
    (folder / "submission.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(f"# {doc['name']}\n\n{markdown(report)}", encoding="utf-8")
