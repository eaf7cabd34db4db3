"""The rule catalogue: one TOML data file per rule in `rules/`, loaded into `RuleSpec` records.

Renderers (SARIF rule metadata, `explain`, the review's check titles) read only this module, never checkers.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from auditor.model import Severity

REQUIRED = (
    "id",
    "title",
    "check_title",
    "severity",
    "summary",
    "what",
    "why",
    "ruling",
    "ruling_url",
    "illegal_pattern",
    "legal_pattern",
    "fix",
)


class CatalogError(Exception):
    """A rule data file is missing fields or malformed (a packaging bug, reported as a tool error)."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str  # kebab-case, the same id in rules/, auditor/checks/, fixtures/ and tests/
    title: str
    check_title: str  # heading of the numbered check in the review
    severity: Severity  # severity of a reachable finding
    summary: str  # one sentence
    what: str
    why: str
    ruling: str  # who ruled, where and when
    ruling_url: str
    illegal_pattern: str
    legal_pattern: str
    fix: str
    condition: str = ""  # C1..C4 of Issue #1017, when one applies
    known_problems: str = ""
    tags: tuple[str, ...] = ()
    order: int = 100  # position of the check in the review
    kind: str = "code"  # "code": checked on the script; "record": on the folder's logs and submission.json
    options: dict = field(default_factory=dict, hash=False, compare=False)  # limits a checker reads


def _parse(name: str, text: str) -> RuleSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"rules/{name}: {exc}") from None
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise CatalogError(f"rules/{name}: missing {', '.join(missing)}")
    if f"{data['id']}.toml" != name:
        raise CatalogError(f"rules/{name}: id {data['id']!r} does not match the file name")
    known = set(RuleSpec.__dataclass_fields__)
    fields = {key: value for key, value in data.items() if key in known}
    fields["severity"] = Severity(data["severity"])
    fields["tags"] = tuple(data.get("tags", ()))
    if fields.get("kind", "code") not in ("code", "record"):
        raise CatalogError(f"rules/{name}: kind must be 'code' or 'record'")
    if not isinstance(fields.get("options", {}), dict):
        raise CatalogError(f"rules/{name}: options must be a table")
    return RuleSpec(**fields)


@cache
def load_catalog() -> dict[str, RuleSpec]:
    """All rules by id, in review order."""
    folder = resources.files("auditor.rules")
    specs = [
        _parse(entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    ]
    specs.sort(key=lambda spec: (spec.order, spec.id))
    return {spec.id: spec for spec in specs}
