"""Static decoding of exec shims (`exec(lzma.decompress(base64.b85decode("...")))`, sibling-file exec), nothing run.

A shim is a module whose only top-level work is one `exec(...)` call, the rest being imports, plain assignments and
setup calls that cannot change what is exec'd (`os.environ.setdefault`, `sys.path.insert`, `print`...); the exec may sit
in a `with open(PATH) as fh:` block that reads the file it runs. Env the shim sets: `env_defaults`, `env_overrides`.
Its argument is evaluated by a tiny interpreter that knows pure stdlib decoders (lzma, zlib, bz2, gzip, base64),
string and path helpers, and reading a file from the script's own folder; anything else fails closed with
`Unanalyzable`. Decoded code keeps its own line numbers: it becomes the analysed code, up to `MAX_DEPTH` layers.

Usage: `unwrap(text, script=Path("records/x/train_gpt.py"))` -> `Unwrapped(code, wrapper, siblings, layers)`.
References: PEP 263 (source encodings), `lzma`/`zlib`/`bz2`/`base64` stdlib docs, libcst matchers.
"""

from __future__ import annotations

import ast
import base64
import bz2
import codecs
import io
import lzma
import os
import posixpath
import re
import tokenize
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import libcst as cst

from auditor.syntax import dotted as _dotted
from auditor.syntax import parse_module, python_ast
import libcst.matchers as m

from auditor.load.errors import Unanalyzable

MAX_DEPTH = 3  # exec layers unwrapped before giving up (real shims use one)
_LZMA_MEMLIMIT = 256 << 20  # decoder memory, so a hostile header cannot ask for gigabytes
_EXEC_CALL = m.Call(func=m.Name("exec"))
_MAIN_GUARD = m.Comparison(
    left=m.Name("__name__"),
    comparisons=[m.ComparisonTarget(operator=m.Equal(), comparator=m.SimpleString())],
)


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """The code to analyse and how it was reached from the shipped text."""

    code: str  # the innermost code (the shipped text itself when there is no shim)
    wrapper: str | None = None  # e.g. "lzma(raw)+b85 exec shim"; layers joined by " -> "
    siblings: tuple[str, ...] = ()  # files beside the script whose text was exec'd (inlined as `code`)
    layers: int = 0
    # environment the shims set before exec'ing, where statically known (outer layers first):
    env_defaults: dict[str, str] = field(default_factory=dict)  # os.environ.setdefault: the launch command wins
    env_overrides: dict[str, str] = field(default_factory=dict)  # os.environ[K] = V / .update(): the shim wins


# ---------------------------------------------------------------------------------------------- source text


def decode_source(data: bytes, *, what: str = "") -> str:
    """Decode Python source bytes as the interpreter would: BOM or PEP 263 cookie, else UTF-8.

    `what` prefixes the error message ("sibling file impl.py: binary file, not Python source").
    """
    prefix = f"{what}: " if what else ""
    if not data.strip() or not data.removeprefix(codecs.BOM_UTF8).strip():
        raise Unanalyzable(f"{prefix}empty file")
    if b"\x00" in data:
        raise Unanalyzable(f"{prefix}binary file, not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc):
            raise Unanalyzable(f"{prefix}{exc.msg} in the coding cookie") from None
        encoding = "utf-8-sig"  # undecodable first lines: let the decode below name the byte
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise Unanalyzable(f"{prefix}not {label} text: {exc.reason} at byte offset {exc.start}") from None
    except LookupError as exc:  # a cookie naming a codec that is not a text encoding ("zlib_codec")
        raise Unanalyzable(f"{prefix}unsupported source encoding: {exc}") from None
    if not text.strip():
        raise Unanalyzable(f"{prefix}empty file")
    return text


# ---------------------------------------------------------------------------------------------- shim shape


@dataclass(slots=True)
class _Scope:
    """Module-level bindings a shim can use: aliases resolved from its own imports, assigned expressions."""

    modules: dict[str, str] = field(default_factory=dict)  # "L" -> "lzma", "os" -> "os"
    names: dict[str, str] = field(default_factory=dict)  # from-imports: "D" -> "lzma.decompress"
    assigns: dict[str, cst.BaseExpression] = field(default_factory=dict)
    star: list[str] = field(default_factory=list)  # `from lzma import *`
    # env settings before the exec: (key or None for .update(mapping), value, overrides)
    env: list[tuple[cst.BaseExpression | None, cst.BaseExpression, bool]] = field(default_factory=list)

    def snapshot(self) -> _Scope:
        return replace(
            self,
            modules=dict(self.modules),
            names=dict(self.names),
            assigns=dict(self.assigns),
            star=list(self.star),
            env=list(self.env),
        )

    def qual(self, node: cst.BaseExpression) -> str:
        """The dotted name `node` refers to through the imports ("o.environ.get" -> "os.environ.get"), else ""."""
        dotted = _dotted(node)
        head, _, rest = dotted.partition(".")
        if not head or head in self.assigns:
            return ""
        base = self.modules.get(head) or self.names.get(head) or f"builtins.{head}"
        return base + ("." + rest if rest else "")


def _is_literal_string(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString))


# Calls a shim may make before its exec: they set up the process but cannot change what is exec'd.
_SETUP_CALLS = frozenset(
    {
        "os.environ.setdefault",
        "os.environ.update",
        "sys.path.insert",
        "sys.path.append",
        "builtins.print",
        "warnings.filterwarnings",
        "warnings.simplefilter",
    }
)
_SETUP_METHODS = frozenset({"setdefault", "update", "insert", "append", "print", "filterwarnings", "simplefilter"})
# Side-effect-free helpers allowed inside the arguments of those calls.
_PURE_CALLS = frozenset(
    {
        "os.path.join",
        "os.path.dirname",
        "os.path.basename",
        "os.path.abspath",
        "os.path.realpath",
        "os.path.normpath",
        "os.path.expanduser",
        "os.getcwd",
        "os.getenv",
        "os.environ.get",
        "pathlib.Path",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.repr",
    }
)
_PURE_METHODS = frozenset(
    {
        "resolve",
        "absolute",
        "with_name",
        "with_suffix",
        "joinpath",
        "format",
        "replace",
        "strip",
        "lower",
        "upper",
        "get",
    }
)
_READ_MODES = frozenset("rbt")


def _pure(node: cst.BaseExpression, scope: _Scope) -> bool:
    """True when evaluating `node` can have no side effect: literals, names, and whitelisted helpers of those."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float, cst.Name)):
        return True
    if isinstance(node, cst.Attribute):
        return _pure(node.value, scope)
    if isinstance(node, cst.FormattedString):
        return all(
            _pure(part.expression, scope) for part in node.parts if isinstance(part, cst.FormattedStringExpression)
        )
    if isinstance(node, cst.BinaryOperation):
        return _pure(node.left, scope) and _pure(node.right, scope)
    if isinstance(node, cst.UnaryOperation):
        return _pure(node.expression, scope)
    if isinstance(node, (cst.Tuple, cst.List)):
        return all(isinstance(e, cst.Element) and _pure(e.value, scope) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(
            isinstance(e, cst.DictElement) and _pure(e.key, scope) and _pure(e.value, scope) for e in node.elements
        )
    if isinstance(node, cst.Subscript):
        return _pure(node.value, scope) and all(
            isinstance(s.slice, cst.Index) and _pure(s.slice.value, scope) for s in node.slice
        )
    if isinstance(node, cst.Call):
        if any(arg.star for arg in node.args) or not all(_pure(arg.value, scope) for arg in node.args):
            return False
        if scope.qual(node.func) in _PURE_CALLS:
            return True
        return (
            isinstance(node.func, cst.Attribute)
            and node.func.attr.value in _PURE_METHODS
            and _pure(node.func.value, scope)
        )
    return False


def _setup_call(call: cst.Call, scope: _Scope) -> bool:
    """A setup call (env, sys.path, print, warnings) with side-effect-free arguments; env settings are recorded."""
    qual = scope.qual(call.func)
    if qual not in _SETUP_CALLS or any(arg.star for arg in call.args):
        return False
    if not all(_pure(arg.value, scope) for arg in call.args):
        return False
    positional = [arg.value for arg in call.args if arg.keyword is None]
    if qual == "os.environ.setdefault" and len(positional) == 2 and len(call.args) == 2:
        scope.env.append((positional[0], positional[1], False))
    elif qual == "os.environ.update" and len(positional) == 1 and len(call.args) == 1:
        scope.env.append((None, positional[0], True))
    elif qual.startswith("os.environ."):
        return False  # keywords or odd arity: not a setting we can report
    return True


def _open_call(call: cst.Call, scope: _Scope) -> bool:
    """`open(...)`, `io.open(...)` or `PATH.open(...)`: the evaluator checks the path, mode and encoding."""
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "open":
        return True
    return scope.qual(call.func) in ("builtins.open", "io.open")


def _shim_with(stmt: cst.With, scope: _Scope, execs: list[tuple[cst.Call, _Scope]]) -> bool:
    """`with open(PATH) as fh:` whose body is shim statements that exec (normally `exec(fh.read())`)."""
    if stmt.asynchronous is not None or len(stmt.items) != 1:
        return False
    item = stmt.items[0]
    if (
        item.asname is None
        or not isinstance(item.asname.name, cst.Name)
        or not isinstance(item.item, cst.Call)
        or not _open_call(item.item, scope)
    ):
        return False
    before = len(execs)
    scope.assigns[item.asname.name.value] = item.item  # `fh.read()` evaluates as `open(PATH).read()`
    if isinstance(stmt.body, cst.SimpleStatementSuite):
        ok = all(_shim_small(small, scope, execs) for small in stmt.body.body)
    else:
        ok = _shim_body(stmt.body.body, scope, execs)
    return ok and len(execs) > before  # a `with` that does not exec is ordinary work, not a shim


def _shim_small(small: cst.BaseSmallStatement, scope: _Scope, execs: list[tuple[cst.Call, _Scope]]) -> bool:
    """Record one small statement; False when it is not something a shim does."""
    if isinstance(small, cst.Import):
        for alias in small.names:
            dotted = _dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                scope.modules[alias.asname.name.value] = dotted
            else:
                top = dotted.split(".")[0]
                scope.modules[top] = top
        return True
    if isinstance(small, cst.ImportFrom):
        if small.relative or small.module is None:
            return True
        module = _dotted(small.module)
        if isinstance(small.names, cst.ImportStar):
            scope.star.append(module)
            return True
        for alias in small.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                scope.names[local.value] = f"{module}.{_dotted(alias.name)}"
        return True
    if isinstance(small, cst.Assign):
        for target in small.targets:
            if isinstance(target.target, cst.Name):
                scope.assigns[target.target.value] = small.value
            elif (
                isinstance(target.target, cst.Subscript)
                and scope.qual(target.target.value) == "os.environ"
                and len(target.target.slice) == 1
                and isinstance(target.target.slice[0].slice, cst.Index)
            ):
                scope.env.append((target.target.slice[0].slice.value, small.value, True))
        return True
    if isinstance(small, cst.AnnAssign):
        if isinstance(small.target, cst.Name) and small.value is not None:
            scope.assigns[small.target.value] = small.value
        return True
    if isinstance(small, cst.AugAssign):
        if isinstance(small.target, cst.Name) and small.target.value in scope.assigns:
            op = small.operator
            binary = {cst.AddAssign: cst.Add, cst.BitOrAssign: cst.BitOr}.get(type(op))
            if binary is not None:  # `s += "..."`: a payload built piece by piece
                scope.assigns[small.target.value] = cst.BinaryOperation(
                    left=scope.assigns[small.target.value], operator=binary(), right=small.value
                )
            else:
                scope.assigns.pop(small.target.value)
        return True
    if isinstance(small, cst.Pass):
        return True
    if isinstance(small, cst.Expr):
        if m.matches(small.value, _EXEC_CALL):
            execs.append((small.value, scope.snapshot()))  # type: ignore[arg-type]
            return True
        if isinstance(small.value, cst.Call):
            return _setup_call(small.value, scope)
        return _is_literal_string(small.value)  # a docstring
    return False


def _shim_body(body: Any, scope: _Scope, execs: list[tuple[cst.Call, _Scope]]) -> bool:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            if not all(_shim_small(small, scope, execs) for small in stmt.body):
                return False
        elif isinstance(stmt, cst.If) and stmt.orelse is None and m.matches(stmt.test, _MAIN_GUARD):
            inner = stmt.body.body
            if isinstance(stmt.body, cst.SimpleStatementSuite):
                if not all(_shim_small(small, scope, execs) for small in inner):
                    return False
            elif not _shim_body(inner, scope, execs):
                return False
        elif isinstance(stmt, cst.With):
            if not _shim_with(stmt, scope, execs):
                return False
        else:
            return False
    return True


def _ast_shim_count(body: list[ast.stmt]) -> int | None:
    """The same shape test on the stdlib AST (10x faster than libcst): None when not a shim."""
    count = 0
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Pass)):
            continue
        if isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "exec":
                count += 1
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                continue
            func = value.func if isinstance(value, ast.Call) else None
            if (isinstance(func, ast.Name) and func.id == "print") or (
                isinstance(func, ast.Attribute) and func.attr in _SETUP_METHODS
            ):
                continue  # maybe a setup call: libcst checks what it calls
            return None
        if (
            isinstance(stmt, ast.With)
            and len(stmt.items) == 1
            and isinstance(stmt.items[0].context_expr, ast.Call)
            and isinstance(stmt.items[0].optional_vars, ast.Name)
        ):
            inner = _ast_shim_count(stmt.body)
            if not inner:
                return None
            count += inner
            continue
        if (
            isinstance(stmt, ast.If)
            and not stmt.orelse
            and isinstance(stmt.test, ast.Compare)
            and isinstance(stmt.test.left, ast.Name)
            and stmt.test.left.id == "__name__"
        ):
            inner = _ast_shim_count(stmt.body)
            if inner is None:
                return None
            count += inner
            continue
        return None
    return count


_EXEC_WORD = re.compile(r"\bexec\s*\(")


def _could_be_shim(text: str) -> bool:
    """Cheap gate before the libcst parse: most scripts never call exec at top level."""
    if "exec" not in text or not _EXEC_WORD.search(text):  # the substring test first: the regex is 20x slower
        return False
    tree = python_ast(text)
    if tree is None:
        return True  # newer syntax than this interpreter, or broken: libcst decides
    return bool(_ast_shim_count(tree.body))


def _find_shim(text: str) -> tuple[cst.Call, _Scope] | None:
    """The shim's exec call and the bindings visible to it, or None when the module is not a shim."""
    if not _could_be_shim(text):
        return None
    try:
        module = parse_module(text)
    except (cst.ParserSyntaxError, RecursionError, ValueError):
        return None  # the analyzer reports the syntax error on the text itself
    scope = _Scope()
    execs: list[tuple[cst.Call, _Scope]] = []
    if not _shim_body(module.body, scope, execs) or not execs:
        return None
    if len(execs) > 1:
        raise Unanalyzable(f"the exec shim runs {len(execs)} payloads; only a single exec is decoded")
    return execs[0]


# ---------------------------------------------------------------------------------------------- evaluator


class _Unsupported(Exception):
    """An expression outside what the static evaluator understands."""


class _TooBig(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Mod:
    name: str


@dataclass(frozen=True, slots=True)
class _Func:
    qual: str


@dataclass(frozen=True, slots=True)
class _Method:
    obj: Any
    name: str


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    binary: bool


_MODULES = frozenset({"lzma", "zlib", "bz2", "gzip", "base64", "os", "os.path", "pathlib", "io", "builtins"})
_CONSTS: dict[str, Any] = {
    **{
        f"lzma.{n}": getattr(lzma, n)
        for n in dir(lzma)
        if n.split("_")[0] in {"FORMAT", "FILTER", "CHECK", "PRESET", "MF", "MODE"}
    },
    "zlib.MAX_WBITS": zlib.MAX_WBITS,
    "zlib.DEF_BUF_SIZE": zlib.DEF_BUF_SIZE,
}
_BUILTINS = frozenset({"open", "compile", "__import__", "bytes", "str"})
_OP_NAMES = {  # short names for the wrapper description, outermost call first
    "lzma.decompress": "lzma",
    "zlib.decompress": "zlib",
    "bz2.decompress": "bz2",
    "gzip.decompress": "gzip",
    "base64.b85decode": "b85",
    "base64.b64decode": "b64",
    "base64.standard_b64decode": "b64",
    "base64.urlsafe_b64decode": "b64url",
    "base64.decodebytes": "b64",
    "base64.a85decode": "a85",
    "base64.b32decode": "b32",
    "base64.b16decode": "b16",
}
_TEXT_CODECS = frozenset({"utf-8", "ascii", "latin-1", "iso8859-1"})


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("ascii")  # what the decoders accept for str input
    raise _Unsupported(f"expected bytes, got {type(value).__name__}")


def _check_encoding(encoding: Any) -> None:
    """Sibling text is decoded as the interpreter would (UTF-8 or its cookie): other encodings are not modelled."""
    if encoding is None:
        return
    try:
        name = codecs.lookup(encoding).name if isinstance(encoding, str) else ""
    except LookupError:
        name = ""
    if name not in ("utf-8", "utf-8-sig"):
        raise _Unsupported(f"reads the file with encoding {encoding!r}")


def _as_path(value: Any) -> str:
    if isinstance(value, (str, PurePosixPath)):
        return str(value)
    raise _Unsupported(f"expected a path, got {type(value).__name__}")


class _Evaluator:
    """Evaluates the exec argument over a whitelist; records decode steps and files read, in order."""

    def __init__(self, scope: _Scope, script: Path, max_bytes: int) -> None:
        self.scope = scope
        self.script = script
        self.folder = script.parent
        self.cap = max_bytes
        self.ops: list[str] = []  # innermost first (evaluation order)
        self.files: list[str] = []
        self._resolving: set[str] = set()
        self._funcs: dict[str, Callable[..., Any]] = {
            "lzma.decompress": self._lzma,
            "zlib.decompress": self._zlib,
            "gzip.decompress": self._gzip,
            "bz2.decompress": self._bz2,
            "builtins.open": self._open,
            "io.open": self._open,
            "builtins.compile": lambda source, *args, **kwargs: source,
            "builtins.__import__": self._import,
            "builtins.bytes": self._bytes,
            "builtins.str": self._str,
            "os.path.join": lambda *parts: posixpath.join(*map(_as_path, parts)),
            "os.path.dirname": lambda p: posixpath.dirname(_as_path(p)),
            "os.path.basename": lambda p: posixpath.basename(_as_path(p)),
            "os.path.normpath": lambda p: posixpath.normpath(_as_path(p)),
            "os.path.abspath": self._abspath,
            "os.path.realpath": self._abspath,
            "pathlib.Path": lambda *parts: PurePosixPath(*map(_as_path, parts)),
            "pathlib.PurePath": lambda *parts: PurePosixPath(*map(_as_path, parts)),
        }
        for qual, short in _OP_NAMES.items():
            if qual.startswith("base64."):
                self._funcs[qual] = self._b64(getattr(base64, qual.split(".")[1]), short)

    # -- expressions

    def eval(self, node: cst.BaseExpression) -> Any:
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float)):
            try:  # parenthesised so implicit concatenation across lines stays one expression
                return ast.literal_eval("(" + cst.Module([]).code_for_node(node) + "\n)")
            except (ValueError, SyntaxError) as exc:
                raise _Unsupported(f"not a plain literal ({exc})") from None
        if isinstance(node, cst.Name):
            return self._name(node.value)
        if isinstance(node, cst.Attribute):
            return self._attribute(self.eval(node.value), node.attr.value)
        if isinstance(node, cst.Call):
            return self._call(node)
        if isinstance(node, (cst.List, cst.Tuple)):
            items = []
            for element in node.elements:
                if not isinstance(element, cst.Element):
                    raise _Unsupported("starred element")
                items.append(self.eval(element.value))
            return items if isinstance(node, cst.List) else tuple(items)
        if isinstance(node, cst.Dict):
            result = {}
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    raise _Unsupported("dict unpacking")
                result[self.eval(element.key)] = self.eval(element.value)
            return result
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            value = self.eval(node.expression)
            if isinstance(value, int):
                return -value
        if isinstance(node, cst.Subscript):
            return self._subscript(node)
        text = " ".join(cst.Module([]).code_for_node(node).split())
        raise _Unsupported(f"unsupported expression `{text[:60]}`")

    def _name(self, name: str) -> Any:
        scope = self.scope
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        if name in scope.assigns:
            if name in self._resolving:
                raise _Unsupported(f"{name} is defined in terms of itself")
            self._resolving.add(name)
            try:
                return self.eval(scope.assigns[name])
            finally:
                self._resolving.discard(name)
        if name in scope.modules:
            return self._qual(scope.modules[name])
        if name in scope.names:
            return self._qual(scope.names[name])
        if name == "__file__":
            return str(self.script)
        if name in _BUILTINS:
            return _Func(f"builtins.{name}")
        for module in scope.star:
            qual = f"{module}.{name}"
            if qual in self._funcs or qual in _CONSTS:
                return self._qual(qual)
        raise _Unsupported(f"unknown name {name}")

    def _qual(self, qual: str) -> Any:
        if qual in _MODULES:
            return _Mod(qual)
        if qual in self._funcs:
            return _Func(qual)
        if qual in _CONSTS:
            return _CONSTS[qual]
        raise _Unsupported(f"unsupported name {qual}")

    def _attribute(self, base: Any, attr: str) -> Any:
        if isinstance(base, _Mod):
            return self._qual(f"{base.name}.{attr}")
        if isinstance(base, PurePosixPath) and attr in ("parent", "name", "stem", "suffix"):
            value = getattr(base, attr)
            return value if isinstance(value, PurePosixPath) else str(value)
        return _Method(base, attr)

    def _binary(self, node: cst.BinaryOperation) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        op = node.operator
        if isinstance(op, cst.BitOr) and isinstance(left, int) and isinstance(right, int):
            return left | right
        if isinstance(op, cst.Add) and type(left) is type(right) and isinstance(left, (int, str, bytes, list)):
            result = left + right
            if isinstance(result, (str, bytes)) and len(result) > self.cap:
                raise _TooBig()
            return result
        if isinstance(op, cst.Divide) and isinstance(left, PurePosixPath):
            return left / _as_path(right)
        raise _Unsupported(f"unsupported operator {type(op).__name__} on {type(left).__name__}")

    def _subscript(self, node: cst.Subscript) -> Any:
        value = self.eval(node.value)
        if len(node.slice) != 1 or not isinstance(value, (str, bytes, list, tuple, dict)):
            raise _Unsupported("unsupported subscript")
        index = node.slice[0].slice
        if isinstance(index, cst.Index):
            return value[self.eval(index.value)]
        bounds = [None if part is None else self.eval(part) for part in (index.lower, index.upper, index.step)]
        if not all(b is None or isinstance(b, int) for b in bounds):
            raise _Unsupported("non-integer slice")
        return value[slice(*bounds)]

    def _call(self, node: cst.Call) -> Any:
        func = self.eval(node.func)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for arg in node.args:
            if arg.star:
                raise _Unsupported("star arguments")
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = self.eval(arg.value)
            else:
                args.append(self.eval(arg.value))
        if isinstance(func, _Func):
            try:
                return self._funcs[func.qual](*args, **kwargs)
            except TypeError as exc:
                raise _Unsupported(f"{func.qual}: {exc}") from None
        if isinstance(func, _Method):
            return self._method(func.obj, func.name, args, kwargs)
        raise _Unsupported(f"call of a non-function ({type(func).__name__})")

    def _method(self, obj: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(obj, (bytes, bytearray)) and name == "decode":
            encoding = args[0] if args else kwargs.get("encoding", "utf-8")
            return self._decode_text(bytes(obj), encoding)
        if isinstance(obj, str) and name == "encode":
            return obj.encode(args[0] if args else kwargs.get("encoding", "utf-8"))
        if isinstance(obj, (str, bytes)):
            kind = type(obj)
            if name == "replace" and len(args) in (2, 3) and all(isinstance(a, kind) for a in args[:2]):
                result = obj.replace(*args)
            elif name in ("strip", "lstrip", "rstrip") and all(isinstance(a, kind) for a in args):
                result = getattr(obj, name)(*args)
            elif name == "join" and len(args) == 1 and all(isinstance(a, kind) for a in args[0]):
                result = obj.join(args[0])
            else:
                raise _Unsupported(f"unsupported method .{name}() on {kind.__name__}")
            if len(result) > self.cap:
                raise _TooBig()
            return result
        if isinstance(obj, _File) and name == "read" and not args:
            return self._read(obj.path, binary=obj.binary)
        if isinstance(obj, PurePosixPath):
            if name in ("resolve", "absolute", "expanduser") and not args:
                return obj if obj.is_absolute() else PurePosixPath(self.folder) / obj
            if name in ("with_name", "with_suffix", "joinpath"):
                return getattr(obj, name)(*map(_as_path, args))
            if name == "read_text":
                _check_encoding(args[0] if args else kwargs.get("encoding"))
                return self._read(str(obj), binary=False)
            if name == "read_bytes":
                return self._read(str(obj), binary=True)
            if name == "open":
                return self._open(obj, *args, **kwargs)
        raise _Unsupported(f"unsupported method .{name}() on {type(obj).__name__}")

    # -- whitelisted functions

    def _decode_text(self, data: bytes, encoding: Any) -> str:
        if not isinstance(encoding, str) or codecs.lookup(encoding).name not in _TEXT_CODECS:
            raise _Unsupported(f"unsupported text encoding {encoding!r}")
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _Unsupported(f"payload is not {encoding} text: {exc.reason} at byte offset {exc.start}") from None

    def _import(self, name: Any, *args: Any, **kwargs: Any) -> _Mod:
        if isinstance(name, str) and name in _MODULES:
            return _Mod(name)
        raise _Unsupported(f"__import__ of {name!r}")

    def _bytes(self, value: Any, encoding: Any = None, *args: Any) -> bytes:
        if isinstance(value, str) and isinstance(encoding, str):
            return value.encode(encoding)
        if isinstance(value, (bytes, bytearray)) and encoding is None:
            return bytes(value)
        raise _Unsupported("unsupported bytes(...) call")

    def _str(self, value: Any, encoding: Any = None, *args: Any) -> str:
        if isinstance(value, (bytes, bytearray)) and encoding is not None:
            return self._decode_text(bytes(value), encoding)
        if isinstance(value, (str, PurePosixPath)) and encoding is None:
            return str(value)
        raise _Unsupported("unsupported str(...) call")

    def _abspath(self, path: Any) -> str:
        text = _as_path(path)
        return posixpath.normpath(text if posixpath.isabs(text) else posixpath.join(str(self.folder), text))

    def _b64(self, func: Callable[..., bytes], short: str) -> Callable[..., bytes]:
        def decode(data: Any, *args: Any, **kwargs: Any) -> bytes:
            result = func(_as_bytes(data), *args, **kwargs)
            self.ops.append(short)
            return result

        return decode

    def _check_cap(self, total: int) -> None:
        if total > self.cap:
            raise _TooBig()

    def _lzma(self, data: Any, format: int = lzma.FORMAT_AUTO, memlimit: Any = None, filters: Any = None) -> bytes:
        data = _as_bytes(data)
        label = {lzma.FORMAT_RAW: "lzma(raw)", lzma.FORMAT_XZ: "lzma(xz)", lzma.FORMAT_ALONE: "lzma(alone)"}
        raw = format == lzma.FORMAT_RAW
        if raw:
            for spec in filters if isinstance(filters, list) else []:
                if isinstance(spec, dict) and int(spec.get("dict_size", 0)) > _LZMA_MEMLIMIT:
                    raise _Unsupported(f"lzma dict_size {spec['dict_size']} is over {_LZMA_MEMLIMIT}")
        chunks: list[bytes] = []
        total = 0
        while True:  # concatenated streams, like lzma.decompress, but with an output cap
            decoder = lzma.LZMADecompressor(format=format, memlimit=None if raw else _LZMA_MEMLIMIT, filters=filters)
            chunk = decoder.decompress(data, max_length=self.cap + 1 - total)
            total += len(chunk)
            chunks.append(chunk)
            self._check_cap(total)
            if not decoder.eof:
                raise lzma.LZMAError("Compressed data ended before the end-of-stream marker was reached")
            data = decoder.unused_data
            if not data:
                break
        self.ops.append(label.get(format, "lzma"))
        return b"".join(chunks)

    def _zlib(self, data: Any, wbits: int = zlib.MAX_WBITS, bufsize: int = 0, *, short: str = "zlib") -> bytes:
        decoder = zlib.decompressobj(wbits)
        result = decoder.decompress(_as_bytes(data), self.cap + 1)
        self._check_cap(len(result))
        if not decoder.eof:
            raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")
        self.ops.append(short)
        return result

    def _gzip(self, data: Any, *args: Any, **kwargs: Any) -> bytes:
        return self._zlib(data, 16 + zlib.MAX_WBITS, short="gzip")

    def _bz2(self, data: Any) -> bytes:
        data = _as_bytes(data)
        chunks: list[bytes] = []
        total = 0
        while data:
            decoder = bz2.BZ2Decompressor()
            chunk = decoder.decompress(data, max_length=self.cap + 1 - total)
            total += len(chunk)
            chunks.append(chunk)
            self._check_cap(total)
            if not decoder.eof:
                raise ValueError("Compressed data ended before the end-of-stream marker was reached")
            data = decoder.unused_data
        self.ops.append("bz2")
        return b"".join(chunks)

    def _open(
        self, file: Any, mode: Any = "r", buffering: Any = -1, encoding: Any = None, *args: Any, **kwargs: Any
    ) -> _File:
        if not isinstance(mode, str) or not set(mode) <= _READ_MODES:
            raise _Unsupported(f"open in mode {mode!r}")
        _check_encoding(encoding)
        return _File(_as_path(file), binary="b" in mode)

    def _read(self, path: str, *, binary: bool) -> bytes | str:
        """Read a file the shim execs: only inside the script's folder, never following links out of it."""
        full = path if posixpath.isabs(path) else posixpath.join(str(self.folder), path)
        name = posixpath.relpath(posixpath.normpath(full), str(self.folder))
        root = os.path.realpath(self.folder)
        real = os.path.realpath(full)
        if name.startswith("..") or os.path.commonpath([root, real]) != root:
            raise Unanalyzable(f"execs a file outside its folder: {path}")
        if not os.path.isfile(real):
            raise Unanalyzable(f"execs missing sibling file {name}")
        size = os.path.getsize(real)
        if size > self.cap:
            raise Unanalyzable(
                f"sibling file {name} is {size} bytes, over the {self.cap}-byte limit (raise it with --max-bytes)"
            )
        with open(real, "rb") as handle:
            data = handle.read(self.cap + 1)
        self.files.append(name)
        return data if binary else decode_source(data, what=f"sibling file {name}")


# ---------------------------------------------------------------------------------------------- unwrap


def _static_ops(call: cst.Call, scope: _Scope) -> str:
    """Decode steps named in the exec argument, outermost first, for error messages ("lzma+b85")."""
    names = []
    for node in m.findall(call, m.Call()):
        dotted = _dotted(node.func)  # type: ignore[attr-defined]
        head, _, rest = dotted.partition(".")
        if head in scope.modules:
            qual = scope.modules[head] + ("." + rest if rest else "")
        elif head in scope.names:
            qual = scope.names[head] + ("." + rest if rest else "")
        else:
            qual = dotted
        if qual in _OP_NAMES:
            names.append(_OP_NAMES[qual])
    return "+".join(names)


def _describe(ops: list[str], files: list[str]) -> str:
    steps = "+".join(reversed(ops))
    if files and not steps:
        return f"exec of sibling {files[-1]}"
    if files:
        return f"{steps} exec shim of sibling {files[-1]}"
    return f"{steps} exec shim" if steps else "exec shim"


def _shim_env(scope: _Scope, script: Path, max_bytes: int) -> tuple[dict[str, str], dict[str, str]]:
    """The env settings made before the exec, where they evaluate to strings: (setdefault, overrides)."""
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for key, value, override in scope.env:
        try:
            evaluator = _Evaluator(scope, script, max_bytes)
            pairs = evaluator.eval(value) if key is None else {evaluator.eval(key): evaluator.eval(value)}
        except Exception:  # a value only known at run time (a path, a clock): nothing to report
            continue
        if not isinstance(pairs, dict):
            continue
        for name, text in pairs.items():
            if not (isinstance(name, str) and isinstance(text, str)):
                continue
            if override:
                overrides[name] = text
                defaults.pop(name, None)
            elif name not in overrides:
                defaults.setdefault(name, text)
    return defaults, overrides


def _unwrap_once(call: cst.Call, scope: _Scope, script: Path, max_bytes: int) -> tuple[str, str, list[str]]:
    """Decode one shim layer: (inner code, layer description, sibling files read)."""
    evaluator = _Evaluator(scope, script, max_bytes)
    static = _static_ops(call, scope)
    label = f"the {static} exec wrapper" if static else "the exec wrapper"
    if not call.args or call.args[0].keyword is not None or call.args[0].star:
        raise Unanalyzable(f"could not decode {label}: exec has no source argument")
    try:
        value = evaluator.eval(call.args[0].value)
    except Unanalyzable:
        raise
    except _TooBig:
        raise Unanalyzable(f"{label} decodes to over the {max_bytes}-byte limit (raise it with --max-bytes)") from None
    except Exception as exc:  # binascii.Error, LZMAError, zlib.error, ValueError...: all mean "cannot decode"
        reason = str(exc) or type(exc).__name__
        raise Unanalyzable(f"could not decode {label}: {reason}") from None
    description = _describe(evaluator.ops, evaluator.files)
    if isinstance(value, (bytes, bytearray)):
        code = decode_source(bytes(value), what=f"decoded payload of {label}")
    elif isinstance(value, str):
        if "\x00" in value:
            raise Unanalyzable(f"decoded payload of {label}: binary file, not Python source")
        if not value.strip():
            raise Unanalyzable(f"decoded payload of {label}: empty file")
        code = value
    else:
        raise Unanalyzable(f"could not decode {label}: exec argument is {type(value).__name__}, not source text")
    return code, description, evaluator.files


def unwrap(text: str, *, script: Path, max_bytes: int = 1_000_000) -> Unwrapped:
    """Peel exec shims off `text` (the decoded script at `script`), up to MAX_DEPTH layers.

    Raises Unanalyzable when a shim cannot be decoded, execs a missing or outside file, or nests too deep.
    A file that libcst cannot parse is returned as is: the analyzer reports the syntax error.
    """
    code = text
    descriptions: list[str] = []
    siblings: list[str] = []
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    while (shim := _find_shim(code)) is not None:
        if len(descriptions) == MAX_DEPTH:
            raise Unanalyzable(f"exec wrappers nested more than {MAX_DEPTH} levels deep")
        call, scope = shim
        path = Path(os.path.abspath(script))
        code, description, files = _unwrap_once(call, scope, path, max_bytes)
        layer_defaults, layer_overrides = _shim_env(scope, path, max_bytes)
        for name, value in layer_defaults.items():  # an outer layer's setting is already in the environment
            if name not in overrides:
                defaults.setdefault(name, value)
        for name, value in layer_overrides.items():
            overrides[name] = value
            defaults.pop(name, None)
        descriptions.append(description)
        siblings.extend(f for f in files if f not in siblings)
    return Unwrapped(
        code=code,
        wrapper=" -> ".join(descriptions) or None,
        siblings=tuple(siblings),
        layers=len(descriptions),
        env_defaults=defaults,
        env_overrides=overrides,
    )


# ---------------------------------------------------------------------------------------------- imports

_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*)([A-Za-z_][\w.]*)?[ \t]+import[ \t]+(.+)|import[ \t]+(.+))$", re.MULTILINE
)


def imported_modules(text: str) -> list[str]:
    """Top-level module names the code imports anywhere, and the names of `from . import x`."""
    found: list[str] = []

    def add(name: str | None) -> None:
        if name and name.isidentifier() and name not in found:
            found.append(name)

    tree = python_ast(text)
    if tree is None:
        for match in _IMPORT_LINE.finditer(text):  # newer syntax than this interpreter: line scan
            dots, module, from_names, plain = match.groups()
            if plain is not None:
                for part in plain.split("#")[0].split(","):
                    add(part.strip().split(" ")[0].split(".")[0])
            elif module:
                add(module.split(".")[0])
            elif dots:
                for part in from_names.split("#")[0].strip("() \\").split(","):
                    add(part.strip().split(" ")[0])
        return found
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                add(node.module.split(".")[0])
            elif node.level:
                for alias in node.names:
                    add(alias.name)
    return found


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without visiting expressions (imports are statements)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _statements(inner)
        for handler in getattr(node, "handlers", ()):
            yield from _statements(handler.body)
        for case in getattr(node, "cases", ()):
            yield from _statements(case.body)
