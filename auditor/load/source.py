"""Load a submission: find the training script, read and decode it, unwrap exec shims, read the record's claims.

`load("records/track_10min_16mb/2026-04-01_x")` or `load("path/to/train_gpt.py")` -> `LoadedSource`. Nothing from
the submission is executed or imported; every file is read from inside the submission folder only (links that
lead out of it are ignored) and with a size cap, because the judged party wrote all of it.
Raises `InputError` (exit 2) for a missing path, a folder without a script or a malformed submission.json, and
`Unanalyzable` for code that cannot be audited (empty, binary, undecodable, oversized, undecodable shim).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auditor.load.errors import InputError, Unanalyzable
from auditor.load.logs import printed_lines
from auditor.load.unwrap import Unwrapped, decode_source, imported_modules, unwrap
from auditor.model import Claims, SourceInfo

_MAX_LOGS = 20
_LOG_LINES = 400  # log lines read per file, not counting a dump of the source code
_LOG_MAX_LINES = 8_000  # hard cap per file, code dump included
_MAX_SIBLINGS = 32
_TEXT_CAP = 4 << 20  # README, *.sh, submission.json: bytes read at most
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]+")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_COMMAND_PREFIXES = frozenset(
    {"export", "env", "declare", "typeset", "local", "readonly", "do", "then", "else", "{", "time", "!"}
)
_NON_SHELL_FENCES = frozenset({"python", "py", "python3", "json", "jsonc", "yaml", "yml", "toml", "diff", "patch"})
_README_COMMAND = re.compile(r"^(?:\$\s+)?(?:(?:export|env)\s+)?(?:[A-Z][A-Z0-9_]+=|torchrun\b|python3?\b)")
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_LOG_DUMP = re.compile(r"^\s+([a-z_][a-z0-9_]*):\s+(\S.*?)\s*$")  # "  ttt_epochs: 3" (indented dump)
_LOG_PAIR = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)=([^\s,;)\]}'\"]+)")  # "... ttt_epochs=3 ..."


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """A submission as read from disk: shipped bytes, the code to analyse, and what the record claims."""

    path: str  # as given
    script: Path  # the training script that was read
    folder: Path | None  # the records folder (None for a lone file without submission.json beside it)
    raw: bytes  # shipped bytes of the script
    sha256: str  # of `raw`
    text: str  # `raw` decoded
    code: str  # the analysed code: `text`, or the innermost code of an exec shim (its own line numbers)
    wrapper: str | None = None  # e.g. "lzma(raw)+b85 exec shim"
    siblings: tuple[str, ...] = ()  # code files beside the script that it execs (inlined) or imports (read)
    sibling_sources: dict[str, str] = field(default_factory=dict)  # imported sibling file name -> its code
    claims: Claims = field(default_factory=Claims)
    submission: object = None  # submission.json parsed (None without one); the record review reads it too
    launch_env: dict[str, str] = field(default_factory=dict)  # env assignments of the launch commands
    logged_hparams: dict[str, str] = field(default_factory=dict)  # hyper-parameters the train logs print
    log_lines: tuple[str, ...] = ()  # every non-code line of the train logs
    notes: tuple[str, ...] = ()  # loader decisions a reviewer should see (which script was picked)

    @property
    def size(self) -> int:
        return len(self.raw)

    def source_info(self) -> SourceInfo:
        return SourceInfo(
            script=str(self.script),
            sha256=self.sha256,
            size=self.size,
            wrapper=self.wrapper,
            inner_size=len(self.code.encode("utf-8", "surrogatepass")) if self.wrapper else None,
            siblings=self.siblings,
        )


def load(path: str, *, max_bytes: int = 1_000_000) -> LoadedSource:
    """Read the script at PATH (a .py file or a records folder) and everything the audit needs beside it."""
    given = Path(path)
    if not given.exists():
        raise InputError(f"no such file or directory: {path}")
    notes: list[str] = []
    if given.is_dir():
        folder: Path | None = given
        script, notes = find_script(given)
    elif given.is_file():
        script = given
        folder = given.parent if _safe_file(given.parent / "submission.json", given.parent) else None
    else:
        raise InputError(f"not a regular file or folder: {path}")
    submission = read_submission(folder) if folder is not None else None
    claims = read_claims(folder, submission) if folder is not None else Claims()
    raw = _read_capped(script, max_bytes)
    text = decode_source(raw)
    unwrapped = unwrap(text, script=script, max_bytes=max_bytes)
    siblings = list(unwrapped.siblings)
    texts = [unwrapped.code, text] if unwrapped.wrapper else [text]  # a shim's own imports run too
    sibling_sources = _imported_siblings(texts, script, max_bytes, siblings)
    return LoadedSource(
        path=path,
        script=script,
        folder=folder,
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        text=text,
        code=unwrapped.code,
        wrapper=unwrapped.wrapper,
        siblings=tuple(siblings),
        sibling_sources=sibling_sources,
        claims=claims,
        submission=submission,
        launch_env=_launch_env(folder, unwrapped),
        logged_hparams=read_logged_hparams(folder) if folder is not None else {},
        log_lines=read_log_lines(folder) if folder is not None else (),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------- files


def _inside(path: Path, root: Path) -> bool:
    """True when `path`, links resolved, stays under `root`: a submission cannot point us at /etc or /proc."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, top]) == top


def _safe_file(path: Path, root: Path) -> bool:
    return path.is_file() and _inside(path, root)  # is_file: no FIFOs or devices, which would block or never end


def _read_capped(path: Path, max_bytes: int, *, what: str = "file") -> bytes:
    try:
        size = path.stat().st_size
        if size <= max_bytes:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
            size = len(data)
            if size <= max_bytes:
                return data
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    raise Unanalyzable(f"{what} is {size} bytes, over the {max_bytes}-byte limit (raise it with --max-bytes)")


def _read_text(path: Path) -> str:
    """README and shell scripts: best effort, an unreadable one counts as empty."""
    try:
        with path.open("rb") as handle:
            return handle.read(_TEXT_CAP).decode("utf-8", "replace")
    except OSError:
        return ""


def _log_lines(path: Path, max_lines: int) -> Iterator[str]:
    with path.open("rb") as handle:
        yield from printed_lines(handle, max_lines)


def _log_head(path: Path) -> list[str]:
    """The first _LOG_LINES printed lines of a log."""
    return list(itertools.islice(_log_lines(path, _LOG_MAX_LINES), _LOG_LINES))


# ---------------------------------------------------------------------------------------------- script


def find_script(folder: Path) -> tuple[Path, list[str]]:
    """The training script of a records folder, and a note when the choice was ambiguous.

    `train_gpt.py` at the top; else the single `train_gpt*.py`, else the single `train*.py`; else the same one
    level of subfolders down. Several candidates: `train_gpt.py` if any, else the largest `train*.py`.
    """
    candidates = _candidates(folder, folder)
    if not candidates:
        for sub in sorted(folder.iterdir()):
            if sub.is_dir() and not sub.name.startswith((".", "__")) and _inside(sub, folder):
                candidates.extend(_candidates(sub, folder))
    if not candidates:
        raise InputError(f"no training script (train_gpt.py or train*.py) in {folder}")
    exact = [c for c in candidates if c.name == "train_gpt.py"]
    if exact:
        return exact[0], _ambiguity(exact, folder, "train_gpt.py") if len(exact) > 1 else []
    gpt = [c for c in candidates if c.name.startswith("train_gpt")]
    if len(gpt) == 1:
        return gpt[0], []
    if len(candidates) == 1:
        return candidates[0], []
    largest = max(candidates, key=lambda c: (c.stat().st_size, -candidates.index(c)))
    return largest, _ambiguity([largest] + [c for c in candidates if c != largest], folder, "the largest")


def _candidates(directory: Path, root: Path) -> list[Path]:
    return sorted(p for p in directory.glob("train*.py") if _safe_file(p, root))


def _ambiguity(ranked: list[Path], folder: Path, why: str) -> list[str]:
    names = ", ".join(str(p.relative_to(folder)) for p in ranked)
    return [f"picked {ranked[0].relative_to(folder)} ({why}) among {len(ranked)} candidate scripts: {names}"]


def _imported_siblings(texts: list[str], script: Path, max_bytes: int, siblings: list[str]) -> dict[str, str]:
    """Modules the code imports that are .py files beside the script, read (and unwrapped) transitively."""
    directory = script.parent
    others = [path.stem for path in directory.glob("*.py") if path.name != script.name]
    sources: dict[str, str] = {}
    queue = list(texts)
    while queue and len(sources) < _MAX_SIBLINGS:
        text = queue.pop(0)
        if not any(name in text for name in others):
            continue  # no sibling named: spare the parse that finds the imports
        for module in imported_modules(text):
            name = f"{module}.py"
            path = directory / name
            if name in sources or name in siblings or name == script.name or not _safe_file(path, directory):
                continue
            what = f"sibling file {name}"
            text = decode_source(_read_capped(path, max_bytes, what=what), what=what)
            inner = unwrap(text, script=path, max_bytes=max_bytes)
            sources[name] = inner.code
            siblings.append(name)
            siblings.extend(s for s in inner.siblings if s not in siblings)
            queue.append(inner.code)
    return sources


# ---------------------------------------------------------------------------------------------- claims


def read_submission(folder: Path) -> object:
    """submission.json parsed (None when the folder has none); malformed JSON is an InputError."""
    data: object = None
    path = folder / "submission.json"
    if _safe_file(path, folder):
        try:
            with path.open("rb") as handle:
                data = json.loads(handle.read(_TEXT_CAP).decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text: {exc.reason} at byte offset {exc.start}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        except RecursionError:
            raise InputError(f"{path}: invalid JSON: nested too deeply") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data


def read_claims(folder: Path, data: object) -> Claims:
    """Title, val_bpb, seeds and total bytes from parsed submission.json (title falls back to README's heading)."""
    record = data if isinstance(data, dict) else {}
    title = record.get("name")
    title = title.strip() if isinstance(title, str) and title.strip() else _readme_title(folder)
    bytes_total = as_int(record.get("bytes_total"))
    if bytes_total is None:
        bytes_total = as_int(record.get("artifact_bytes_max"))
    return Claims(title=title, val_bpb=as_float(record.get("val_bpb")), seeds=_seeds(record), bytes_total=bytes_total)


def as_float(value: object) -> float | None:
    """A finite JSON number as float; anything else (bools, strings, NaN) is None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def as_int(value: object) -> int | None:
    """A JSON integer (or an integral float) as int; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _seeds(record: dict) -> tuple[str, ...]:
    seeds: list[str] = []
    for key in ("seeds", "seed_results"):
        value = record.get(key)
        items = list(value) if isinstance(value, (list, dict)) else []
        for item in items:
            if isinstance(item, (int, str)) and not isinstance(item, bool) and str(item) not in seeds:
                seeds.append(str(item))
        if seeds:
            break
    return tuple(seeds)


def _readme(folder: Path) -> Path | None:
    for path in sorted(folder.iterdir()):
        if path.name.lower() == "readme.md" and _safe_file(path, folder):
            return path
    return None


def _readme_title(folder: Path) -> str | None:
    readme = _readme(folder)
    if readme is None:
        return None
    fence = None
    for line in _read_text(readme).splitlines():
        fence, in_code, _ = _fence_state(line, fence)
        if not in_code and (match := _HEADING.match(line)):
            return match.group(1)
    return None


def _fence_state(line: str, fence: str | None) -> tuple[str | None, bool, str]:
    """Track ``` / ~~~ fences: (open fence marker or None, whether this line is code or a fence, info string)."""
    stripped = line.strip()
    marker = re.match(r"(`{3,}|~{3,})(.*)", stripped)
    if fence is None:
        if marker:
            return marker.group(1), True, marker.group(2).strip().lower()
        return None, False, ""
    if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) and not marker.group(2):
        return None, True, ""
    return fence, True, ""


# ---------------------------------------------------------------------------------------------- launch env


def _launch_env(folder: Path | None, unwrapped: Unwrapped) -> dict[str, str]:
    """What the run saw: a launcher's setdefault values, then the launch commands, then its hard assignments."""
    env = dict(unwrapped.env_defaults)
    if folder is not None:
        env.update(read_launch_env(folder))
    env.update(unwrapped.env_overrides)
    return env


def read_launch_env(folder: Path) -> dict[str, str]:
    """NAME=value assignments of the launch commands in README.md code and *.sh files; later ones win."""
    lines: list[str] = []
    readme = _readme(folder)
    if readme is not None:
        lines.extend(_readme_command_lines(_read_text(readme)))
    for script in sorted(folder.glob("*.sh")):
        if _safe_file(script, folder):
            lines.extend(_read_text(script).splitlines())
    env: dict[str, str] = {}
    for command in _logical_lines(lines):
        _assign(command, env)
        _alias(command, env)
    return env


def _readme_command_lines(text: str) -> list[str]:
    lines: list[str] = []
    fence: str | None = None
    language = ""
    for line in text.splitlines():
        was_open = fence is not None
        fence, in_code, info = _fence_state(line, fence)
        if fence is not None and not was_open:  # the opening fence line itself
            language = info.split()[0] if info else ""
            continue
        if in_code:
            if fence is not None and language not in _NON_SHELL_FENCES:
                lines.append(re.sub(r"^\s*\$\s+", "", line))
            continue
        if _README_COMMAND.match(line.strip()):  # a bare command line outside fences
            lines.append(line.strip())
        else:  # inline `SEED=1 torchrun ...` spans in prose
            spans = re.findall(r"`([^`\n]+)`", line)
            lines.extend(s for s in spans if re.search(r"\b(?:torchrun|python3?)\b", s) or s.startswith("export "))
    return lines


def _logical_lines(lines: list[str]) -> list[str]:
    """Join backslash-continued lines into one command each."""
    joined: list[str] = []
    pending = ""
    for line in lines:
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    if pending:
        joined.append(pending)
    return joined


def _assign(command: str, env: dict[str, str]) -> None:
    """Apply the leading NAME=value words of each simple command (after export/env) in `command` to `env`."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()")  # `<seed>` stays a value
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: a prose line or a broken script
        return
    at_start = True
    previous = ""
    for token in tokens:
        option, previous = previous, token
        if token and set(token) <= set(";&|()"):
            at_start = True
        elif not at_start:
            if option.startswith("-") and "env" in option.lower():  # `--extra-env "A=1;B=2"`, `--env A=1`
                _assign_list(token, env)
        elif token in _COMMAND_PREFIXES or (token.startswith("-") and len(token) > 1):
            continue
        elif match := _ASSIGNMENT.fullmatch(token):
            name, value = match.groups()
            if _ENV_NAME.fullmatch(name):
                env[name] = _expand(value, env)
        else:
            at_start = False


def _assign_list(token: str, env: dict[str, str]) -> None:
    """The value of a launcher's env option: one or more NAME=value items separated by `;`."""
    items = [item for item in token.split(";") if item]
    matches = [_ASSIGNMENT.fullmatch(item) for item in items]
    if not items or not all(matches):
        return
    for match in matches:
        name, value = match.groups()
        if _ENV_NAME.fullmatch(name):
            env[name] = _expand(value, env)


def _expand(value: str, env: dict[str, str]) -> str:
    """Expand $NAME, ${NAME}, ${NAME:-default} against what is known; unknown references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "$" and value[i + 1 : i + 2] == "{":
            end = _closing_brace(value, i + 1)
            if end < 0:
                out.append(value[i:])
                break
            ref = re.fullmatch(r"([A-Za-z_]\w*)(?:(:?[-=])(.*))?", value[i + 2 : end], re.DOTALL)
            if ref is None:
                out.append(value[i : end + 1])
            else:
                name, op, default = ref.groups()
                known = env.get(name)
                if known is not None and (known != "" or not (op or "").startswith(":")):
                    out.append(known)
                elif op:
                    out.append(_expand(default, env))
                else:
                    out.append(value[i : end + 1])
            i = end + 1
            continue
        if value[i] == "$" and (ref := re.match(r"[A-Za-z_]\w*", value[i + 1 :])):
            out.append(env.get(ref.group(0), "$" + ref.group(0)))
            i += 1 + len(ref.group(0))
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


# ---------------------------------------------------------------------------------------------- logs


def read_logged_hparams(folder: Path) -> dict[str, str]:
    """`  key: value` dump lines and `key=value` tokens from the head of each train log; first log wins."""
    found: dict[str, str] = {}
    logs = 0
    for path in sorted(folder.iterdir()):
        if logs == _MAX_LOGS:
            break
        if path.suffix not in (".log", ".txt") or not _safe_file(path, folder):
            continue
        try:
            lines = _log_head(path)
        except OSError:
            continue
        if path.suffix == ".txt" and not any("val_bpb" in line or "step:" in line for line in lines):
            continue
        logs += 1
        for line in lines:
            if dump := _LOG_DUMP.match(line):
                found.setdefault(dump.group(1), dump.group(2))
                continue
            for key, value in _LOG_PAIR.findall(line):
                found.setdefault(key, value)
    return found


def read_log_lines(folder: Path) -> tuple[str, ...]:
    """Every printed line of the train logs (each file capped), to match messages printed by guarded code."""
    out: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".log", ".txt") or not _safe_file(path, folder):
            continue
        try:
            out.extend(line.rstrip("\n") for line in _log_lines(path, 50_000))
        except OSError:
            continue
    return tuple(out)


def _alias(command: str, env: dict[str, str]) -> None:
    """`ln -s SRC DST` / `cp SRC DST`: DST (a data file name) is really SRC; recorded as `alias:DST`."""
    try:
        words = shlex.split(command)
    except ValueError:
        return
    while words and (_ASSIGNMENT.fullmatch(words[0]) or words[0] in _COMMAND_PREFIXES):
        words = words[1:]
    if len(words) < 3 or words[0] not in ("ln", "cp", "mv", "rsync"):
        return
    paths = [w for w in words[1:] if not w.startswith("-")]
    if len(paths) >= 2:
        env["alias:" + paths[-1]] = paths[-2]
