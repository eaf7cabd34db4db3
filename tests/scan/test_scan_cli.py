"""`pgolf-audit scan` on the command line: formats, exit codes, gate mode, bad input as one line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from scanrepo import EXPECTED, FOLDERS, git

from auditor.cli import main

ERROR = "pgolf-audit: error:"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def scan_args(fixture_repo, tmp_path):
    return ["scan", "--git", str(fixture_repo.bare), "--jobs", "1", "--cache-dir", str(tmp_path / "cache")]


def test_jsonl_rows_and_exit_code(capsys, scan_args):
    code, out, _ = run(capsys, *scan_args, "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {row["pr"]: row["verdict"] for row in rows} == EXPECTED
    assert code == 1  # an illegal and an unanalyzable folder
    code, _, _ = run(capsys, *scan_args, "--format", "jsonl", "--refs", "refs/pull/1/head", "--refs", "refs/pull/6/*")
    assert code == 0


def test_markdown_summary_lists_what_to_act_on(capsys, scan_args):
    _, out, _ = run(capsys, *scan_args)  # stdout is not a TTY: markdown
    assert "| illegal | 2 | 2 |" in out
    assert "| clean | 4 | 4 |" in out and "| no-submission | 0 | 1 |" in out
    assert "| PR 2 | illegal | " in out and f"`{FOLDERS[2]}`" in out
    assert "| PR 4 | unanalyzable | syntax error" in out


def test_csv_json_and_table(capsys, scan_args, tmp_path):
    code, out, _ = run(
        capsys,
        *scan_args,
        "--format",
        "csv",
        "--write",
        f"json={tmp_path / 'scan.json'}",
        "--write",
        f"table={tmp_path / 'table.txt'}",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {int(r["pr"]): r["verdict"] for r in rows} == EXPECTED
    doc = json.loads((tmp_path / "scan.json").read_text())
    assert doc["summary"]["verdicts"]["illegal"] == 2
    assert next(r for r in doc["rows"] if r["pr"] == 2)["result"]["findings"]
    table = (tmp_path / "table.txt").read_text()
    assert "Verdicts" in table and "To review" in table and "\x1b[" not in table


def test_review_sarif_and_github_cover_the_audited_folders(capsys, scan_args, tmp_path):
    code, out, _ = run(
        capsys,
        *scan_args,
        "--refs",
        "refs/pull/2/head",
        "--format",
        "github",
        "--write",
        f"review={tmp_path / 'review.md'}",
        "--write",
        f"sarif={tmp_path / 'out.sarif'}",
    )
    assert code == 1
    assert f"::error file={FOLDERS[2]}/train_gpt.py,line=" in out
    review = (tmp_path / "review.md").read_text()
    assert review.startswith("<!-- pgolf-audit:v1 -->") and "ILLEGAL" in review
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
        for loc in r["locations"]
    }
    assert uris == {f"{FOLDERS[2]}/train_gpt.py"}


def test_labels_table_follows_the_summary(capsys, scan_args, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"pr": 2, "verdict": "illegal", "rules": ["target-in-hash"]}\n')
    _, out, _ = run(capsys, *scan_args, "--labels", str(labels))
    assert "### Scan vs labels (1 labelled PRs)" in out and "| illegal | 1 | 1 |" in out


def test_second_cli_run_reads_the_cache(capsys, scan_args):
    run(capsys, *scan_args, "--format", "jsonl")
    _, out, _ = run(capsys, *scan_args, "--format", "jsonl")
    rows = [json.loads(line) for line in out.splitlines()]
    assert all(row["cached"] for row in rows if row["key"])


def test_gate_mode_reports_suppressions_and_reads_no_cache(capsys, fixture_repo, tmp_path):
    work = fixture_repo.work
    git(work, "checkout", "-qb", "quiet", "main")
    folder = work / "records/track_10min_16mb/2026-03-26_Quiet"
    git(work, "checkout", "-q", "pr2", "--", FOLDERS[2])  # the illegal example under a new name
    git(work, "mv", FOLDERS[2], str(folder.relative_to(work)))
    script = folder / "train_gpt.py"
    script.write_text("# pgolf-audit: ignore target-in-hash\n" + script.read_text().replace("\n", "  # noqa\n", 1))
    (folder / ".pgolf-audit.toml").write_text("ignore = ['target-in-hash']\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "PR 8")
    head = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    cache = tmp_path / "cache"
    argv = ["scan", "--git", str(work), "--refs", head, "--mode", "gate", "--cache-dir", str(cache), "--jobs", "1"]
    code, out, _ = run(capsys, *argv, "--format", "github", "--write", f"review={tmp_path / 'review.md'}")
    assert code == 1  # the comments change nothing
    assert "::error file=records/track_10min_16mb/2026-03-26_Quiet/train_gpt.py" in out
    assert "title=suppression-ignored::# pgolf-audit: ignore target-in-hash" in out
    review = (tmp_path / "review.md").read_text()
    assert "Suppression attempts (ignored: gate mode)" in review
    assert "train\\_gpt.py:1: # pgolf-audit: ignore target-in-hash" in review
    assert ".pgolf-audit.toml: audit config file (ignored)" in review
    assert not cache.exists()
    plain_argv = ["scan", "--git", str(work), "--refs", head, "--jobs", "1", "--no-cache", "--format", "github"]
    _, plain, _ = run(capsys, *plain_argv)
    assert "suppression-ignored" not in plain  # only the gate reports them


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan"], "give either DIR... or --git REPO"),
        (["scan", "--git", "/nonexistent/repo.git"], "no such repository"),
        (["scan", "--refs", "x", "somedir"], "--refs needs --git"),
        (["scan", "somedir", "--jobs", "0"], "--jobs must be at least 1"),
        (["scan", "/nonexistent/dir"], "no such file or directory"),
        (["scan", "somedir", "--write", "pdf=x"], "--write expects FORMAT=FILE"),
        (["scan", "somedir", "--labels", "/nonexistent/labels.jsonl"], "cannot read labels"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "somedir").mkdir()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(ERROR) and message in err and len(err.splitlines()) == 1


def test_unknown_base_and_revision(capsys, fixture_repo):
    code, _, err = run(capsys, "scan", "--git", str(fixture_repo.bare), "--base", "nope")
    assert code == 2 and "unknown base revision 'nope'" in err
    code, _, err = run(capsys, "scan", "--git", str(fixture_repo.bare), "--refs", "deadbeef")
    assert code == 2 and "unknown revision 'deadbeef'" in err


def test_real_process_never_shows_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--git", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.startswith(ERROR)
