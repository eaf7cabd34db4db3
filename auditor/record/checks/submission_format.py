"""submission-format: the folder's place and files, submission.json's fields, logs without a recognisable run."""

from __future__ import annotations

from auditor.record.checks.base import CheckResult, record_finding
from auditor.record.facts import RecordFacts
from auditor.record.submission import schema_problems

RULE = "submission-format"


def check(facts: RecordFacts) -> CheckResult:
    result = CheckResult(present=True)
    folder = facts.folder
    problems: list[str] = []
    if folder.location is None:
        problems.append("the folder is not at records/<track>/<folder>/")
    missing = [name for name in ("README.md", "submission.json") if not folder.has(name)]
    if missing:
        problems.append("no " + " and no ".join(missing))
    if not folder.logs:
        problems.append("no train log with a recognisable run")
    for name in folder.unrecognised_logs:
        problems.append(f"{name} looks like a log but shows no run (no seed, step, score or size line)")
    for problem in problems:
        result.findings.append(record_finding(RULE, problem[0].upper() + problem[1:] + "."))
    if facts.submission is not None:
        for problem in schema_problems(facts.submission):
            result.findings.append(record_finding(RULE, f"submission.json: {problem}.", path="submission.json"))
    if folder.location:
        result.note = f"records/{folder.location[0]}/{folder.location[1]}"
    return result
