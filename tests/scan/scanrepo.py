"""A small challenge-like git repository built in tmp: a main branch with one record and several PR refs.

refs/pull/1/head  legal      the bundled clean example as a new records folder
refs/pull/2/head  illegal    the bundled illegal example (and a scratch copy of its script outside records/)
refs/pull/3/head  wrapped    the illegal example behind an lzma+b85 exec shim
refs/pull/4/head  broken     a script with a syntax error (unanalyzable)
refs/pull/5/head  none       changes only the top-level README (no records folder)
refs/pull/6/head  duplicate  the clean example again under another folder name (same content: one audit)
refs/pull/7/head  merged     a clean record merged into main with a merge commit (still found)
refs/pull/8/head  top-level  edits the top-level train_gpt.py, as early PRs did (its directory is the submission)
"""

from __future__ import annotations

import base64
import lzma
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "fixtures" / "examples"
TRACK = "records/track_10min_16mb"
FOLDERS = {
    1: f"{TRACK}/2026-03-20_Legal",
    2: f"{TRACK}/2026-03-21_Illegal",
    3: f"{TRACK}/2026-03-22_Wrapped",
    4: f"{TRACK}/2026-03-23_Broken",
    6: f"{TRACK}/2026-03-24_LegalAgain",
    7: f"{TRACK}/2026-03-25_Merged",
}
EXPECTED = {
    1: "clean",
    2: "illegal",
    3: "illegal",
    4: "unanalyzable",
    5: "no-submission",
    6: "clean",
    7: "clean",
    8: "clean",
}
ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def copy_example(name: str, target: Path) -> None:
    shutil.copytree(EXAMPLES / name, target)


def wrap(target: Path) -> None:
    """Replace the script by an exec shim of itself, the shape golfed submissions ship."""
    script = target / "train_gpt.py"
    blob = base64.b85encode(lzma.compress(script.read_bytes())).decode()
    script.write_text(f'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("{blob}")))\n')


@dataclass
class FixtureRepo:
    work: Path  # non-bare clone with a working tree (main checked out)
    bare: Path  # bare mirror with refs/pull/N/head

    def commit_on(self, branch: str, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        return git(self.work, "rev-parse", "HEAD")

    def publish(self, number: int, branch: str) -> None:
        git(self.work, "push", "-qf", str(self.bare), f"{branch}:refs/pull/{number}/head")


def _branch(repo: FixtureRepo, number: int, build) -> None:
    git(repo.work, "checkout", "-qb", f"pr{number}", "main")
    build(repo.work)
    repo.commit_on(f"pr{number}", f"PR {number}")
    repo.publish(number, f"pr{number}")
    git(repo.work, "checkout", "-q", "main")


def build(root: Path) -> FixtureRepo:
    work, bare = root / "work", root / "mirror.git"
    work.mkdir()
    git(work, "init", "-q")
    (work / "README.md").write_text("# challenge\n")
    (work / "data").mkdir()
    (work / "data" / "train_tokenizer.py").write_text("print('not a submission')\n")
    copy_example("clean_record", work / TRACK / "2026-03-01_Baseline")
    shutil.copy(EXAMPLES / "clean_record" / "train_gpt.py", work / "train_gpt.py")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "main")
    git(root, "init", "-q", "--bare", str(bare))
    repo = FixtureRepo(work, bare)
    _branch(repo, 1, lambda w: copy_example("clean_record", w / FOLDERS[1]))

    def illegal(w: Path) -> None:
        copy_example("illegal_record", w / FOLDERS[2])
        (w / "scratch").mkdir()  # a scratch copy beside the records folder is not a second submission
        shutil.copy(EXAMPLES / "illegal_record" / "train_gpt.py", w / "scratch" / "train_gpt.py")

    _branch(repo, 2, illegal)

    def wrapped(w: Path) -> None:
        copy_example("illegal_record", w / FOLDERS[3])
        wrap(w / FOLDERS[3])

    _branch(repo, 3, wrapped)

    def broken(w: Path) -> None:
        copy_example("clean_record", w / FOLDERS[4])
        (w / FOLDERS[4] / "train_gpt.py").write_text("def train(:\n    pass\n")

    _branch(repo, 4, broken)

    def readme_and_data(w: Path) -> None:
        (w / "README.md").write_text("# challenge, edited\n")
        (w / "data" / "train_tokenizer.py").write_text("print('still not a submission')\n")

    _branch(repo, 5, readme_and_data)
    _branch(repo, 6, lambda w: copy_example("clean_record", w / FOLDERS[6]))

    def merged(w: Path) -> None:
        copy_example("clean_record", w / FOLDERS[7])
        (w / FOLDERS[7] / "README.md").write_text("# Merged record\n")

    _branch(repo, 7, merged)

    def top_level(w: Path) -> None:
        script = w / "train_gpt.py"
        script.write_text(script.read_text() + "\n# a tweak to the baseline\n")

    _branch(repo, 8, top_level)
    git(work, "merge", "-q", "--no-ff", "-m", "Merge pull request #7", "pr7")
    (work / "NOTES.md").write_text("after the merge\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "main moves on")
    git(work, "push", "-qf", str(bare), "main:refs/heads/main")
    return repo
