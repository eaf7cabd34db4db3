"""`pgolf-audit scan`: audit every records folder below directories, or every records folder that git refs add.

    pgolf-audit scan DIR...
    pgolf-audit scan --git REPO.git --refs 'refs/pull/*/head' [--base main]

Exit codes as for a single audit: 0 nothing at or above --fail-on; 1 a folder at or above it, unanalyzable, or
not auditable (fails closed); 2 usage or input error (bad repository, revision, labels file or flag).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.api import Options
from auditor.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError, _Parser, _rules, add_audit_options
from auditor.model import Severity, Verdict
from auditor.scan import engine, labels, output
from auditor.scan.cache import Cache, default_dir


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgolf-audit scan",
        description="Audit every records folder below directories, or every records folder git refs add or change.",
    )
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="directories searched for folders with train*.py")
    parser.add_argument("--git", metavar="REPO", help="a git repository (bare or not): read refs, no checkout")
    parser.add_argument(
        "--refs",
        action="append",
        metavar="PATTERN",
        help="refs to scan (glob, or a revision); default refs/pull/*/head",
    )
    parser.add_argument("--base", default="main", help="the branch the refs are compared with (default main)")
    parser.add_argument("--jobs", type=int, default=engine.default_jobs(), help="worker processes (default: all cores)")
    parser.add_argument(
        "--format", choices=output.FORMATS, help="stdout format (default: table on a TTY, else markdown)"
    )
    parser.add_argument("--write", action="append", default=[], metavar="FORMAT=FILE", help="also write FORMAT to FILE")
    parser.add_argument("--labels", type=Path, metavar="FILE", help="compare with known decisions (JSON lines)")
    parser.add_argument("--cache-dir", type=Path, help=f"cache location (default {default_dir()})")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument(
        "--mode",
        choices=("default", "gate"),
        default="default",
        help="gate: the CI check on submission PRs (no cache; suppression comments and config files as notes)",
    )
    add_audit_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _writes(specs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        fmt, sep, file = spec.partition("=")
        if not sep or fmt not in output.FORMATS or not file:
            raise UsageError(f"--write expects FORMAT=FILE with FORMAT in {', '.join(output.FORMATS)}, got {spec!r}")
        out.append((fmt, Path(file)))
    return out


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if bool(args.git) == bool(args.dirs):
        raise UsageError("give either DIR... or --git REPO")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.refs and not args.git:
        raise UsageError("--refs needs --git")
    writes = _writes(args.write)
    known = labels.read_labels(args.labels) if args.labels else None
    options = Options(select=_rules(args.select), ignore=_rules(args.ignore), max_bytes=args.max_bytes)
    gate = args.mode == "gate"
    # Gate mode reads nothing a previous run left behind: a cache is one more input a PR could have influenced.
    cache = Cache(None if args.no_cache or gate else (args.cache_dir or default_dir()))
    try:
        scan = _scan(args, options, cache)
    finally:
        cache.close()
    comparison = labels.compare(scan.rows, known) if known is not None else None
    command = "pgolf-audit scan " + " ".join(shlex.quote(a) for a in argv)
    tty = sys.stdout.isatty()
    color = args.color == "always" or (args.color == "auto" and tty and "NO_COLOR" not in os.environ)
    width = min(os.get_terminal_size(1).columns, 160) if tty else 120
    fmt = args.format or ("table" if tty else "markdown")
    labels_json = comparison.to_json() if comparison else None

    def text(name: str, colored: bool) -> str:
        out = output.render(name, scan, command=command, gate=gate, labels=labels_json, width=width, color=colored)
        if comparison and name in output.SUMMARY_FORMATS:
            out += "\n" + labels.render(comparison)
        return out

    sys.stdout.write(text(fmt, color))
    if comparison and fmt not in output.SUMMARY_FORMATS and fmt != "json":
        sys.stderr.write(labels.render(comparison))
    errors = 0
    for out_fmt, file in writes:
        try:
            file.write_text(text(out_fmt, False), encoding="utf-8")
        except OSError as exc:
            print(f"pgolf-audit: error: cannot write {file}: {exc.strerror}", file=sys.stderr)
            errors += 1
    if errors:
        return EXIT_ERROR
    return EXIT_OK if args.exit_zero or not _fails(scan, args.fail_on) else EXIT_FINDINGS


def _scan(args: argparse.Namespace, options: Options, cache: Cache) -> engine.Scan:
    token = engine.options_token(options)
    with _Progress(not args.quiet and sys.stderr.isatty()) as progress:
        if args.git:
            repo = Path(args.git)
            units, empty = engine.git_units(repo, args.refs or ["refs/pull/*/head"], args.base, cache, token)
            return engine.run(units, empty, cache, options, args.jobs, repo, progress)
        units = []
        for directory in args.dirs:
            units.extend(engine.dir_units(Path(directory), token))
        return engine.run(units, [], cache, options, args.jobs, None, progress)


def _fails(scan: engine.Scan, fail_on: str) -> bool:
    threshold = Severity(fail_on).rank
    for row in scan.rows:
        if row.status == "error" or (row.result and row.result.verdict is Verdict.UNANALYZABLE):
            return True
        if row.result and any(f.severity.rank >= threshold for f in row.result.findings):
            return True
    return False


class _Progress:
    """A rich progress bar on stderr while auditing (a terminal only); a no-op callback otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        self._bar.start()
        self._task = self._bar.add_task("auditing", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
