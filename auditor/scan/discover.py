"""Records folders below a directory on disk: every folder that holds a training script (`train*.py`) itself."""

from __future__ import annotations

import os
from pathlib import Path

from auditor.load.errors import InputError

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def find_folders(root: Path) -> list[Path]:
    """Folders below ROOT (ROOT included) with a `train*.py` file; hidden folders and virtualenvs are skipped."""
    if not root.exists():
        raise InputError(f"no such file or directory: {root}")
    if not root.is_dir():
        raise InputError(f"not a directory: {root} (audit a single script with `pgolf-audit {root}`)")
    found = []
    for current, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        if any(n.startswith("train") and n.endswith(".py") for n in names):
            found.append(Path(current))
    return found
