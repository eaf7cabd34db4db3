"""Parse and walk a file one top-level statement at a time, reusing the walk of statements seen before.

Submissions are forks of a few scripts: across the ~2,700 distinct training scripts of the challenge's PRs, half of
the bytes sit in top-level statements (functions, classes, blocks) that another script has verbatim. A statement's
walk depends only on its own text and on the imported aliases bound before it that it looks up, so each (text,
aliases read) is parsed and walked once per process and kept in a bounded memo, pickled: a walk's objects take ~60x
its text in memory, its pickle ~7x, and unpickling costs ~12% of a parse and walk. `compose` shifts the lines,
sequence numbers and loop ids of every piece into place. Temporaries are named after the statement's text, so a
piece needs no renaming. Statements are cut by lines, without parsing the file; a cut that a parse refuses is made
again from the stdlib `ast`, and a file neither can cut is walked whole.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from auditor.facts.ir import Function, ModuleIR
from auditor.facts.walk import MODULE, Walker, knobs, module_function
from auditor.facts.positions import statement_spans
from auditor.load.errors import Unanalyzable
from auditor.syntax import parse_module, python_ast

MEMO_BYTES = 48_000_000  # pickled walks kept per process (about 7 MB of statement text)
SHARED_MIN = 500  # characters: smaller pieces cost less to walk again than to share (90% of shared bytes pass)


@dataclass(frozen=True, slots=True)
class Piece:
    """The walk of one statement's text, with lines, sequence numbers and loop ids counted from 1."""

    ir: ModuleIR
    knob_defs: dict[str, list[tuple]]
    ops: int  # sequence numbers used
    loops: int  # loop ids used
    import_reads: tuple[tuple[str, str | None], ...]  # aliases bound before the text, as the walk found them


class Memo:
    """Pickled pieces by statement text, least recently used dropped first once they pass `limit` bytes.

    With `share(folder)`, pieces of SHARED_MIN characters or more are also written to that folder, where the other
    processes of a scan find them: scan workers see neighbouring PRs, and 8% of what two workers walked was walked by
    both. Files are compressed (zlib level 1: 3.7x smaller, ~1% of a scan's CPU), as /tmp may live in memory. The
    folder must be private to the scan (its files are unpickled).
    """

    def __init__(self, limit: int = MEMO_BYTES) -> None:
        self.limit, self.size = limit, 0
        # text -> [(aliases the walk read, pickled piece)]: one text walked under different imports
        self.entries: OrderedDict[str, list[tuple[tuple, bytes]]] = OrderedDict()
        self.shared: Path | None = None

    def share(self, folder: Path | None) -> None:
        self.shared = folder

    def get(self, text: str, imports: dict[str, str]) -> Piece | None:
        variants = self.entries.get(text)
        if variants is None:
            variants = self._read_shared(text)
            if not variants:
                return None
            self._keep(text, variants)
        self.entries.move_to_end(text)
        for reads, data in variants:
            if all(imports.get(k) == v for k, v in reads):
                return pickle.loads(data)
        return None

    def put(self, text: str, piece: Piece) -> None:
        self._keep(text, [(piece.import_reads, pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL))])
        self._write_shared(text)

    def _keep(self, text: str, variants: list[tuple[tuple, bytes]]) -> None:
        self.entries.setdefault(text, []).extend(variants)
        self.entries.move_to_end(text)
        self.size += sum(len(data) for _, data in variants)
        while self.size > self.limit and len(self.entries) > 1:
            _, old = self.entries.popitem(last=False)
            self.size -= sum(len(d) for _, d in old)

    def _shared_path(self, text: str) -> Path | None:
        if self.shared is None or len(text) < SHARED_MIN:
            return None
        return self.shared / hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def _read_shared(self, text: str) -> list[tuple[tuple, bytes]]:
        path = self._shared_path(text)
        try:
            return pickle.loads(zlib.decompress(path.read_bytes())) if path is not None else []
        except OSError:  # not shared yet
            return []

    def _write_shared(self, text: str) -> None:
        path = self._shared_path(text)
        if path is None:
            return
        partial = path.with_name(f"{path.name}.{os.getpid()}")  # written whole, then renamed into place
        try:
            partial.write_bytes(zlib.compress(pickle.dumps(self.entries[text], protocol=pickle.HIGHEST_PROTOCOL), 1))
            os.replace(partial, path)
        except OSError:  # a full disk costs the sharing, not the audit
            partial.unlink(missing_ok=True)


MEMO = Memo()


def parse(code: str) -> cst.Module:
    """Parse once; syntax errors become Unanalyzable with the line they point at."""
    try:
        return parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise Unanalyzable(
            f"syntax error at line {exc.raw_line}, column {exc.raw_column}: {exc.message.splitlines()[0]}"
        ) from None
    except RecursionError:
        raise Unanalyzable("the code is nested too deeply to parse") from None


def module_ir(code: str, memo: Memo | None = MEMO) -> ModuleIR:
    """The walk of a whole file: statement by statement through the memo, or whole when it cannot be split.

    Statements are first cut by lines (`line_pieces`), which costs nothing when every piece is a memo hit; a piece
    that does not parse on its own means a cut inside a statement, and the stdlib parse cuts the file instead.
    """
    lines = code.splitlines()
    if memo is None:
        return _walk_whole(code, lines)
    for split in (line_pieces, _ast_pieces):
        cut = split(code, lines)
        if cut is not None:
            try:
                return _walk_pieces(cut, lines, memo)
            except Unanalyzable:
                continue
    return _walk_whole(code, lines)  # the error, with the file's own line numbers


def _walk_pieces(cut: list[tuple[str, int, list[ast.stmt] | None]], lines: list[str], memo: Memo) -> ModuleIR:
    pieces = []
    imports: dict[str, str] = {}
    for text, offset, statements in cut:
        piece = memo.get(text, imports)
        if piece is None:
            piece = walk_piece(text, imports, statements, offset)
            memo.put(text, piece)
        pieces.append((offset, piece))
        imports.update(piece.ir.imports)
    return compose(pieces, lines)


def _ast_pieces(code: str, lines: list[str]) -> list[tuple[str, int, list[ast.stmt]]] | None:
    """(text, lines before it in the file, its stdlib statements) of each piece, cut by the stdlib parse."""
    tree = python_ast(code)
    if tree is None:
        return None
    out = []
    for first, last, statements in statement_groups(tree.body):
        members = _class_members(statements, lines)
        out.extend([(_lines(lines, first, last), first - 1, statements)] if members is None else members)
    return out


def statement_groups(body: list[ast.stmt]) -> list[tuple[int, int, list[ast.stmt]]]:
    """(first line, last line, statements) of each statement of a body, decorators included; statements that share
    a line (`import os; import sys`) form one group."""
    groups: list[tuple[int, int, list[ast.stmt]]] = []
    for node in body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        last = node.end_lineno or node.lineno
        if groups and first <= groups[-1][1]:
            start, end, statements = groups[-1]
            groups[-1] = (start, max(last, end), [*statements, node])
        else:
            groups.append((first, last, [node]))
    return groups


def _class_members(statements: list[ast.stmt], lines: list[str]) -> list[tuple[str, int, list[ast.stmt]]] | None:
    """A class walked member by member: each piece is the class header followed by one member (a method, a block of
    attributes), so a fork that edits one method re-walks that method only. None when the class is not split.

    A method's walk depends on its class (its qualified name, `self.x` attributes) but not on the other members;
    the header is in every piece, so it must make no op of its own: no decorator, no call among the bases.
    """
    node = statements[0]
    if len(statements) != 1 or not isinstance(node, ast.ClassDef) or node.decorator_list:
        return None
    if not all(_dotted_name(e) for e in [*node.bases, *(k.value for k in node.keywords)]):
        return None
    members = statement_groups(node.body)
    header_last = members[0][0] - 1
    while header_last > node.lineno and not lines[header_last - 1].split("#", 1)[0].strip():
        header_last -= 1
    colon = header_last >= node.lineno and lines[header_last - 1].split("#", 1)[0].rstrip().endswith(":")
    if len(members) < 2 or not colon:
        return None  # one member, a member on the header's line, or a header this cut cannot find
    header = _lines(lines, node.lineno, header_last)
    height = header_last - node.lineno + 1
    out = []
    for first, last, body in members:
        # the header is placed right above the member, so one shift maps the piece's lines back to the file's
        alone = ast.ClassDef(node.name, node.bases, node.keywords, body, [], lineno=first - height, end_lineno=last)
        out.append((header + _lines(lines, first, last), first - height - 1, [alone]))
    return out


def _lines(lines: list[str], first: int, last: int) -> str:
    """The text of lines first..last (1-based, inclusive), newline-terminated."""
    return "\n".join(lines[first - 1 : last]) + "\n"


def _dotted_name(node: ast.expr) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


_TRIPLE = re.compile(r'"""|\'\'\'')
_CONTINUES = re.compile(r"(?:else|elif|except|finally)\b|[)\]}]")  # code that starts no statement
_NAME = r"[^\W\d]\w*"
_BASE = rf"(?:{_NAME}\s*=\s*)?{_NAME}(?:\s*\.\s*{_NAME})*"  # `nn.Module`, `metaclass=abc.ABCMeta`
_CLASS_HEADER = re.compile(rf"class\s+{_NAME}\s*(?:\(\s*(?:{_BASE}\s*,\s*)*(?:{_BASE}\s*)?\))?\s*:\s*(?:#.*)?$")


def line_pieces(code: str, lines: list[str]) -> list[tuple[str, int, None]]:
    """(text, lines before it in the file, None) of each piece, cut by lines: no parse of the file.

    A statement starts at a line with code at column 0, and a class with a one-line header of dotted bases is cut
    into its members as `_class_members` does. A line inside a string or brackets can look like a start, but a cut
    there leaves the text before it unterminated: that piece fails to parse, and the caller cuts by the stdlib
    parse instead. A piece the memo holds parsed on its own when it was walked.
    """
    out = []
    for first, last in statement_lines(lines, 1, len(lines), ""):
        members = _line_members(lines, first, last)
        out.extend([(_lines(lines, first, last), first - 1, None)] if members is None else members)
    return out


def _line_members(lines: list[str], first: int, last: int) -> list[tuple[str, int, None]] | None:
    if not _CLASS_HEADER.match(lines[first - 1]):
        return None
    body = next((line for line in lines[first:last] if line.strip() and not line.lstrip().startswith("#")), "")
    indent = body[: len(body) - len(body.lstrip())]
    members = statement_lines(lines, first + 1, last, indent) if indent else []
    if len(members) < 2:
        return None
    header = lines[first - 1] + "\n"
    return [(header + _lines(lines, start, end), start - 2, None) for start, end in members]


def statement_lines(lines: list[str], first: int, last: int, indent: str) -> list[tuple[int, int]]:
    """(first line, last line) of the statements whose code starts right after `indent` within lines first..last.

    Decorators start the statement of the def or class below them; trailing blank and comment lines belong to no
    statement (as in the stdlib's ranges).
    """
    width = len(indent)
    starts: list[int] = []
    decorated = False
    quote = None  # the triple quote of a string still open at the end of the line before
    for number in range(first, last + 1):
        line = lines[number - 1]
        lead = line[width : width + 1]
        code_here = quote is None and lead.strip() and lead != "#" and line.startswith(indent)
        if code_here and not _CONTINUES.match(line, width):
            if not decorated:
                starts.append(number)
            decorated = lead == "@"
        for found in _TRIPLE.findall(line):
            quote = found if quote is None else (None if found == quote else quote)
    groups = []
    for start, following in zip(starts, [*starts[1:], last + 1]):
        end = following - 1
        while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        groups.append((start, end))
    return groups


def walk_piece(text: str, imports: dict[str, str], statements: list[ast.stmt] | None = None, offset: int = 0) -> Piece:
    """The walk of one statement's text; `statements`: its stdlib parse, `offset` lines into the file."""
    module = parse(text)
    prefix = hashlib.blake2b(text.encode(), digest_size=6).hexdigest() + "."
    spans = statement_spans(module, text, statements, offset)
    walker = Walker(module, text.splitlines(), prefix, imports, spans)
    walker.walk(module)
    ir = walker.ir
    ir.lines = []
    return Piece(ir, walker.knob_defs, next(walker.seq), next(walker.loop_ids) - 1, tuple(walker.import_reads.items()))


def _walk_whole(code: str, lines: list[str]) -> ModuleIR:
    module = parse(code)
    walker = Walker(module, lines)
    walker.walk(module)
    return walker.finish()


def compose(pieces: list[tuple[int, Piece]], lines: list[str]) -> ModuleIR:
    """One file's walk from its statements' pieces, each shifted by the lines before it.

    The pieces are consumed: each is a fresh object (unpickled from the memo, or walked and pickled into it before
    this runs), so its ops, loops and functions are shifted in place rather than copied.
    """
    top = module_function(lines)
    ir = ModuleIR(functions={MODULE: top}, lines=lines)
    knob_defs: dict[str, list[tuple]] = {}
    seq = loop_base = 0
    for offset, piece in pieces:
        _merge_functions(ir, top, piece.ir.functions, offset)
        for op in piece.ir.ops:
            op.line += offset
            op.end_line += offset
            op.seq += seq
            if op.loops:
                op.loops = tuple(i + loop_base for i in op.loops)
        ir.ops.extend(piece.ir.ops)
        for loop_id, loop in piece.ir.loops.items():
            loop.id, loop.line, loop.end_line = loop_id + loop_base, loop.line + offset, loop.end_line + offset
            ir.loops[loop.id] = loop
        ir.flows.extend((dst, val, line + offset if line else 0) for dst, val, line in piece.ir.flows)
        ir.opaque.update(piece.ir.opaque)
        ir.pos_access.extend(piece.ir.pos_access)
        ir.classes.update(piece.ir.classes)
        ir.imports.update(piece.ir.imports)
        for name, defs in piece.knob_defs.items():
            knob_defs.setdefault(name, []).extend((expr, line + offset) for expr, line in defs)
        seq += piece.ops
        loop_base += piece.loops
    ir.knobs = knobs(knob_defs)
    return ir


def _merge_functions(ir: ModuleIR, top: Function, functions: dict[str, Function], offset: int) -> None:
    for qual, func in functions.items():
        if qual == MODULE:  # the module-level statements' names join the file's module function
            top.locals |= func.locals
            top.reads |= func.reads
            top.refs |= func.refs
            continue
        func.line += offset
        func.end_line += offset
        ir.functions[qual] = func
