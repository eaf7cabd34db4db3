"""Pieces of the scan on their own: suppression notes, the result codec, keys, tree parsing."""

from __future__ import annotations

from pathlib import Path

from auditor.api import Options, audit_path
from auditor.scan import codec, gate
from auditor.scan.gitrepo import parse_tree, submission_folder
from auditor.scan.units import FileRef, audited, blob_id, unit_key

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "examples"


def test_suppression_comments_not_strings(tmp_path):
    (tmp_path / "train_gpt.py").write_text(
        'x = "# noqa in a string"\n'
        "y = 1  # noqa: E501\n"
        "# pgolf-audit: ignore target-in-hash\n"
        "z = 2  # a plain comment\n"
    )
    (tmp_path / "pyproject.toml").write_text("[tool.pgolf-audit]\nignore = ['causality']\n")
    (tmp_path / "pgolf-audit-baseline.json").write_text("{}")
    notes = gate.notes_for(tmp_path, ["train_gpt.py", "pyproject.toml", "pgolf-audit-baseline.json"])
    assert [(n["path"], n["line"]) for n in notes] == [
        ("train_gpt.py", 2),
        ("train_gpt.py", 3),
        ("pyproject.toml", None),
        ("pgolf-audit-baseline.json", None),
    ]


def test_untokenizable_file_is_read_by_lines(tmp_path):
    (tmp_path / "train_gpt.py").write_text('s = """never closed  # noqa\n')
    notes = gate.notes_for(tmp_path, ["train_gpt.py"])
    assert [n["line"] for n in notes] == [1]


def test_codec_round_trip():
    result = audit_path(str(EXAMPLES / "illegal_record"), Options())
    assert result.findings and result.findings[0].evidence
    assert codec.decode(codec.encode(result)) == result


def test_key_depends_on_content_paths_and_options():
    files = (FileRef("train_gpt.py", blob_id(b"a"), 1), FileRef("README.md", blob_id(b"b"), 1))
    assert unit_key(files, "o") == unit_key(tuple(reversed(files)), "o")  # order of listing does not matter
    assert unit_key(files, "o") != unit_key(files, "other options")
    changed = (FileRef("train_gpt.py", blob_id(b"a2"), 2), files[1])
    assert unit_key(files, "o") != unit_key(changed, "o")


def test_blob_id_is_gits():
    assert blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"


def test_weights_and_huge_files_are_not_audited():
    assert audited("train_gpt.py", 10) and audited("logs/train.log", 10)
    assert not audited("final_model.ptz", 10) and not audited("tokenizer.model", 10)
    assert not audited("huge.log", 1 << 30)


def test_parse_tree_entries():
    sha = bytes(range(20))
    data = b"100644 a.py\0" + sha + b"40000 sub dir\0" + sha
    assert parse_tree(data) == [(b"100644", "a.py", sha.hex()), (b"40000", "sub dir", sha.hex())]


def test_submission_folder_of_a_changed_file():
    assert submission_folder("records/track/x/train_gpt.py") == ("records/track/x", True)
    assert submission_folder("records/track/x/logs/seed1.log") == ("records/track/x", True)
    assert submission_folder("fork/records/track/x/README.md") == ("fork/records/track/x", True)
    assert submission_folder("train_gpt.py") == (".", False)
    assert submission_folder("experiments/train_gpt_v2.py") == ("experiments", False)
    assert submission_folder("records/track/README.md") is None
    assert submission_folder("data/train_tokenizer.py") is None
    assert submission_folder("README.md") is None


def test_worker_tasks_keep_neighbours_together():
    from auditor.scan.engine import CHUNK_UNITS, worker_tasks

    batches = [[f"pr{i}-{j}" for j in range(1 + i % 3)] for i in range(300)]
    tasks = worker_tasks(batches, jobs=2)
    assert [unit for task in tasks for unit in task] == [unit for batch in batches for unit in batch]  # PR order
    assert all(len(task) <= CHUNK_UNITS or len(task) == max(map(len, batches)) for task in tasks)
    assert len(tasks[0]) > 4 * len(tasks[-1])  # long runs first, short ones at the end to balance the workers
    starts = {tuple(batch) for batch in batches}
    for task in tasks:  # a batch (units sharing their code) is never split across tasks
        assert tuple(task[: len(next(b for b in batches if b[0] == task[0]))]) in starts
    assert worker_tasks([["a"], ["b"]], jobs=2) == [["a"], ["b"]]  # small scans still spread over the workers
