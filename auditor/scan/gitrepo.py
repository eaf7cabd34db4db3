"""Read submissions straight from a git repository's objects: no checkout, no working tree.

One `git rev-list --parents` gives the commit graph of the base branch and every scanned ref; merge bases are
computed from it in memory. Trees and blobs come from one long-running `git cat-file --batch` (and `--batch-check`
for sizes), so a scan of two thousand refs starts three git processes, not thousands.

The submissions a ref adds or changes are the `records/<track>/<name>` folders with a file that differs from the
ref's merge base with the base branch; a ref that changes none is judged by the directories of the training
scripts it adds or edits (early PRs edited the top-level `train_gpt.py`). A ref already merged into the base
branch (a merge commit on its first-parent chain brought it in) is compared with the fork point before that merge,
so merged records are still found.
"""

from __future__ import annotations

import fnmatch
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from auditor.load.errors import InputError

TREE_MODE = b"40000"
BLOB_MODES = (b"100644", b"100755")  # links (120000) and submodules (160000) are never read
RECORDS = "records"


@dataclass(frozen=True, slots=True)
class Ref:
    name: str  # refs/pull/12/head, or the revision as given
    commit: str


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """Run one git command in REPO (bare or not); failures become InputError with git's own first line."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed (needed for --git)") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise InputError(f"git {args[0]} in {repo}: {reason}")
    return done.stdout


def check_repo(repo: Path) -> None:
    if not repo.exists():
        raise InputError(f"no such repository: {repo}")
    git(repo, "rev-parse", "--git-dir")


def resolve(repo: Path, rev: str) -> str:
    """A revision to its commit id; an unknown one is an input error."""
    out = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
    return out


def list_refs(repo: Path, patterns: list[str]) -> list[Ref]:
    """Refs matching each pattern (`refs/pull/*/head`), or a plain revision (`HEAD`, a commit id) as one ref."""
    refs: dict[str, Ref] = {}
    for pattern in patterns:
        if pattern.startswith("refs/") or any(c in pattern for c in "*?["):
            lines = git(repo, "for-each-ref", "--format=%(objectname) %(objecttype) %(refname)").splitlines()
            for line in lines:
                commit, kind, name = line.split(" ", 2)
                if kind == "commit" and fnmatch.fnmatchcase(name, pattern):
                    refs.setdefault(name, Ref(name, commit))
        else:
            try:
                refs.setdefault(pattern, Ref(pattern, resolve(repo, pattern)))
            except InputError:
                raise InputError(f"unknown revision {pattern!r} in {repo}") from None
    return sorted(refs.values(), key=_ref_order)


def _ref_order(ref: Ref) -> tuple[int, str]:
    parts = ref.name.split("/")
    number = int(parts[2]) if len(parts) > 2 and parts[1] == "pull" and parts[2].isdigit() else -1
    return (number, ref.name)


def pr_number(ref: str) -> int | None:
    parts = ref.split("/")
    if len(parts) == 4 and parts[:2] == ["refs", "pull"] and parts[2].isdigit():
        return int(parts[2])
    return None


# ---------------------------------------------------------------------------------------------- merge bases


class Graph:
    """The commit graph below the base branch and the scanned refs, for merge bases without a git call each."""

    def __init__(self, repo: Path, base: str, heads: list[str]) -> None:
        text = git(repo, "rev-list", "--parents", "--stdin", stdin="\n".join([base, *heads]) + "\n")
        self.parents: dict[str, list[str]] = {}
        for line in text.splitlines():
            commit, *parents = line.split()
            self.parents[commit] = parents
        self.base = base
        self._generation: dict[str, int] = {}
        self.introduced = self._introductions(base)

    def _introductions(self, tip: str) -> dict[str, int]:
        """Every ancestor of the base tip -> index (0 = oldest) of the first-parent commit that brought it in."""
        chain = []
        commit: str | None = tip
        while commit is not None:
            chain.append(commit)
            parents = self.parents.get(commit, [])
            commit = parents[0] if parents else None
        chain.reverse()
        introduced: dict[str, int] = {}
        for index, head in enumerate(chain):
            stack = [head]
            while stack:
                node = stack.pop()
                if node in introduced:
                    continue
                introduced[node] = index
                stack.extend(p for p in self.parents.get(node, []) if p not in introduced)
        return introduced

    def generation(self, commit: str) -> int:
        """Length of the longest parent path to a root (iterative: histories are deep)."""
        stack = [commit]
        while stack:
            node = stack[-1]
            if node in self._generation:
                stack.pop()
                continue
            pending = [p for p in self.parents.get(node, []) if p not in self._generation]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self._generation[node] = 1 + max((self._generation[p] for p in self.parents.get(node, [])), default=0)
        return self._generation[commit]

    def fork_point(self, head: str) -> str | None:
        """The newest commit of the base branch that HEAD's changes start from (None: unrelated histories).

        A head the base branch already contains is compared with the base as it was before the merge that
        brought it in.
        """
        limit = self.introduced.get(head, len(self.introduced) + 1)
        seen: set[str] = set()
        stack = [head]
        candidates: list[str] = []
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node != head and self.introduced.get(node, limit) < limit:
                candidates.append(node)
                continue
            stack.extend(self.parents.get(node, []))
        if head not in self.introduced and not candidates:
            return None
        return max(candidates, key=self.generation) if candidates else None


# ---------------------------------------------------------------------------------------------- objects


class Objects:
    """Trees and blobs through persistent `git cat-file` processes (one request, one answer)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._batch = self._start("--batch")
        self._check: subprocess.Popen | None = None
        self._trees: dict[str, list[tuple[bytes, str, str]]] = {}

    def _start(self, mode: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["git", "-C", str(self.repo), "cat-file", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def close(self) -> None:
        for proc in (self._batch, self._check):
            if proc is not None:
                proc.stdin.close()
                proc.wait()

    def __enter__(self) -> Objects:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str) -> tuple[str, bytes]:
        """(type, content) of an object name or `commit:path`; missing -> ("missing", b"")."""
        proc = self._batch
        proc.stdin.write(name.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) < 3:
            return "missing", b""
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after the content
        return header[1].decode(), data

    def size(self, sha: str) -> int:
        if self._check is None:
            self._check = self._start("--batch-check")
        self._check.stdin.write(sha.encode() + b"\n")
        self._check.stdin.flush()
        header = self._check.stdout.readline().split()
        return int(header[2]) if len(header) >= 3 else -1

    def tree(self, sha: str) -> list[tuple[bytes, str, str]]:
        """Entries (mode, name, sha) of a tree object."""
        if sha not in self._trees:
            kind, data = self.read(sha)
            self._trees[sha] = parse_tree(data) if kind == "tree" else []
        return self._trees[sha]

    def root_tree(self, commit: str) -> str:
        kind, data = self.read(commit)
        if kind != "commit":
            raise InputError(f"{commit} is not a commit")
        return data.split(b"\n", 1)[0].split()[1].decode()

    def entry(self, tree: str, path: str) -> tuple[bytes, str] | None:
        """(mode, sha) of PATH below a tree, None when absent."""
        mode, sha = TREE_MODE, tree
        for part in path.split("/"):
            if mode != TREE_MODE:
                return None
            found = [(m, s) for m, n, s in self.tree(sha) if n == part]
            if not found:
                return None
            mode, sha = found[0]
        return mode, sha

    def walk(self, tree: str, prefix: str = "") -> Iterator[tuple[str, bytes, str]]:
        """(relative path, mode, sha) of every file below a tree, depth first, sorted."""
        for mode, name, sha in self.tree(tree):
            path = f"{prefix}{name}"
            if mode == TREE_MODE:
                yield from self.walk(sha, path + "/")
            else:
                yield path, mode, sha


def parse_tree(data: bytes) -> list[tuple[bytes, str, str]]:
    entries = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space]
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        sha = data[nul + 1 : nul + 21].hex()
        entries.append((mode, name, sha))
        pos = nul + 21
    return entries


def changed_paths(objects: Objects, head: str, base: str | None, prefix: str = "") -> Iterator[str]:
    """Files added or modified in tree HEAD relative to tree BASE (identical subtrees are skipped unread)."""
    old = {name: (mode, sha) for mode, name, sha in objects.tree(base)} if base else {}
    for mode, name, sha in objects.tree(head):
        before = old.get(name)
        if before is not None and before[1] == sha:
            continue
        path = f"{prefix}{name}"
        if mode == TREE_MODE:
            yield from changed_paths(objects, sha, before[1] if before and before[0] == TREE_MODE else None, path + "/")
        elif mode in BLOB_MODES:
            yield path


def submission_folder(path: str) -> tuple[str, bool] | None:
    """The submission a changed file belongs to: (folder, whole subtree?) or None.

    A file below `records/<track>/<name>/` (at any depth, also under a `records` folder nested deeper) belongs to
    that records folder. A training script elsewhere (`train_gpt.py` at the top, as early PRs edited it) is a
    submission of its own directory's files only (`train_gpt*.py`: a data-prep `train_tokenizer.py` is not one).
    """
    parts = path.split("/")
    for index, part in enumerate(parts[:-3]):
        if part == RECORDS:
            return "/".join(parts[: index + 3]), True
    name = parts[-1]
    if name.startswith("train_gpt") and name.endswith(".py"):
        return "/".join(parts[:-1]) or ".", False
    return None


def changed_folders(objects: Objects, head_tree: str, base_tree: str | None) -> dict[str, bool]:
    """Submission folders with a file that differs between HEAD and BASE -> whether their subfolders count.

    Records folders when the ref changes any; only otherwise the directories of the training scripts it changes
    (a PR that ships a records folder often carries scratch copies of its script elsewhere).
    """
    records: dict[str, bool] = {}
    loose: dict[str, bool] = {}
    for path in changed_paths(objects, head_tree, base_tree):
        found = submission_folder(path)
        if found is not None:
            (records if found[1] else loose)[found[0]] = found[1]
    return records or loose


def folder_files(objects: Objects, root_tree: str, folder: str, recursive: bool) -> Iterator[tuple[str, bytes, str]]:
    """(path relative to the folder, mode, blob id) of the folder's files in a commit's tree."""
    entry = (TREE_MODE, root_tree) if folder == "." else objects.entry(root_tree, folder)
    if entry is None or entry[0] != TREE_MODE:
        return
    if recursive:
        yield from objects.walk(entry[1])
    else:
        yield from ((name, mode, sha) for mode, name, sha in objects.tree(entry[1]) if mode != TREE_MODE)
