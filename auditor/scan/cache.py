"""The scan cache: one SQLite file under $XDG_CACHE_HOME/pgolf-audit (or --cache-dir).

Tables: `results` (unit key -> audit result JSON; the key already folds in the tool and rules version) and
`folders` (ref commit + base commit -> the changed folders and their audited files), so a warm scan of a git
repository reads no git objects at all. Only the scanning process writes; workers never touch the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from auditor.load.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgolf-audit"


class Cache:
    """Key-value tables in one SQLite file; `Cache(None)` is a no-op cache (--no-cache)."""

    def __init__(self, directory: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if directory is None:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(directory / "scan.sqlite3")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"cannot open the cache in {directory}: {exc}") from None

    def get(self, table: str, key: str) -> object | None:
        if self._db is None:
            return None
        row = self._db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, table: str, keys: list[str]) -> dict[str, object]:
        if self._db is None or not keys:
            return {}
        found: dict[str, object] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        return found

    def put(self, table: str, key: str, value: object) -> None:
        if self._db is not None:
            self._db.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", (key, json.dumps(value)))

    def commit(self) -> None:
        if self._db is not None:
            self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None
