"""Record-rule fixtures: folders under fixtures/<record rule>/ whose README (or EXPECT.md) starts with

    <!-- expect: <record rules reported at illegal / needs-review> | expect-info: <record rules at info only> -->

`<kind>_<shape>` names the case as in the code fixtures; kind `error` is a folder the CLI must refuse (exit 2).
Only record rules are compared here; code rules have their own fixtures.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.api import audit_path
from auditor.catalog import load_catalog
from auditor.cli import main
from auditor.load.errors import InputError
from auditor.model import Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORD_RULES = sorted(rule for rule, spec in load_catalog().items() if spec.kind == "record")
_EXPECT = re.compile(r"^<!-- expect: (?P<reported>.+?) \| expect-info: (?P<info>.+?) -->$")


def _ids(text: str) -> set[str]:
    return set() if text.strip() == "none" else {part.strip() for part in text.split(",")}


def _cases() -> list[Path]:
    return sorted(case for rule in RECORD_RULES for case in (FIXTURES / rule).glob("*") if case.is_dir())


def _expectation(case: Path) -> tuple[set[str], set[str]]:
    head = next(p for p in (case / "README.md", case / "EXPECT.md") if p.is_file()).read_text().splitlines()[0]
    m = _EXPECT.match(head)
    assert m, f"{case}: first line must be '<!-- expect: ... | expect-info: ... -->'"
    return _ids(m["reported"]), _ids(m["info"])


@pytest.mark.parametrize("rule", RECORD_RULES)
def test_every_record_rule_has_legal_and_failing_fixtures(rule):
    kinds = [case.name.split("_", 1)[0] for case in (FIXTURES / rule).glob("*") if case.is_dir()]
    assert kinds.count("legal") >= 2, f"{rule}: needs at least two legal fixtures"
    severity = load_catalog()[rule].severity
    if severity is not Severity.INFO:
        assert sum(k in ("illegal", "review") for k in kinds) >= 1, f"{rule}: needs a failing fixture"


@pytest.mark.parametrize("case", [c for c in _cases() if not c.name.startswith("error_")],
                         ids=lambda c: f"{c.parent.name}/{c.name}")
def test_record_fixture(case):
    reported, info = _expectation(case)
    result = audit_path(str(case))
    found = {(f.rule, f.severity) for f in result.findings if f.rule in RECORD_RULES}
    got_reported = {rule for rule, sev in found if sev is not Severity.INFO}
    got_info = {rule for rule, sev in found if sev is Severity.INFO} - got_reported
    detail = "\n".join(f"  {f.rule} [{f.severity.value}] {f.message}" for f in result.findings)
    assert got_reported == reported, f"reported record rules differ\n{detail}"
    assert got_info == info, f"info-only record rules differ\n{detail}"
    kind = case.name.split("_", 1)[0]
    if kind == "illegal":
        assert any(f.severity is Severity.ILLEGAL for f in result.findings if f.rule == case.parent.name)
    if kind == "review":
        assert {f.severity for f in result.findings if f.rule == case.parent.name} == {Severity.NEEDS_REVIEW}


@pytest.mark.parametrize("case", [c for c in _cases() if c.name.startswith("error_")], ids=lambda c: c.name)
def test_error_fixtures_exit_2_with_one_line(case, capsys):
    with pytest.raises(InputError):
        audit_path(str(case))
    assert main([str(case)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("pgolf-audit: error: ")


def test_nothing_in_a_folder_is_modified():
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for c in _cases() for p in c.rglob("*") if p.is_file()}
    for case in _cases():
        main([str(case), "--format", "json", "--exit-zero"])
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for c in _cases() for p in c.rglob("*") if p.is_file()}
    assert after == before
