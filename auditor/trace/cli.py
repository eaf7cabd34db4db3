"""`pgolf-audit trace PATH... [--device cpu|cuda] [--timeout S] [--no-probe]`: static audit + toy-scale traced
run of each path, joined in one report (same formats, --write, --fail-on and exit codes as the audit)."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Sequence

NEEDS = ("torch", "numpy", "sentencepiece")


def run_trace(argv: Sequence[str]) -> int:
    from auditor import __version__, cli
    from auditor.api import Options
    from auditor.load.errors import InputError
    from auditor.model import Report

    parser = cli._Parser(prog="pgolf-audit trace", description="Run submissions at toy scale under the tracer.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a train_gpt.py or a records folder")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run of the script (default 600)")
    parser.add_argument("--no-probe", action="store_true", help="skip the causality probe (3 extra runs)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra knob (repeatable)")
    parser.add_argument("--format", choices=cli.FORMATS)
    parser.add_argument("--write", action="append", default=[], metavar="FORMAT=FILE")
    parser.add_argument("--fail-on", choices=("illegal", "needs-review"), default="illegal")
    parser.add_argument("--exit-zero", action="store_true")
    args = parser.parse_args(argv)
    writes = cli._writes(args.write)
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise cli.UsageError(f"trace needs {', '.join(missing)}: pip install 'pgolf-audit[trace]'")
    if args.timeout <= 0:
        raise cli.UsageError("--timeout must be positive")
    env = dict(_pair(item, cli.UsageError) for item in args.env)

    from auditor.trace.api import trace_path
    from auditor.trace.runner import RunConfig, dataset

    data = dataset()
    config = RunConfig(device=args.device, timeout=args.timeout, env=env)
    results, errors = [], 0
    for path in args.paths:
        try:
            result = trace_path(path, data, config, probes=not args.no_probe, options=Options())
        except InputError as exc:
            cli._error(str(exc))
            errors += 1
            continue
        results.append(result)
    report = Report("pgolf-audit", __version__, "pgolf-audit trace " + " ".join(shlex.quote(a) for a in argv),
                    tuple(results))
    fmt = args.format or ("console" if sys.stdout.isatty() else "markdown")
    if results:
        sys.stdout.write(cli._render(fmt, report, sys.stdout.isatty()))
    for out_fmt, file in writes:
        try:
            file.write_text(cli._render(out_fmt, report, False), encoding="utf-8")
        except OSError as exc:
            cli._error(f"cannot write {file}: {exc.strerror}")
            errors += 1
    if errors:
        return cli.EXIT_ERROR
    return cli.EXIT_OK if args.exit_zero or not cli._fails(report, args.fail_on) else cli.EXIT_FINDINGS


def _pair(item: str, error: type[Exception]) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise error(f"--env expects NAME=VALUE, got {item!r}")
    return name, value
