"""Scan units: one records folder of one ref (or one folder on disk), and the key of what its audit reads.

The key is the hash of the audited inputs (each file's path inside the folder and its git blob id), the auditor's
code and rule catalogue, and the audit options. Two PRs that ship the same folder get one key and one audit; a
second scan re-audits only the keys it has not seen. Blob ids are computed the same way for files on disk, so a
folder checked out and the same folder read from git share a key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from auditor import __version__

# Files the audit never reads (weights, tokenizers, images, tables): left out of the key and not materialised.
SKIPPED_SUFFIXES = frozenset(
    ".ptz .pt .pth .bin .ckpt .safetensors .npy .npz .model .vocab .png .jpg .jpeg .gif .svg .pdf .so .o .a "
    ".zip .tar .gz .tgz .hgz .parquet .csv .tsv .jsonl .ipynb .pid".split()
)
MAX_FILE_BYTES = 8 << 20  # a larger file is left out (logs are read by their head anyway)
POLICY = "files-v1"  # bump when the file selection above changes


@dataclass(frozen=True, slots=True)
class FileRef:
    path: str  # relative to the unit's folder, `/`-separated
    blob: str  # git blob id of the content
    size: int


@dataclass(frozen=True, slots=True)
class Unit:
    """One audit target: where it came from, and the files of its folder that the audit reads."""

    id: str  # `refs/pull/12/head:records/track/x` or a path below the scanned directory
    folder: str  # records folder path (git) or the path on disk
    files: tuple[FileRef, ...]
    pr: int | None = None
    ref: str | None = None
    commit: str | None = None
    key: str = ""


def audited(path: str, size: int) -> bool:
    name = path.rsplit("/", 1)[-1]
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return suffix not in SKIPPED_SUFFIXES and size <= MAX_FILE_BYTES


def blob_id(data: bytes) -> str:
    """git's object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@cache
def tool_fingerprint() -> str:
    """Hash of the auditor's code and rule catalogue: a change to either invalidates every cached result."""
    digest = hashlib.sha256(f"pgolf-audit {__version__} {POLICY}".encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        if "scan" in path.relative_to(package).parts[:1]:
            continue  # the scan driver does not change what an audit finds
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    rules = resources.files("auditor.rules")
    for entry in sorted(rules.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()


def unit_key(files: tuple[FileRef, ...], options_token: str) -> str:
    digest = hashlib.sha256(f"{tool_fingerprint()}\n{options_token}\n".encode())
    for ref in sorted(files, key=lambda f: f.path):
        digest.update(f"{ref.path}\0{ref.blob}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def disk_files(folder: Path) -> tuple[FileRef, ...]:
    """The audited files below a folder on disk (links and special files are never followed)."""
    out = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(folder).as_posix()
            size = path.stat().st_size
            if audited(rel, size):
                out.append(FileRef(rel, blob_id(path.read_bytes()), size))
    return tuple(out)
