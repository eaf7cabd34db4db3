"""The CI gate files: workflows and action parse, never paste expressions into shell, and the PR job is read-only;
the action's audit step runs end to end against the fixture repository with the environment GitHub would set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scanrepo import FOLDERS, git

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(doc: dict) -> list[dict]:
    if "runs" in doc:
        return doc["runs"]["steps"]
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def by_trigger(trigger: str) -> dict:
    matches = [load(p) for p in WORKFLOWS if trigger in load(p)["on"]]
    assert len(matches) == 1
    return matches[0]


def test_files_parse():
    assert len(WORKFLOWS) == 2
    for path in [*WORKFLOWS, ROOT / "action.yml", ROOT / ".pre-commit-hooks.yaml"]:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [*WORKFLOWS, ROOT / "action.yml"], ids=lambda p: p.name)
def test_no_expression_inside_shell_or_scripts(path):
    for step in steps(load(path)):
        code = step.get("run", "") + step.get("with", {}).get("script", "")
        assert not EXPRESSION.search(code), f"{path.name}: step {step.get('name') or step.get('uses')} interpolates"


def test_action_inputs_reach_the_script_only_through_env():
    action = load(ROOT / "action.yml")
    assert action["runs"]["using"] == "composite"
    text = (ROOT / "action.yml").read_text()
    uses = [m for m in EXPRESSION.findall(text) if m.startswith("inputs.")]
    audit = next(s for s in steps(action) if s.get("id") == "audit")
    assert sorted(uses) == sorted(EXPRESSION.findall(" ".join(audit["env"].values())))
    assert set(action["inputs"]) == {"base", "fail-on", "review-file", "sarif-file"}


def test_pull_request_job_is_read_only_and_secret_free():
    workflow = by_trigger("pull_request")
    text = yaml.safe_dump(workflow)
    assert "secrets." not in text and "pull_request_target" not in text
    scopes = [workflow.get("permissions", {})] + [job.get("permissions") for job in workflow["jobs"].values()]
    for scope in scopes:
        assert isinstance(scope, dict), "every job states its permissions"
        assert set(scope.values()) <= {"read", "none"}
    checkout = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False


def test_comment_workflow_never_checks_out_or_runs_pr_code():
    workflow = by_trigger("workflow_run")
    assert workflow["permissions"] == {}
    for step in steps(workflow):
        assert not step.get("uses", "").startswith("actions/checkout")
        assert "run" not in step  # no shell at all: the artifact is data
    script = next(s for s in steps(workflow) if "github-script" in s.get("uses", ""))["with"]["script"]
    assert "<!-- pgolf-audit:v1 -->" in script and "updateComment" in script
    assert "process.env.AUDITED_SHA" in script  # the artifact's PR number is checked against the audited commit


def test_pre_commit_hook_targets_training_scripts():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "pgolf-audit"
    pattern = re.compile(hook["files"])
    assert pattern.search("records/track_10min_16mb/x/train_gpt.py")
    assert not pattern.search("records/track_10min_16mb/x/helper.py")


# ---------------------------------------------------------------------------------------------- end to end


def github_env(step: dict, inputs: dict[str, str]) -> dict[str, str]:
    """The step's env as GitHub would evaluate it: `${{ inputs.X }}` replaced by the input (or its default)."""
    return {
        key: EXPRESSION.sub(lambda m: inputs[m.group(1).removeprefix("inputs.")], value)
        for key, value in step["env"].items()
    }


def run_action(fixture_repo, tmp_path: Path, pr: int) -> tuple[int, str, Path, dict]:
    """Check out PR N's merge into main like actions/checkout does, then run the action's audit step."""
    workspace = tmp_path / "workspace"
    git(tmp_path, "clone", "-q", str(fixture_repo.bare), str(workspace))
    git(workspace, "fetch", "-q", "origin", f"refs/pull/{pr}/head")
    base = git(workspace, "rev-parse", "origin/main")
    git(workspace, "checkout", "-q", "--detach", base)
    git(workspace, "merge", "-q", "--no-ff", "-m", f"Merge {pr} into main", "FETCH_HEAD")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": pr, "base": {"sha": base}}}))
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    action = load(ROOT / "action.yml")
    step = next(s for s in steps(action) if s.get("id") == "audit")
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    env = {
        **os.environ,
        **github_env(step, inputs),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_BASE_REF": "main",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(tmp_path),
    }
    # The installed command stands in for the action's venv (the install step needs PyPI).
    command = step["run"].replace('PGOLF_AUDIT="$RUNNER_TEMP/pgolf-audit-venv/bin/pgolf-audit" ', "")
    env["PGOLF_AUDIT"] = f"{sys.executable} -m auditor"
    done = subprocess.run(["bash", "-c", command], cwd=workspace, env=env, capture_output=True, text=True)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return done.returncode, done.stdout, workspace, {"summary": summary.read_text(), **values}


def test_action_fails_an_illegal_pr_with_annotations_summary_and_sarif(fixture_repo, tmp_path):
    code, stdout, workspace, out = run_action(fixture_repo, tmp_path, 2)
    assert code == 1 and out["exit-code"] == "1"
    assert f"::error file={FOLDERS[2]}/train_gpt.py" in stdout
    assert out["summary"].startswith("<!-- pgolf-audit:v1 -->") and "ILLEGAL" in out["summary"]
    sarif = json.loads((workspace / out["sarif-file"]).read_text())
    assert sarif["runs"][0]["results"]
    assert (workspace / out["review-file"]).read_text() == out["summary"]


def test_action_passes_a_legal_pr(fixture_repo, tmp_path):
    code, stdout, _, out = run_action(fixture_repo, tmp_path, 1)
    assert code == 0 and out["exit-code"] == "0"
    assert "::error" not in stdout and "CLEAN" in out["summary"].upper()
