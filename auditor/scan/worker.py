"""The audit of one unit, run in a worker process: materialise the folder's files if they live in git, audit, encode.

A git unit's audited files are written to a private temporary folder (only that records folder, read through the
worker's own `git cat-file`), audited with `audit_path`, and removed. Results come back as plain data with paths
relative to the folder, so one result serves every ref that ships the same content.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from auditor.api import Options, audit_path
from auditor.facts import pieces
from auditor.load.errors import InputError
from auditor.scan import codec, gate
from auditor.scan.gitrepo import Objects

FOLDER = "{folder}"  # stands for the audited folder in cached error messages; the row fills in its own

_objects: Objects | None = None
_options = Options()


def init(repo: str | None, options: Options, memo: str | None = None) -> None:
    """Pool initializer: one cat-file process per worker for git scans; the statement walks shared with the other
    workers through the private folder `memo`."""
    global _objects, _options
    _options = options
    _objects = Objects(Path(repo)) if repo else None
    pieces.MEMO.share(Path(memo) if memo else None)


def audit(task: tuple[str, str, list[tuple[str, str]]]) -> tuple[str, dict]:
    """(key, folder, [(relative path, blob id)]) -> (key, entry). A folder on disk is given with no files."""
    gc.disable()  # what an audit builds is acyclic and freed as it goes: the cyclic GC runs between audits
    try:
        return _timed(task)
    finally:
        gc.enable()


def _timed(task: tuple[str, str, list[tuple[str, str]]]) -> tuple[str, dict]:
    key, folder, files = task
    start = time.perf_counter()
    if _objects is None:
        entry = _audit_folder(Path(folder), [path for path, _ in files])
    else:
        scratch = Path(tempfile.mkdtemp(prefix="pgolf-scan-"))
        try:
            target = scratch / (_safe_name(folder.rsplit("/", 1)[-1]) or "submission")
            target.mkdir()
            written = _materialise(target, files)
            entry = _audit_folder(target, written)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    entry["seconds"] = round(time.perf_counter() - start, 4)
    return key, entry


def audit_batch(tasks: list[tuple[str, str, list[tuple[str, str]]]]) -> list[tuple[str, dict]]:
    """Neighbouring units, audited in a row by one worker: its statement memo serves them all (engine.worker_tasks)."""
    return [audit(task) for task in tasks]


def _audit_folder(folder: Path, paths: list[str]) -> dict:
    notes = gate.notes_for(folder, paths)
    try:
        result = audit_path(str(folder), _options)
    except InputError as exc:
        return {"status": "error", "error": str(exc).replace(str(folder), FOLDER), "notes": notes, "cache": True}
    except Exception as exc:  # noqa: BLE001 - one broken unit must not end a scan of thousands
        return {"status": "error", "error": f"internal error: {type(exc).__name__}: {exc}", "notes": notes}
    if result.source is not None:
        script = os.path.relpath(result.source.script, folder)
        result = replace(result, source=replace(result.source, script=Path(script).as_posix()))
    result = replace(result, path=".", error=result.error.replace(str(folder), FOLDER) if result.error else None)
    return {"status": "audited", "result": codec.encode(result), "notes": notes, "cache": True}


def _safe_name(name: str) -> str | None:
    """A path component we are willing to create: no traversal, no separators, no NUL."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        return None
    return name


def _materialise(target: Path, files: list[tuple[str, str]]) -> list[str]:
    written = []
    for rel, blob in files:
        parts = rel.split("/")
        if any(_safe_name(p) is None for p in parts):
            continue
        kind, data = _objects.read(blob)
        if kind != "blob":
            continue
        path = target.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(rel)
    return written
