"""The files of a records folder: which are logs (by what they print), which required files exist, where it lives.

Only files under the folder are read (links that leave it are skipped), each log at most `logs._MAX_BYTES`, and at
most MAX_FILES files are looked at; nothing is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from auditor.load.logs import LogRun, parse_log_file

MAX_FILES = 400  # files looked at in one folder (records folders hold a handful; a checked-in venv is not read)
MAX_DEPTH = 3
# suffixes that are never logs; anything else named like a log or with a text-like suffix is parsed
_NOT_LOGS = frozenset(
    {".py", ".json", ".md", ".sh", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".model", ".vocab", ".bin", ".pt",
     ".ptz", ".pth", ".npz", ".npy", ".safetensors", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".ipynb",
     ".csv", ".tsv", ".xz", ".lzma", ".gz", ".zst", ".br", ".zip", ".tar", ".so", ".c", ".cu", ".cpp", ".h"}
)
_TEXT_SUFFIXES = frozenset({".log", ".txt", ".out", ".err", ""})
_SKIP_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", "data", "datasets"})


@dataclass(frozen=True)
class RecordFolder:
    root: Path
    files: tuple[str, ...]  # every file looked at, relative, sorted
    logs: dict[str, tuple[LogRun, ...]]  # log file -> its runs (only files with at least one run)
    unrecognised_logs: tuple[str, ...]  # files named like logs in which no run was found
    location: tuple[str, str] | None  # (track, folder name) when the folder sits at records/<track>/<name>

    @property
    def runs(self) -> tuple[LogRun, ...]:
        return tuple(run for name in sorted(self.logs) for run in self.logs[name])

    def has(self, name: str) -> bool:
        return any(f.lower() == name.lower() for f in self.files)


def read_folder(root: Path) -> RecordFolder:
    files = _files(root)
    logs: dict[str, tuple[LogRun, ...]] = {}
    unrecognised: list[str] = []
    for rel in files:
        path = root / rel
        suffix = path.suffix.lower()
        if suffix in _NOT_LOGS or path.name.lower() == "requirements.txt":
            continue
        named_log = suffix == ".log" or "log" in path.stem.lower()
        if not (named_log or suffix in _TEXT_SUFFIXES):
            continue
        runs = parse_log_file(path, rel)
        if runs:
            logs[rel] = runs
        elif named_log:
            unrecognised.append(rel)
    return RecordFolder(root, files, logs, tuple(unrecognised), _location(root))


def _files(root: Path) -> tuple[str, ...]:
    top = os.path.realpath(root)
    found: list[str] = []
    for current, dirs, names in os.walk(root):
        depth = Path(current).relative_to(root).parts
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and len(depth) < MAX_DEPTH)
        for name in sorted(names):
            path = Path(current) / name
            real = os.path.realpath(path)
            if os.path.commonpath([real, top]) != top or not path.is_file():
                continue  # a link out of the folder, a FIFO or a device
            found.append(path.relative_to(root).as_posix())
            if len(found) >= MAX_FILES:
                return tuple(sorted(found))
    return tuple(sorted(found))


def _location(root: Path) -> tuple[str, str] | None:
    parts = root.resolve().parts
    if len(parts) >= 3 and parts[-3] == "records":
        return parts[-2], parts[-1]
    return None
