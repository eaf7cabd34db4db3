"""The scan: targets -> units -> distinct keys -> cached or freshly audited results -> one row per unit.

`scan_git(repo, patterns, base, ...)` and `scan_dir(root, ...)` return a `Scan`; nothing here prints except the
optional progress bar (on stderr). Each distinct key is audited once, in a process pool, largest folders first.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from auditor.api import Options
from auditor.load.errors import InputError
from auditor.model import AuditResult, Severity, SourceInfo
from auditor.scan import codec, worker
from auditor.scan.cache import Cache
from auditor.scan.discover import find_folders
from auditor.scan.gitrepo import (
    BLOB_MODES,
    Graph,
    Objects,
    changed_folders,
    check_repo,
    folder_files,
    list_refs,
    pr_number,
    resolve,
)
from auditor.scan.units import POLICY, FileRef, Unit, audited, disk_files, unit_key

Progress = Callable[[int, int], None]  # (done, total)
FOLDERS_POLICY = "folders-v3"  # bump when the choice of a ref's submission folders changes


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the scan: a records folder of a ref (or on disk), or a ref that changes no records folder."""

    id: str
    status: str  # audited | error | no-submission
    folder: str = ""
    pr: int | None = None
    ref: str | None = None
    commit: str | None = None
    key: str = ""
    result: AuditResult | None = None
    error: str | None = None
    notes: tuple[dict, ...] = ()
    cached: bool = False

    @property
    def verdict(self) -> str:
        if self.result is not None:
            return self.result.verdict.value
        return self.status

    def rules(self, severities: Iterable[Severity] = (Severity.ILLEGAL, Severity.NEEDS_REVIEW)) -> list[str]:
        """Rules with a finding at one of the given severities, each once, in order of appearance."""
        wanted = set(severities)
        found = (f.rule for f in (self.result.findings if self.result else ()) if f.severity in wanted)
        return list(dict.fromkeys(found))


@dataclass
class Scan:
    rows: list[Row]
    audited: int = 0  # distinct keys audited in this run
    distinct: int = 0  # distinct keys in the scan
    wall: float = 0.0


def options_token(options: Options) -> str:
    return f"select={sorted(options.select)} ignore={sorted(options.ignore)} max_bytes={options.max_bytes}"


# ---------------------------------------------------------------------------------------------- targets


def git_units(repo: Path, patterns: list[str], base: str, cache: Cache, token: str) -> tuple[list[Unit], list[Row]]:
    """Units for every records folder the matching refs add or change relative to BASE; refs with none as rows."""
    check_repo(repo)
    base_commit = resolve_base(repo, base)
    refs = list_refs(repo, patterns)
    keys = {ref.name: f"{ref.commit}:{base_commit}:{POLICY}:{FOLDERS_POLICY}" for ref in refs}
    known = cache.get_many("folders", list(set(keys.values())))
    graph: Graph | None = None
    units: list[Unit] = []
    empty: list[Row] = []
    with Objects(repo) as objects:
        for ref in refs:
            folders = known.get(keys[ref.name])
            if folders is None:
                if graph is None:
                    graph = Graph(repo, base_commit, [r.commit for r in refs if keys[r.name] not in known])
                folders = _folders(objects, graph, ref.commit)
                known[keys[ref.name]] = folders
                cache.put("folders", keys[ref.name], folders)
            for folder, files in folders:
                shipped = tuple(FileRef(p, b, s) for p, b, s in files)
                units.append(
                    Unit(
                        f"{ref.name}:{folder}",
                        folder,
                        shipped,
                        pr_number(ref.name),
                        ref.name,
                        ref.commit,
                        unit_key(shipped, token),
                    )
                )
            if not folders:
                empty.append(Row(ref.name, "no-submission", pr=pr_number(ref.name), ref=ref.name, commit=ref.commit))
    cache.commit()
    return units, empty


def resolve_base(repo: Path, base: str) -> str:
    try:
        return resolve(repo, base)
    except InputError:
        raise InputError(f"unknown base revision {base!r} in {repo} (set it with --base)") from None


def _folders(objects: Objects, graph: Graph, commit: str) -> list:
    fork = graph.fork_point(commit)
    root = objects.root_tree(commit)
    changed = changed_folders(objects, root, objects.root_tree(fork) if fork else None)
    out = []
    for folder, recursive in sorted(changed.items()):
        files = []
        for path, mode, blob in folder_files(objects, root, folder, recursive):
            if mode in BLOB_MODES and audited(path, 0):
                size = objects.size(blob)
                if audited(path, size):
                    files.append([path, blob, size])
        out.append([folder, files])
    return out


def dir_units(root: Path, token: str) -> list[Unit]:
    units = []
    for folder in find_folders(root):
        files = disk_files(folder)
        rel = folder.relative_to(root).as_posix() if folder != root else root.name
        head = rel.split("/", 1)[0]
        shown = str(folder)
        units.append(Unit(rel, shown, files, int(head) if head.isdigit() else None, key=unit_key(files, token)))
    return units


# ---------------------------------------------------------------------------------------------- auditing


def run(
    units: list[Unit],
    empty: list[Row],
    cache: Cache,
    options: Options,
    jobs: int,
    repo: Path | None,
    progress: Progress | None = None,
) -> Scan:
    start = time.perf_counter()
    distinct: dict[str, Unit] = {}
    for unit in units:
        distinct.setdefault(unit.key, unit)
    entries = cache.get_many("results", list(distinct))
    cached = set(entries)
    todo = [u for k, u in distinct.items() if k not in entries]
    batches = [[(u.key, u.folder, [(f.path, f.blob) for f in u.files]) for u in batch] for batch in code_batches(todo)]
    for done, (key, entry) in enumerate(_audit_all(worker_tasks(batches, jobs), options, jobs, repo, progress), 1):
        entries[key] = entry
        if entry.pop("cache", False):
            cache.put("results", key, entry)
        if done % 50 == 0:  # an interrupted scan keeps what it audited
            cache.commit()
    cache.commit()
    rows = [_row(unit, entries[unit.key], unit.key in cached) for unit in units] + empty
    rows.sort(key=lambda r: (r.pr if r.pr is not None else -1, r.id))
    return Scan(rows, len(todo), len(distinct), time.perf_counter() - start)


def code_batches(units: list[Unit]) -> list[list[Unit]]:
    """Units grouped by their Python files, groups in PR order.

    A worker audits a group in a row (within a run of neighbouring groups, `worker_tasks`), so a script shipped in
    several folders is parsed once (the facts walk keeps each statement's walk, `facts.pieces`), and neighbouring
    PRs, often forks of the same record, share statements.
    """
    groups: dict[tuple[str, ...], list[Unit]] = {}
    for unit in sorted(units, key=lambda u: (u.pr if u.pr is not None else -1, u.id)):
        code = tuple(sorted(f.blob for f in unit.files if f.path.endswith(".py")))
        groups.setdefault(code, []).append(unit)
    return list(groups.values())


CHUNK_UNITS = 64  # the most folders one worker task holds: results come back a task at a time


def worker_tasks(batches: list[list], jobs: int) -> list[list]:
    """Runs of consecutive batches, one per worker task, shrinking towards the end.

    A worker's statement memo only helps with what that worker saw: handing neighbouring PRs to alternating
    workers cost 16% more CPU on 2 workers (127 folders of PRs 18xx). Each task is a run of up to CHUNK_UNITS
    folders in PR order; runs shrink with the work left (a quarter of each worker's share) so that the workers
    finish together.
    """
    remaining = sum(len(batch) for batch in batches)
    tasks: list[list] = []
    for batch in batches:
        size = max(1, min(CHUNK_UNITS, remaining // (4 * max(jobs, 1))))
        if tasks and len(tasks[-1]) + len(batch) <= size:
            tasks[-1].extend(batch)
        else:
            tasks.append(list(batch))
        remaining -= len(batch)
    return tasks


def _audit_all(runs: list[list], options: Options, jobs: int, repo: Path | None, progress: Progress | None):
    total = sum(len(run) for run in runs)
    if progress:
        progress(0, total)
    done = 0
    if jobs <= 1 or len(runs) <= 1:
        worker.init(str(repo) if repo else None, options)
        for run in runs:
            for task in run:
                yield worker.audit(task)
                done += 1
                if progress:
                    progress(done, total)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding git pipes and a database
    with tempfile.TemporaryDirectory(prefix="pgolf-memo-") as memo, ProcessPoolExecutor(
        min(jobs, len(runs)),
        mp_context=context,
        initializer=worker.init,
        initargs=(str(repo) if repo else None, options, memo),  # no max_tasks_per_child: it deadlocks on Python 3.11
    ) as pool:
        futures = {pool.submit(worker.audit_batch, run): run for run in runs}
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker killed (memory, signal): its units fail, not the scan
                error = {"status": "error", "error": f"internal error: {type(exc).__name__}: {exc}"}
                results = [(task[0], dict(error)) for task in futures[future]]
            for result in results:
                yield result
                done += 1
                if progress:
                    progress(done, total)


def _row(unit: Unit, entry: dict, cached: bool) -> Row:
    result = None
    if entry.get("result") is not None:
        result = _placed(codec.decode(entry["result"]), unit.folder)
    return Row(
        unit.id,
        entry["status"],
        unit.folder,
        unit.pr,
        unit.ref,
        unit.commit,
        unit.key,
        result,
        entry["error"].replace(worker.FOLDER, unit.folder) if entry.get("error") else None,
        tuple(entry.get("notes", ())),
        cached,
    )


def _placed(result: AuditResult, folder: str) -> AuditResult:
    """A cached result (paths relative to its folder) located in this unit's folder."""
    source: SourceInfo | None = result.source
    if source is not None:
        script = source.script if folder == "." else f"{folder.rstrip('/')}/{source.script}"
        source = replace(source, script=script)
    error = result.error.replace(worker.FOLDER, folder) if result.error else None
    return replace(result, path=folder, source=source, error=error)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
