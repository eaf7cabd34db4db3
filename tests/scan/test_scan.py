"""The scan over git refs and folders: verdicts, one audit per distinct content, the cache, and the labels."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from auditor.api import Options
from auditor.scan import engine, labels
from auditor.scan.cache import Cache
from auditor.scan.gitrepo import Graph, resolve
from scanrepo import EXPECTED, FOLDERS, TRACK, git

TOKEN = engine.options_token(Options())


def scan_git(repo: Path, cache: Cache, refs: list[str] | None = None, jobs: int = 1) -> engine.Scan:
    units, empty = engine.git_units(repo, refs or ["refs/pull/*/head"], "main", cache, TOKEN)
    return engine.run(units, empty, cache, Options(), jobs, repo)


def verdicts(scan: engine.Scan) -> dict[int, str]:
    return {row.pr: row.verdict for row in scan.rows}


def test_each_pr_gets_its_verdict(fixture_repo, tmp_path):
    scan = scan_git(fixture_repo.bare, Cache(tmp_path / "cache"))
    assert verdicts(scan) == EXPECTED
    by_pr = {row.pr: row for row in scan.rows}
    assert by_pr[2].rules() == by_pr[3].rules() and "target-in-hash" in by_pr[2].rules()
    assert by_pr[3].result.source.wrapper  # the shim was decoded, not skipped
    assert by_pr[2].result.source.script == f"{FOLDERS[2]}/train_gpt.py"
    assert "syntax error" in by_pr[4].result.error
    assert by_pr[7].folder == FOLDERS[7]  # merged with a merge commit: compared with main before the merge
    assert by_pr[8].folder == "." and by_pr[8].result.source.script == "train_gpt.py"
    assert [row.folder for row in scan.rows if row.pr == 2] == [FOLDERS[2]]  # not the scratch copy


def test_same_content_is_audited_once(fixture_repo, tmp_path):
    scan = scan_git(fixture_repo.bare, Cache(tmp_path / "cache"))
    by_pr = {row.pr: row for row in scan.rows}
    assert by_pr[1].key == by_pr[6].key
    folders = [row for row in scan.rows if row.status != "no-submission"]
    assert scan.distinct == len({row.key for row in folders}) == len(folders) - 1
    assert scan.audited == scan.distinct


def test_second_run_audits_nothing_and_a_change_is_reaudited(fixture_repo, tmp_path):
    bare = tmp_path / "mirror.git"
    shutil.copytree(fixture_repo.bare, bare)
    cache_dir = tmp_path / "cache"
    first = scan_git(bare, Cache(cache_dir))
    second = scan_git(bare, Cache(cache_dir))
    assert second.audited == 0 and all(row.cached for row in second.rows if row.key)
    assert verdicts(second) == verdicts(first)

    work = fixture_repo.work
    git(work, "checkout", "-qb", "pr2-update", "pr2")
    script = work / FOLDERS[2] / "train_gpt.py"
    script.write_text(script.read_text() + "\n# tuned\n")
    git(work, "commit", "-qam", "tune")
    git(work, "push", "-qf", str(bare), "pr2-update:refs/pull/2/head")
    git(work, "checkout", "-q", "main")
    third = scan_git(bare, Cache(cache_dir))
    assert third.audited == 1
    assert [row.pr for row in third.rows if row.key and not row.cached] == [2]
    assert verdicts(third) == verdicts(first)


def test_no_cache_audits_everything_again(fixture_repo, tmp_path):
    scan_git(fixture_repo.bare, Cache(tmp_path / "cache"))
    again = scan_git(fixture_repo.bare, Cache(None))
    assert again.audited == again.distinct > 0


def test_process_pool_gives_the_same_rows_and_removes_its_shared_memo(fixture_repo, tmp_path, monkeypatch):
    serial = scan_git(fixture_repo.bare, Cache(None), refs=["refs/pull/[12]/head"])
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    pooled = scan_git(fixture_repo.bare, Cache(None), refs=["refs/pull/[12]/head"], jobs=2)
    assert [(r.id, r.verdict, r.rules()) for r in pooled.rows] == [(r.id, r.verdict, r.rules()) for r in serial.rows]
    assert list((tmp_path / "tmp").iterdir()) == []  # the workers' shared statement walks are gone


def test_fork_point_of_open_and_merged_heads(fixture_repo):
    bare = fixture_repo.bare
    main = resolve(bare, "main")
    heads = {n: resolve(bare, f"refs/pull/{n}/head") for n in (1, 7)}
    graph = Graph(bare, main, list(heads.values()))
    root = git(bare, "rev-list", "--max-parents=0", "main")
    assert graph.fork_point(heads[1]) == root  # PR 1 branched off the first commit
    assert graph.fork_point(heads[7]) == root  # merged: the base as it was before the merge


def test_dir_scan_finds_every_records_folder(tmp_path):
    root = tmp_path / "records"
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures" / "examples", root / "track")
    (root / "track" / "notes").mkdir()
    (root / "track" / "notes" / "README.md").write_text("no script here\n")
    units = engine.dir_units(root, TOKEN)
    scan = engine.run(units, [], Cache(tmp_path / "cache"), Options(), 1, None)
    assert {row.id: row.verdict for row in scan.rows} == {
        "track/clean_record": "clean",
        "track/illegal_record": "illegal",
    }


def test_dir_and_git_keys_agree_for_the_same_folder(fixture_repo, tmp_path):
    scan = scan_git(fixture_repo.bare, Cache(None), refs=["refs/pull/1/head"])
    on_disk = engine.dir_units(fixture_repo.work / TRACK / "2026-03-01_Baseline", TOKEN)
    assert on_disk[0].key == scan.rows[0].key  # same files, same content: same key


def test_labels_comparison(fixture_repo, tmp_path):
    scan = scan_git(fixture_repo.bare, Cache(tmp_path / "cache"))
    rows = [
        {"pr": 1, "verdict": "clean", "rules": []},
        {"pr": 2, "verdict": "illegal", "rules": ["target-in-hash"], "path": f"{FOLDERS[2]}/train_gpt.py"},
        {"pr": 3, "verdict": "clean", "rules": []},  # a wrong label: the scan says illegal
        {"pr": 4, "verdict": "flag", "rules": []},
        {"pr": 99, "verdict": "illegal", "rules": ["unnormalized-mix"]},  # not in the repository
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    comparison = labels.compare(scan.rows, labels.read_labels(path))
    assert comparison.verdicts[("clean", "clean")] == 1
    assert comparison.verdicts[("illegal", "illegal")] == 1
    assert comparison.verdicts[("clean", "illegal")] == 1
    assert comparison.verdicts[("flag", "unanalyzable")] == 1
    assert comparison.verdicts[("illegal", "missing")] == 1
    assert comparison.rules["target-in-hash"]["tp"] == 1
    assert comparison.rules["target-in-hash"]["fp"] == 1  # PR 3
    assert comparison.rules["hashed-ngram-cache"]["fn"] == 0  # PR 99 is missing: not counted per rule
    assert [d["pr"] for d in comparison.disagreements] == [3, 4, 99]
    text = labels.render(comparison)
    assert "| clean | 1 |" in text and "PR 3: label clean" in text


@pytest.mark.parametrize(
    "line",
    ['{"pr": "1", "verdict": "clean", "rules": []}', '{"pr": 1, "verdict": "maybe"}', "not json"],
)
def test_bad_labels_line_is_an_input_error(tmp_path, line):
    path = tmp_path / "labels.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(labels.InputError, match="labels.jsonl:1"):
        labels.read_labels(path)
