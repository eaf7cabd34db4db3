"""Command line: `pgolf-audit PATH...`, `facts PATH`, `rules`, `explain RULE`, `compare OLD NEW`, `data ...`.

Exit codes: 0 nothing at or above --fail-on; 1 something at or above it (unanalyzable counts: fail closed);
2 usage, tool or input error (missing path, folder without a script, malformed submission.json, bad flag).
Only this module touches argv, files, stdout/stderr and the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from auditor import __version__
from auditor.api import DEFAULT_MAX_BYTES, Options, analyse, audit_path, effective_env, run_evidence
from auditor.catalog import CatalogError, load_catalog
from auditor.load.errors import InputError, Unanalyzable
from auditor.load.source import load
from auditor.model import Report, Severity, Verdict
from auditor.record.review import baseline_from
from auditor.render import RENDERERS
from auditor.trace.cli import run_trace

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = tuple(RENDERERS)


class UsageError(Exception):
    """Bad flags or arguments: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(message)


def add_audit_options(parser: argparse.ArgumentParser) -> None:
    """What an audit is run with and how it ends: shared by `pgolf-audit PATH` and `pgolf-audit scan`."""
    parser.add_argument("--fail-on", choices=("illegal", "needs-review"), default="illegal")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings (2 still means error)")
    parser.add_argument("--select", nargs="+", default=[], metavar="RULE")
    parser.add_argument("--ignore", nargs="+", default=[], metavar="RULE")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="largest script audited")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def _audit_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgolf-audit",
        description="Audit Parameter Golf submissions for rule compliance.",
        epilog="Other commands: `pgolf-audit rules`, `pgolf-audit explain RULE`, `pgolf-audit facts PATH`.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a train_gpt.py or a records folder")
    parser.add_argument("--format", choices=FORMATS, help="stdout format (default: console on a TTY, else markdown)")
    parser.add_argument(
        "--write", action="append", default=[], metavar="FORMAT=FILE", help="also write FORMAT to FILE (repeatable)"
    )
    add_audit_options(parser)
    parser.add_argument("--baseline-bpb", type=float, metavar="X", help="compare a record with this val_bpb")
    parser.add_argument("--baseline-logs", metavar="DIR", help="compare a record with the runs in DIR's logs")
    parser.add_argument("--version", action="version", version=f"pgolf-audit {__version__}")
    return parser


def _writes(specs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        fmt, sep, file = spec.partition("=")
        if not sep or fmt not in FORMATS or not file:
            raise UsageError(f"--write expects FORMAT=FILE with FORMAT in {', '.join(FORMATS)}, got {spec!r}")
        out.append((fmt, Path(file)))
    return out


def _rules(names: list[str]) -> frozenset[str]:
    unknown = [n for n in names if n not in load_catalog()]
    if unknown:
        raise UsageError(f"unknown rule {unknown[0]!r} (see `pgolf-audit rules`)")
    return frozenset(names)


def _render(fmt: str, report: Report, color: bool) -> str:
    if fmt == "console":
        return RENDERERS[fmt](
            report, color=color, width=min(os.get_terminal_size(2).columns, 120) if sys.stdout.isatty() else 100
        )
    return RENDERERS[fmt](report)


def _fails(report: Report, fail_on: str) -> bool:
    threshold = Severity(fail_on).rank
    for result in report.results:
        if result.verdict is Verdict.UNANALYZABLE:
            return True
        if any(f.severity.rank >= threshold for f in result.findings):
            return True
    return False


def run_audit(argv: Sequence[str]) -> int:
    args = _audit_parser().parse_args(argv)
    writes = _writes(args.write)
    if args.baseline_bpb is not None and args.baseline_logs is not None:
        raise UsageError("give --baseline-bpb or --baseline-logs, not both")
    options = Options(select=_rules(args.select), ignore=_rules(args.ignore), max_bytes=args.max_bytes,
                      baseline=baseline_from(args.baseline_bpb, args.baseline_logs))
    results, errors = [], 0
    for path in args.paths:
        try:
            result = audit_path(path, options)
        except InputError as exc:
            _error(str(exc))
            errors += 1
            continue
        if result.error:
            _error(f"{path}: unanalyzable: {result.error}")
        results.append(result)
    command = "pgolf-audit " + " ".join(shlex.quote(a) for a in argv)
    report = Report("pgolf-audit", __version__, command, tuple(results))
    tty = sys.stdout.isatty()
    color = args.color == "always" or (args.color == "auto" and tty and "NO_COLOR" not in os.environ)
    fmt = args.format or ("console" if tty else "markdown")
    if results:
        sys.stdout.write(_render(fmt, report, color))
    for out_fmt, file in writes:
        try:
            file.write_text(_render(out_fmt, report, False), encoding="utf-8")
        except OSError as exc:
            _error(f"cannot write {file}: {exc.strerror}")
            errors += 1
    if errors:
        return EXIT_ERROR
    return EXIT_OK if args.exit_zero or not _fails(report, args.fail_on) else EXIT_FINDINGS


def run_rules(argv: Sequence[str]) -> int:
    parser = _Parser(prog="pgolf-audit rules", description="List the rule catalogue.")
    parser.parse_args(argv)
    specs = load_catalog().values()
    width = max(len(spec.id) for spec in specs)
    for spec in specs:
        print(f"{spec.id:<{width}}  {spec.kind:<6}  {spec.severity.value:<12}  {spec.title}")
    return EXIT_OK


def run_explain(argv: Sequence[str]) -> int:
    parser = _Parser(prog="pgolf-audit explain", description="Print one rule's page.")
    parser.add_argument("rule")
    rule = parser.parse_args(argv).rule
    spec = load_catalog().get(rule)
    if spec is None:
        raise UsageError(f"unknown rule {rule!r} (see `pgolf-audit rules`)")
    sections = [
        f"# {spec.id}: {spec.title}",
        f"severity: {spec.severity.value}" + (f" · condition {spec.condition}" if spec.condition else ""),
        "",
        spec.summary,
        "",
        "## What it does",
        spec.what.strip(),
        "",
        "## Why it matters",
        spec.why.strip(),
        "",
        "## Ruling",
        f"{spec.ruling} — {spec.ruling_url}",
        "",
        "## Illegal shape",
        spec.illegal_pattern.strip("\n"),
        "",
        "## Legal shape",
        spec.legal_pattern.strip("\n"),
        "",
        "## Fix",
        spec.fix.strip(),
    ]
    if spec.known_problems.strip():
        sections += ["", "## Known problems", spec.known_problems.strip()]
    print("\n".join(sections))
    return EXIT_OK


def run_facts(argv: Sequence[str]) -> int:
    parser = _Parser(prog="pgolf-audit facts", description="Dump the facts computed for a script as JSON.")
    parser.add_argument("path")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    args = parser.parse_args(argv)
    try:
        source = load(args.path, max_bytes=args.max_bytes)
        facts = analyse(source.code, effective_env(source, Options()), run_evidence(source))
    except Unanalyzable as exc:
        _error(f"{args.path}: unanalyzable: {exc}")
        return EXIT_FINDINGS
    doc = {
        "path": args.path,
        "script": str(source.script),
        "sha256": source.sha256,
        "wrapper": source.wrapper,
        "siblings": list(source.siblings),
        **facts.to_json(),
    }
    print(json.dumps(doc, indent=1, default=str))
    return EXIT_OK


def run_compare(argv: Sequence[str]) -> int:
    from auditor.record.compare import compare, read_side, render_json, render_text

    parser = _Parser(prog="pgolf-audit compare", description="Per-seed results and the significance of NEW's gain.")
    parser.add_argument("old", metavar="OLD", help="the previous record's folder")
    parser.add_argument("new", metavar="NEW", help="the submission's folder")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    comparison = compare(read_side(args.old), read_side(args.new))
    sys.stdout.write(render_json(comparison) if args.format == "json" else render_text(comparison))
    return EXIT_OK


def run_data_command(argv: Sequence[str]) -> int:
    from auditor.data.cli import run_data  # numpy/sentencepiece only when asked for

    return run_data(argv, _Parser().error)


def run_reproduce_command(argv: Sequence[str]) -> int:
    from auditor.reproduce.cli import run_reproduce  # runs scripts in subprocesses; imported when asked for

    return run_reproduce(argv, _Parser().error)


def run_scan(argv: Sequence[str]) -> int:
    from auditor.scan.cli import main as scan  # imported on use: the scan driver needs this module's helpers

    return scan(argv)


COMMANDS = {
    "rules": run_rules,
    "explain": run_explain,
    "facts": run_facts,
    "data": run_data_command,
    "compare": run_compare,
    "reproduce": run_reproduce_command,
    "trace": run_trace,
    "scan": run_scan,
}


def _error(message: str) -> None:
    print(f"pgolf-audit: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:  # commands win; audit a folder named like one as ./rules
            return COMMANDS[argv[0]](argv[1:])
        return run_audit(argv)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except InputError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except CatalogError as exc:
        _error(f"broken rule catalogue: {exc}")
        return EXIT_ERROR
    except SystemExit as exc:  # --help / --version: argparse exits; main() returns the code instead
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except BrokenPipeError:  # `pgolf-audit ... | head`: the reader left; stay quiet like other CLI tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback for users; say what broke in one line
        _error(f"internal error: {type(exc).__name__}: {exc} (please report it with the input file)")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
