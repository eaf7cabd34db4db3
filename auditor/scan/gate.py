"""What a submission writes to try to quiet an audit: suppression comments and config files, reported as notes.

The auditor honours none of them in any mode: it reads no config, baseline or suppression comment from the
submission. Gate mode (the CI check on submission PRs) states this in the review: each such comment or file is
listed as a note, so a reviewer sees the attempt, and the policy comes only from the workflow's own flags.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

SUPPRESSION = re.compile(
    r"\b(?:noqa|nosec|pylint\s*:\s*disable|pgolf[-_ ]?audit\s*:\s*\w+"
    r"|audit\s*[:-]\s*(?:ignore|skip|disable|off|allow))",
    re.IGNORECASE,
)
_WORDS = ("noqa", "nosec", "pylint", "pgolf", "audit")
CONFIG_NAMES = re.compile(r"^\.?pgolf[-_]audit[\w.-]*$|^\.?pgolf[-_]audit[-_]baseline", re.IGNORECASE)
PYPROJECT_SECTION = re.compile(r"^\s*\[tool\.pgolf[-_]audit", re.IGNORECASE | re.MULTILINE)
MAX_NOTES = 50


def notes_for(folder: Path, paths: list[str]) -> list[dict]:
    """Notes on the files of a materialised folder: suppression comments in Python files, config files."""
    notes: list[dict] = []
    for rel in paths:
        name = rel.rsplit("/", 1)[-1]
        full = folder / rel
        if CONFIG_NAMES.match(name):
            notes.append({"path": rel, "line": None, "text": "audit config file (ignored)"})
        elif name == "pyproject.toml" and PYPROJECT_SECTION.search(_text(full)):
            notes.append({"path": rel, "line": None, "text": "[tool.pgolf-audit] section (ignored)"})
        elif name.endswith(".py"):
            notes.extend({"path": rel, "line": line, "text": text} for line, text in _suppressions(_text(full)))
        if len(notes) >= MAX_NOTES:
            return notes[:MAX_NOTES]
    return notes


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def _suppressions(code: str) -> list[tuple[int, str]]:
    """(line, comment) of each comment that looks like a suppression; a file tokenize rejects is read by lines."""
    found: list[tuple[int, str]] = []
    lowered = code.lower()  # words every suppression holds: the case-blind regex is slow on a 100 KB script
    if not any(word in lowered for word in _WORDS) or not SUPPRESSION.search(code):  # so is tokenizing
        return found
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT and SUPPRESSION.search(token.string):
                found.append((token.start[0], token.string.strip()[:200]))
    except (tokenize.TokenError, SyntaxError):
        found = []
        for number, line in enumerate(code.splitlines(), 1):
            comment = line[line.find("#") :] if "#" in line else ""
            if comment and SUPPRESSION.search(comment):
                found.append((number, comment.strip()[:200]))
    return found
