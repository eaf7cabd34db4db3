"""One traversal of the module: abstract values of expressions, ordered operations, loops, knobs, functions.

Values are computed bottom-up in `leave_*` methods (children first); statements then record flows
(`symbol <- value`) and operations with their loop nest, `if` guards and grad mode. Roles are resolved later,
flow-insensitively, by `roles.py`; ordering questions use the operations' sequence numbers.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence

import libcst as cst

from auditor.facts import vocab as V
from auditor.facts.cond import UNKNOWN, Cond, Knob, convert, reads_env
from auditor.facts.ir import (
    AT_TARGET,
    EMPTY,
    ID,
    READ,
    SHIFT_INPUT,
    SHIFT_TARGET,
    CallInfo,
    Function,
    Loop,
    ModuleIR,
    Op,
    PosAccess,
    Val,
)
from auditor.facts.positions import statement_spans
from auditor.facts.traverse import traverse

MODULE = "<module>"
_UNSET = object()
_BLOCK_NODES = (cst.If, cst.For, cst.While)  # the only nodes with per-attribute handlers (guards, loop bodies)
_ATTRIBUTE_HOOKS = frozenset(_BLOCK_NODES)
_NODE_TEXT = cst.Module(body=[])


def _text(node: cst.CSTNode, limit: int = 120) -> str:
    return _NODE_TEXT.code_for_node(node)[:limit]


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else node.attr.value
    if isinstance(node, cst.Call):
        return _dotted(node.func) + "()"
    return ""


@functools.cache
def _name_tags(name: str) -> frozenset[str]:
    """Roles a name or attribute creates by itself (`val_tokens`, `train_files`); a few thousand distinct names."""
    if V.VAL_NAME.match(name):
        return V.VAL_SOURCE
    if V.TRAIN_NAME.match(name):
        return frozenset({V.TRAIN})
    return frozenset()


def _int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _int_value(node.expression)
        return None if inner is None else -inner
    return None


def _offset(node: cst.BaseExpression) -> tuple[str, int] | None:
    """`i` -> (i, 0); `i + 2` -> (i, 2); `i - 1` -> (i, -1); anything else -> None."""
    if isinstance(node, cst.Name):
        return node.value, 0
    if isinstance(node, cst.BinaryOperation) and isinstance(node.left, cst.Name):
        k = _int_value(node.right)
        if k is not None and isinstance(node.operator, (cst.Add, cst.Subtract)):
            return node.left.value, k if isinstance(node.operator, cst.Add) else -k
    return None


def _slice_shift(elements: list[cst.SubscriptElement]) -> str:
    """`w[1:]`, `w[s+1:e+1]` select the predicted tokens; `w[:-1]`, `w[s:e-1]` the inputs."""
    slices = [e.slice for e in elements if isinstance(e.slice, cst.Slice)]
    if not slices:
        return ID
    last = slices[-1]
    lower, upper = last.lower, last.upper
    low = _int_value(lower) if lower is not None else 0
    if low == 1 or (
        isinstance(lower, cst.BinaryOperation) and isinstance(lower.operator, cst.Add) and _int_value(lower.right) == 1
    ):
        return SHIFT_TARGET
    up = _int_value(upper) if upper is not None else None
    if up == -1 and low in (0, None):
        return SHIFT_INPUT
    return ID


def _slice_lower(elements: list[cst.SubscriptElement]) -> tuple[str, int] | None:
    """Lower bound of the last slice as (variable, offset): `[1:]` -> ("", 1), `[s+1:e]` -> ("s", 1)."""
    last = next((e.slice for e in reversed(elements) if isinstance(e.slice, cst.Slice)), None)
    if last is None:
        return None
    if last.lower is None:
        return "", 0
    value = _int_value(last.lower)
    return ("", value) if value is not None and value >= 0 else _offset(last.lower)


def _region(elements: list[cst.SubscriptElement]) -> str | None:
    """`[:s]` is the context of a sliding window, `[s:wlen]` its scored part (SLOT masks and losses)."""
    last = next((e.slice for e in reversed(elements) if isinstance(e.slice, cst.Slice)), None)
    if last is None or not isinstance(last.upper, cst.Name):
        return None
    if last.lower is None or _int_value(last.lower) == 0:
        return V.CTX
    return V.SCORED if isinstance(last.lower, cst.Name) else None


class _Frame:
    __slots__ = ("func", "loops", "guards", "grad")

    def __init__(self, func: Function, grad: str) -> None:
        self.func, self.loops, self.guards, self.grad = func, [], [], [grad]


class Walker(cst.CSTVisitor):
    """Builds a ModuleIR in one pass over a parsed module."""

    def __init__(
        self,
        module: cst.Module,
        lines: list[str],
        prefix: str = "",
        imports: dict[str, str] | None = None,
        spans: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.ir = ModuleIR(lines=lines)
        self.spans = statement_spans(module, "\n".join(lines)) if spans is None else spans
        self.prefix = prefix  # keeps temporaries of separately walked statements apart (facts.pieces)
        self.outer_imports = imports or {}  # bound before this module's text (earlier top-level statements)
        self.import_reads: dict[str, str | None] = {}  # outer imports looked up, and what they were
        self.vals: dict[int, Val] = {}
        self.store_nodes: set[int] = set()
        self.call_funcs: set[int] = set()
        self.stmt: list[tuple[int, int]] = [(1, 1)]
        self.classes: list[str] = []
        top = module_function(lines)
        self.ir.functions[MODULE] = top
        self.frames = [_Frame(top, "")]
        self.seq = itertools.count()
        self.tmp = itertools.count()
        self.loop_ids = itertools.count(1)
        self.knob_defs: dict[str, list[tuple]] = {}
        self.shifts: dict[str, set[str]] = {}
        self.hashed_stmt = False

    def walk(self, module: cst.Module) -> None:
        traverse(module, self, _ATTRIBUTE_HOOKS)

    # ------------------------------------------------------------- dispatch
    # libcst's stock dispatch builds a method name with an f-string and getattr for every node and every child
    # attribute; on 50k-node files that costs more than our handlers, so resolve each node type once per class.
    # The tables hold plain functions: bound methods kept on the walker would make every walker a reference
    # cycle, left for the cyclic GC (scan workers run audits with it paused, `scan.worker`).
    _VISITS: dict[type, Callable | None] = {}
    _LEAVES: dict[type, Callable | None] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        handler = self._VISITS.get(kind, _UNSET)
        if handler is _UNSET:
            handler = self._VISITS[kind] = getattr(type(self), f"visit_{kind.__name__}", None)
        return not (handler is not None and handler(self, node) is False)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        handler = self._LEAVES.get(kind, _UNSET)
        if handler is _UNSET:
            handler = self._LEAVES[kind] = getattr(type(self), f"leave_{kind.__name__}", None)
        if handler is not None:
            handler(self, original_node)

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if type(node) in _BLOCK_NODES:
            handler = getattr(self, f"visit_{type(node).__name__}_{attribute}", None)
            if handler is not None:
                handler(node)

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        if type(original_node) in _BLOCK_NODES:
            handler = getattr(self, f"leave_{type(original_node).__name__}_{attribute}", None)
            if handler is not None:
                handler(original_node)

    # ----------------------------------------------------------------- helpers
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def sym(self, name: str) -> str:
        func = self.frame.func
        return f"g::{name}" if func.qual == MODULE else f"{func.qual}::{name}"

    def val(self, node: cst.CSTNode | None) -> Val:
        return EMPTY if node is None else self.vals.get(id(node), EMPTY)

    def flow(self, dst: str, val: Val) -> None:
        if val.deps or val.tags:
            self.ir.flows.append((dst, val, self.stmt[-1][0]))

    def fresh(self) -> str:
        return f"{self.prefix}{next(self.tmp)}"

    def imported(self, name: str) -> str | None:
        """What an imported alias stands for: bound in this text, else before it (a read the result depends on)."""
        if name in self.ir.imports:
            return self.ir.imports[name]
        value = self.outer_imports.get(name)
        self.import_reads[name] = value
        return value

    def through(self, val: Val, how: str) -> Val:
        """A fresh symbol holding `val`, read back through a transform (applies the transform to tags too)."""
        tmp = f"t::{self.fresh()}"
        self.flow(tmp, val)
        return Val(frozenset({(tmp, how)}))

    def op(self, kind: str, sym: str = "", val: Val = EMPTY, extra: object = None) -> Op:
        start, end = self.stmt[-1]
        frame = self.frame
        record = Op(
            kind,
            start,
            end,
            frame.func.qual,
            next(self.seq),
            tuple(frame.loops),
            tuple(frame.guards),
            frame.grad[-1],
            sym,
            val,
            extra,
        )
        self.ir.ops.append(record)
        return record

    def attr_sym(self, node: cst.Attribute) -> str:
        base = node.value
        if isinstance(base, cst.Name) and base.value in ("self", "cls") and self.classes:
            return f"a:{self.classes[-1]}.{node.attr.value}"
        return f"@{node.attr.value}"

    def target_sym(self, node: cst.BaseExpression) -> str | None:
        if isinstance(node, cst.Name):
            return self.sym(node.value)
        if isinstance(node, cst.Attribute):
            return self.attr_sym(node)
        if isinstance(node, cst.Subscript):
            return self.target_sym(node.value)
        return None

    def define_knob(self, name: str, value: cst.BaseExpression, line: int) -> None:
        expr = convert(value)
        at_top = self.frame.func.qual == MODULE
        if expr[0] == "c" and not at_top:
            return
        if not at_top and not reads_env(expr):
            expr = UNKNOWN  # a later in-function reassignment makes the knob undecidable
        self.knob_defs.setdefault(name, []).append((expr, line))

    # ------------------------------------------------------------- statements
    def _push_stmt(self, node: cst.CSTNode, header_only: bool) -> None:
        start, end = self.spans.get(id(node), self.stmt[-1])
        self.stmt.append((start, start if header_only else end))

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._push_stmt(node, header_only=False)
        self.shifts: dict[str, set[str]] = {}
        self.hashed_stmt = False

    def leave_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        mixed = [
            base
            for base, hows in self.shifts.items()
            if ({SHIFT_TARGET, SHIFT_INPUT} <= hows or "pad" in hows) and not V.TOKEN_IDS.search(base)
        ]  # shifted token ids feed bigram hashes, not hidden states
        func = self.frame.func
        if (
            mixed
            and not self.hashed_stmt
            and (
                (func.cls is not None and (func.name == "forward" or "smear" in func.qual.lower()))
                or (func.cls is None and V.SHIFT_HELPER.search(func.name))  # def token_shift(h): ...
            )
        ):
            self.op("shift_mix", mixed[0])
        self.shifts = {}
        self.stmt.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push_stmt(node, header_only=True)
        self.classes.append(node.name.value)
        self.ir.classes[node.name.value] = tuple(_dotted(arg.value) for arg in node.bases)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()
        self.stmt.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push_stmt(node, header_only=True)
        parent = self.frame.func
        cls = self.classes[-1] if self.classes and parent.qual == MODULE else None  # class bodies push no frame
        name = node.name.value
        qual = f"{cls}.{name}" if cls else (name if parent.qual == MODULE else f"{parent.qual}.{name}")
        params = tuple(
            p.name.value for p in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params)
        )
        grad = ""
        for deco in node.decorators:
            if _dotted(deco.decorator).split("(")[0].split(".")[-1] in V.NO_GRAD_CALLS:
                grad = "no_grad"
        start, end = self.spans.get(id(node), self.stmt[-1])
        func = Function(
            qual,
            name,
            cls,
            params,
            start,
            end,
            None if parent.qual == MODULE else parent.qual,
            grad or ("" if cls else parent.grad),
        )
        func.locals.update(params)
        self.ir.functions[qual] = func
        self.frames.append(_Frame(func, grad or (self.frame.grad[-1] if parent.qual != MODULE else "")))
        for pname in params:
            if V.TARGET_NAME.match(pname):
                self.flow(f"{qual}::{pname}", Val(tags=frozenset({V.TARGET})))
            elif V.VAL_NAME.match(pname):
                self.flow(f"{qual}::{pname}", Val(tags=V.VAL_SOURCE))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        frame = self.frames.pop()
        func = frame.func
        outer = self.frame.func
        for name in func.reads - func.locals:
            if outer.qual == MODULE or name not in outer.locals and name not in outer.reads:
                src = f"g::{name}"
            else:
                src = f"{outer.qual}::{name}"
                outer.reads.add(name)
            self.ir.flows.append((f"{func.qual}::{name}", Val(frozenset({(src, ID)})), 0))
        self.stmt.pop()

    def visit_If(self, node: cst.If) -> None:
        self._push_stmt(node, header_only=True)
        test = node.test
        if (
            isinstance(test, cst.Comparison)
            and len(test.comparisons) == 1
            and isinstance(
                test.comparisons[0].operator, (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual)
            )
        ):
            sides = (_dotted(test.left), _dotted(test.comparisons[0].comparator))
            if all(V.LOSS_LIKE.search(side) for side in sides) and _stores_by_index(node.body):
                self.op("compare_select", sides[0], EMPTY, sides)

    def leave_If(self, node: cst.If) -> None:
        self.stmt.pop()

    def visit_If_body(self, node: cst.If) -> None:
        test = node.test
        if (
            isinstance(test, cst.Comparison)
            and len(test.comparisons) == 1
            and isinstance(
                test.comparisons[0].operator, (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual)
            )
            and _stores_by_index(node.body)
        ):
            sides = (_dotted(test.left), _dotted(test.comparisons[0].comparator))
            if not all(V.LOSS_LIKE.search(side) for side in sides):  # decided by dataflow in oracle_select
                value = self.val(test.left).union(self.val(test.comparisons[0].comparator))
                stored = tuple(self.sym(n) for n in _stored_names(node.body))
                self.op("compare_select_flow", sides[0], value, sides + stored)
        self.frame.guards.append((convert(node.test), True))

    def leave_If_body(self, node: cst.If) -> None:
        self.frame.guards.pop()

    def visit_If_orelse(self, node: cst.If) -> None:
        self.frame.guards.append((convert(node.test), False))

    def leave_If_orelse(self, node: cst.If) -> None:
        self.frame.guards.pop()

    def _begin_loop(
        self, node: cst.CSTNode, targets: tuple[str, ...], iter_text: str, count: Cond | None = None
    ) -> None:
        start, end = self.spans.get(id(node), self.stmt[-1])
        loop_id = next(self.loop_ids)
        text = " ".join(targets) + " " + iter_text
        self.ir.loops[loop_id] = Loop(
            loop_id, self.frame.func.qual, start, end, targets, iter_text, bool(V.EPOCH_LOOP.search(text)), count
        )
        self.frame.loops.append(loop_id)

    def visit_For(self, node: cst.For) -> None:
        self._push_stmt(node, header_only=True)

    def visit_For_body(self, node: cst.For) -> None:
        targets = tuple(n.value for n in _names(node.target))
        self.assign(node.target, self.val(node.iter))
        count = None
        it = node.iter
        if isinstance(it, cst.Call) and _dotted(it.func) == "range" and len(it.args) == 1:
            count = convert(it.args[0].value)
        self._begin_loop(node, targets, _text(node.iter), count)

    def leave_For_body(self, node: cst.For) -> None:
        self.frame.loops.pop()

    def leave_For(self, node: cst.For) -> None:
        self.stmt.pop()

    def visit_While(self, node: cst.While) -> None:
        self._push_stmt(node, header_only=True)

    def visit_While_body(self, node: cst.While) -> None:
        self._begin_loop(node, (), _text(node.test))

    def leave_While_body(self, node: cst.While) -> None:
        self.frame.loops.pop()

    def leave_While(self, node: cst.While) -> None:
        self.stmt.pop()

    def visit_With(self, node: cst.With) -> None:
        self._push_stmt(node, header_only=True)
        grad = self.frame.grad[-1]
        for item in node.items:
            called = _dotted(item.item).split("(")[0].split(".")[-1]
            if called in V.NO_GRAD_CALLS:
                grad = "no_grad"
            elif called == "enable_grad":
                grad = ""
        self.frame.grad.append(grad)

    def leave_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None:
                self.assign(item.asname.name, self.val(item.item))
        self.frame.grad.pop()
        self.stmt.pop()

    def visit_Try(self, node: cst.Try) -> None:
        self._push_stmt(node, header_only=True)

    def leave_Try(self, node: cst.Try) -> None:
        self.stmt.pop()

    # ------------------------------------------------------------ assignments
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self.store_nodes.add(id(target.target))

    def leave_Assign(self, node: cst.Assign) -> None:
        value = self.val(node.value)
        for target in node.targets:
            self.assign(target.target, value, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.store_nodes.add(id(node.target))

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.assign(node.target, self.val(node.value), node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.store_nodes.add(id(node.target))

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        value = self.val(node.value)
        if isinstance(node.operator, cst.BitXorAssign) or (
            isinstance(node.operator, cst.MultiplyAssign) and _is_multiplier(node.value)
        ):
            value = Val(value.deps, value.tags | {V.HASH})  # h ^= tok * P: a rolling hash
        target = node.target
        sym = self.target_sym(target)
        if sym:
            self.flow(sym, value)
        name = _store_name(target)
        if name and V.SCORE_TARGET.search(name) and not V.NOT_SCORE.search(name):
            self.op("score", sym or name, value, name)
        elif name and isinstance(node.operator, cst.AddAssign) and not V.NOT_SCORE.search(name):
            self.op("accumulate", sym or name, value, name)  # a score when the value is a loss (facts.kinds)
        if isinstance(target, cst.Subscript) and sym:
            self.table_write(sym, target)
        elif sym and isinstance(node.operator, cst.AddAssign):
            self.op("state_write", sym, value)  # `table += counts`: a whole table updated in place

    def table_write(self, sym: str, target: cst.Subscript) -> None:
        index = [e.slice for e in target.slice]
        if len(index) == 1 and isinstance(index[0], cst.Index):
            self.op("table_write", sym, self.val(index[0].value))

    def assign(self, target: cst.BaseExpression, value: Val, value_node: cst.BaseExpression | None = None) -> None:
        if isinstance(target, cst.Name):
            self.frame.func.locals.add(target.value)
            self.flow(self.sym(target.value), value)
            if V.NORMALIZER_NAME.search(target.value):
                self.op("normalizer", self.sym(target.value), value, target.value)
            if value_node is not None:
                self._maybe_knob(target.value, value_node)
        elif isinstance(target, cst.Attribute):
            sym = self.attr_sym(target)
            self.flow(sym, value)
            if sym.startswith("a:"):
                self.flow(f"@{target.attr.value}", value)
            if value_node is not None:
                self._maybe_knob(target.attr.value, value_node)
        elif isinstance(target, (cst.Tuple, cst.List)):
            self.assign_tuple(target, value, value_node)
        elif isinstance(target, cst.StarredElement):
            self.assign(target.value, value)
        elif isinstance(target, cst.Subscript):
            sym = self.target_sym(target)
            if sym:
                self.flow(sym, value)
                name = _store_name(target)
                if name and V.SCORE_TARGET.search(name) and not V.NOT_SCORE.search(name):
                    self.op("score", sym, value, name)  # per-position losses: a score, not a cache write
                else:
                    self.table_write(sym, target)
                if (
                    value_node is not None
                    and _int_value(value_node) == 1
                    or (isinstance(value_node, cst.Name) and value_node.value == "True")
                    or (isinstance(value_node, cst.Float) and value_node.value in ("1.0", "1."))
                ):
                    slices = [_text(e.slice) for e in target.slice]
                    self.op("mask_store", sym, EMPTY, ", ".join(slices))

    def _maybe_knob(self, name: str, value_node: cst.BaseExpression) -> None:
        frame = self.frame
        top_level = frame.func.qual == MODULE or (frame.func.cls is not None and frame.func.name == "__init__")
        if top_level or reads_env(convert(value_node)):
            self.define_knob(name, value_node, self.stmt[-1][0])

    def assign_tuple(
        self, target: cst.Tuple | cst.List, value: Val, value_node: cst.BaseExpression | None = None
    ) -> None:
        elements = [e.value for e in target.elements]
        if (
            isinstance(value_node, (cst.Tuple, cst.List))
            and len(value_node.elements) == len(elements)
            and not any(isinstance(e, cst.StarredElement) for e in value_node.elements)
        ):
            for element, source in zip(elements, value_node.elements):  # x, y = a, b: element by element
                self.assign(element, self.val(source.value), source.value)
            return
        names = [e.value if isinstance(e, cst.Name) else "" for e in elements]
        pair = len(elements) == 2 and (V.TARGET_NAME.match(names[1]) or V.INPUT_NAME.match(names[0]))
        for index, element in enumerate(elements):
            part = value
            if pair:
                part = self.through(value, SHIFT_INPUT if index == 0 else SHIFT_TARGET)
            self.assign(element, part)

    def leave_Return(self, node: cst.Return) -> None:
        func = self.frame.func
        if node.value is not None and func.qual != MODULE:
            self.flow(f"r:{func.qual}", self.val(node.value))

    def leave_Yield(self, node: cst.Yield) -> None:
        func = self.frame.func
        if isinstance(node.value, cst.BaseExpression) and func.qual != MODULE:
            self.flow(f"r:{func.qual}", self.val(node.value))

    # ------------------------------------------------------------ expressions
    def leave_Name(self, node: cst.Name) -> None:
        name = node.value
        func = self.frames[-1].func
        func.reads.add(name)
        if id(node) not in self.call_funcs:
            func.refs.add(name)
        self.vals[id(node)] = Val(frozenset({(self.sym(name), ID)}), _name_tags(name))

    def leave_Attribute(self, node: cst.Attribute) -> None:
        sym = self.attr_sym(node)
        base = self.val(node.value).as_prov()
        deps = frozenset({(sym, ID)})
        if base.deps and not sym.startswith("a:"):
            deps |= base.deps
        self.vals[id(node)] = Val(deps, _name_tags(node.attr.value) | base.tags)

    def _string(self, node: cst.CSTNode, text: str, inner: Val = EMPTY) -> None:
        tags = set(inner.tags)
        if V.VAL_STRING.search(text):
            tags |= V.VAL_SOURCE
        if V.TRAIN_STRING.search(text):
            tags.add(V.TRAIN)
        self.vals[id(node)] = Val(inner.deps, frozenset(tags))

    def leave_SimpleString(self, node: cst.SimpleString) -> None:
        self._string(node, node.value)

    def leave_FormattedString(self, node: cst.FormattedString) -> None:
        inner = EMPTY.union(
            *(self.val(p.expression) for p in node.parts if isinstance(p, cst.FormattedStringExpression))
        )
        text = "".join(p.value for p in node.parts if isinstance(p, cst.FormattedStringText))
        self._string(node, text, inner)

    def leave_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        self.vals[id(node)] = self.val(node.left).union(self.val(node.right))

    def leave_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        value = self.val(node.left).union(self.val(node.right))
        if _is_hash(node):
            value = Val(value.deps, value.tags | {V.HASH})
            self.hashed_stmt = True
        self.vals[id(node)] = value

    def leave_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        self.vals[id(node)] = self.val(node.expression)

    def leave_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self.vals[id(node)] = self.val(node.left).union(self.val(node.right))

    def leave_Comparison(self, node: cst.Comparison) -> None:
        value = self.val(node.left).union(*(self.val(c.comparator) for c in node.comparisons))
        self.vals[id(node)] = value.as_prov()
        operands = (node.left, *(c.comparator for c in node.comparisons))
        if (
            len(node.comparisons) == 1
            and isinstance(node.comparisons[0].operator, (cst.Equal, cst.NotEqual))
            and not any(_constant_like(o) for o in operands)
        ):
            result = self.through(value.as_prov(), ID)  # the match mask, as a symbol checks can follow
            self.vals[id(node)] = result
            self.op(
                "token_eq",
                next(iter(result.deps))[0],
                EMPTY,
                (self.val(node.left), self.val(node.comparisons[0].comparator)),
            )
        if any("bos" in _dotted(o).lower() for o in operands):
            self.op("bos_mask")

    def leave_IfExp(self, node: cst.IfExp) -> None:
        self.vals[id(node)] = self.val(node.body).union(self.val(node.orelse))

    def leave_Tuple(self, node: cst.Tuple) -> None:
        self.vals[id(node)] = EMPTY.union(*(self.val(e.value) for e in node.elements))

    leave_List = leave_Tuple  # type: ignore[assignment]
    leave_Set = leave_Tuple  # type: ignore[assignment]

    def leave_Dict(self, node: cst.Dict) -> None:
        value = EMPTY.union(*(self.val(e.value) for e in node.elements if isinstance(e, cst.DictElement)))
        if not node.elements:
            value = Val(value.deps, value.tags | {V.TABLE_ID + f"dict@{self.fresh()}"})
        self.vals[id(node)] = value

    def leave_ListComp(self, node: cst.ListComp) -> None:
        self.vals[id(node)] = self.val(node.elt).union(self._comp_iters(node.for_in))

    leave_SetComp = leave_ListComp  # type: ignore[assignment]
    leave_GeneratorExp = leave_ListComp  # type: ignore[assignment]

    def leave_DictComp(self, node: cst.DictComp) -> None:
        self.vals[id(node)] = self.val(node.value).union(self._comp_iters(node.for_in))

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.store_nodes.add(id(node.target))

    def leave_CompFor(self, node: cst.CompFor) -> None:
        self.assign(node.target, self.val(node.iter))

    def _comp_iters(self, comp: cst.CompFor) -> Val:
        value = self.val(comp.iter).as_prov()
        return value.union(self._comp_iters(comp.inner_for_in)) if comp.inner_for_in else value

    def leave_Subscript(self, node: cst.Subscript) -> None:
        base = self.val(node.value)
        elements = list(node.slice)
        index_vals = [
            self.val(e.slice.value)
            if isinstance(e.slice, cst.Index)
            else EMPTY.union(self.val(e.slice.lower), self.val(e.slice.upper))
            for e in elements
        ]
        index = EMPTY.union(*index_vals)
        if any(isinstance(e.slice, cst.Slice) for e in elements):
            how = _slice_shift(elements)
            region = _region(elements)
            if region:
                base = Val(base.deps, base.tags | {region})
            if how != ID and len(elements) > 1:  # x[:, 1:] / x[:, :-1]: a shift along the sequence axis
                self.shifts.setdefault(_dotted(node.value), set()).add(how)
            lower = _slice_lower(elements)
            base_sym = self.target_sym(node.value)
            if lower is not None and base_sym:
                # w[1:-1] vs w[2:]: among slices of one stream the furthest-shifted one holds the targets
                func = self.frame.func.qual
                self.ir.pos_access.append(PosAccess(func, base_sym, "[" + lower[0], lower[1]))
                how = f"pos:{func}|{base_sym}|[{lower[0]}|{lower[1]}|{how}"
            value = (base if how == ID else self.through(base, how)).union(index.as_index())
        else:
            last_index = index_vals[-1]
            picked = Val(
                frozenset((sym, AT_TARGET) for sym, _ in last_index.deps),
                frozenset({V.AT_TARGET}) if V.TARGET in last_index.tags else frozenset(),
            )
            value = base.union(index.as_index(), picked) if len(elements) > 1 else base.union(index.as_index())
            base_sym = self.target_sym(node.value)
            only = elements[-1].slice.value if isinstance(elements[-1].slice, cst.Index) else None
            offset = _offset(only) if only is not None else None
            if base_sym and offset and len(elements) == 1:
                func = self.frame.func.qual
                self.ir.pos_access.append(PosAccess(func, base_sym, offset[0], offset[1]))
                value = self.through(base, f"pos:{func}|{base_sym}|{offset[0]}|{offset[1]}").union(index.as_index())
            if base_sym and len(elements) == 1 and id(node) not in self.store_nodes:
                self.op("table_read", base_sym, index_vals[0])
        self.vals[id(node)] = value

    def visit_Call(self, node: cst.Call) -> None:
        self.call_funcs.add(id(node.func))

    def leave_Call(self, node: cst.Call) -> None:
        func = node.func
        dotted = _dotted(func)
        if isinstance(func, cst.Name):
            dotted = self.imported(func.value) or dotted  # `from numpy import bitwise_xor as bxor`
        last = dotted.split(".")[-1]
        args = [self.val(a.value) for a in node.args if a.keyword is None]
        kwargs = {a.keyword.value: self.val(a.value) for a in node.args if a.keyword is not None}
        every = EMPTY.union(*args, *kwargs.values())
        receiver = self.val(func.value) if isinstance(func, cst.Attribute) else EMPTY
        site = f"call:{self._call_key(func, last)}@{self.fresh()}"
        value = self._call_value(func, last, dotted, receiver, every, site, node.args)
        if last in V.FILE_READS:  # bytes read at run time: np.fromfile, Path.read_bytes, f.read, np.load
            source = every.union(receiver)  # the file's contents are what its path names: a val shard holds val tokens
            value = Val(value.deps | {(sym, READ) for sym, _ in source.deps}, value.tags | {V.FILE_DATA})
        self.vals[id(node)] = value
        self._call_events(node, func, dotted, last, receiver, args, kwargs, every, site)

    def _call_value(
        self,
        func: cst.BaseExpression,
        last: str,
        dotted: str,
        receiver: Val,
        every: Val,
        site: str,
        func_args: Sequence[cst.Arg] = (),
    ) -> Val:
        index_arg = next((a.value for a in func_args if a.keyword and a.keyword.value == "index"), None)
        if index_arg is None and func_args:
            index_arg = func_args[-1].value if isinstance(func, cst.Attribute) or len(func_args) > 2 else None
        args_index = self.val(index_arg) if index_arg is not None else None
        method = isinstance(func, cst.Attribute)
        if method and last == "join":
            return receiver.union(every)
        if (
            method
            and last in ("get", "setdefault")
            and func_args
            and not _module_like(dotted)
            and "environ" not in dotted
            and isinstance(func.value, (cst.Name, cst.Attribute, cst.Subscript))
        ):
            return receiver.union(self.val(func_args[0].value).as_index())
        if method and last in V.PROPAGATORS and not _module_like(dotted):
            value = receiver.union(every.as_prov())
            if last in ("bitwise_xor", "xor", "add", "mul", "sub", "remainder", "fmod", "bitwise_and"):
                value = receiver.union(every)
                if last in ("bitwise_xor", "xor"):
                    value = Val(value.deps, value.tags | {V.HASH})
            return value
        if last in ("gather", "take_along_dim") and args_index is not None:
            # p.gather(-1, y): the probability the model gave the realised token, a scalar per position
            picked = Val(
                args_index.deps and frozenset((sym, AT_TARGET) for sym, _ in args_index.deps),
                frozenset({V.AT_TARGET}) if V.TARGET in args_index.tags else frozenset(),
            )
            return receiver.as_prov().union(every.as_prov(), picked)
        if last in V.VALUE_FUNCS:
            value = every
            if last in ("bitwise_xor", "tuple", "hash"):
                value = Val(value.deps, value.tags | {V.HASH})
            return value
        if last in V.SANITIZERS:
            value = every.as_prov().union(receiver.as_prov())
            return Val(value.deps, value.tags | {V.NLL}) if last in V.LOSS_FUNCS else value
        if last in V.TABLE_CTORS:
            self.ir.opaque[site] = every.as_prov()
            dims = [a.value for a in func_args if a.keyword is None]
            if dims and isinstance(dims[0], (cst.Tuple, cst.List)):  # zeros((B, V)) or zeros(B, V)
                dims = [e.value for e in dims[0].elements]
            rows = len(dims) > 1 and bool(V.VOCAB_DIM.search(_dotted(dims[-1]).split(".")[-1]))
            ident = V.TABLE_ID + site
            return Val(frozenset({(site, ID)}), frozenset({V.TABLE, V.VOCAB_ROWS, ident} if rows else {V.TABLE, ident}))
        tags = V.VAL_SOURCE if V.VAL_LOADER_CALL.search(last) else frozenset()
        if last in V.FILE_READS:  # bytes read from a file at run time (a shipped blob, a shard, a checkpoint)
            tags = tags | {V.FILE_DATA}
        self.ir.opaque[site] = every.as_prov()  # used only if the callee is not a user function (roles.link_calls)
        return Val(frozenset({(site, ID)}), tags).union(receiver.as_prov())

    def _call_key(self, func: cst.BaseExpression, last: str) -> str:
        if isinstance(func, cst.Name):
            return f"f:{last}"
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and self.classes
        ):
            return f"s:{self.classes[-1]}.{last}"
        return f"m:{last}"

    def _call_events(
        self,
        node: cst.Call,
        func: cst.BaseExpression,
        dotted: str,
        last: str,
        receiver: Val,
        args: list[Val],
        kwargs: dict[str, Val],
        every: Val,
        site: str,
    ) -> None:
        recv_name = _dotted(func.value) if isinstance(func, cst.Attribute) else ""
        if last == "backward" and isinstance(func, cst.Attribute):
            self.op("backward", recv_name, receiver)
        elif dotted.endswith("autograd.grad") and args:
            self.op("backward", "autograd.grad", args[0])
        elif last == "step" and isinstance(func, cst.Attribute) and V.OPTIMIZER_NAME.search(recv_name.split(".")[-1]):
            closures = tuple(a.value.value for a in node.args if isinstance(a.value, cst.Name))
            self.op("step", recv_name, every, closures)
        elif dotted.endswith("add.at") or last in ("index_add_", "scatter_add_", "index_put_"):
            table = node.args[0].value if dotted.endswith("add.at") else func.value
            sym = self.target_sym(table) if isinstance(table, (cst.Name, cst.Attribute, cst.Subscript)) else None
            key = args[1] if dotted.endswith("add.at") and len(args) > 1 else (args[1] if len(args) > 1 else every)
            if sym:
                self.op("table_write", sym, key)
        elif (
            last in ("get", "setdefault")
            and args
            and isinstance(func, cst.Attribute)
            and not _module_like(dotted)
            and "environ" not in dotted
            and isinstance(func.value, (cst.Name, cst.Attribute, cst.Subscript))
        ):
            sym = self.target_sym(func.value)
            if sym:
                self.op("table_get", sym, args[0])
        elif last == "take" and len(args) >= 2 and "np" in dotted:
            sym = self.target_sym(node.args[0].value)
            if sym:
                self.op("table_read", sym, args[1])
        if last in ("append", "extend") and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            sym = self.target_sym(func.value)
            if sym:
                self.flow(sym, every.transformed("tgtonly"))
        if V.SERIALIZE_CALL.match(last) and (last != "write" or recv_name):
            self.op("serialize", dotted, every.union(receiver))
        if last in ("pad", "cat") and node.args:  # F.pad(h[:, :-1], ...) / cat([h[:, :1], h[:, :-1]]): shift right
            first = node.args[0].value
            parts = [e.value for e in first.elements] if isinstance(first, (cst.List, cst.Tuple)) else [first]
            for sliced in parts:
                if (
                    isinstance(sliced, cst.Subscript)
                    and len(sliced.slice) > 1
                    and (_slice_shift(list(sliced.slice)) == SHIFT_INPUT)
                ):
                    self.shifts.setdefault(_dotted(sliced.value), set()).add("pad")
        if last == "where" and node.args and isinstance(node.args[0].value, cst.Comparison):
            test = node.args[0].value
            sides = (_dotted(test.left), _dotted(test.comparisons[0].comparator))
            if all(V.LOSS_LIKE.search(side) for side in sides):
                self.op("minimum", dotted, every, tuple((side, EMPTY) for side in sides))
        if last in ("minimum", "fmin") or (last == "min" and len(args) == 2):
            self.op("minimum", dotted, every, tuple((_text(a.value, 60), self.val(a.value)) for a in node.args))
        if V.OPTIMIZER_CTOR.match(last):
            self.op("optimizer", dotted, args[0] if args else every, _text(node, 100))
        fresh = last == "requires_grad_" and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call)
        if (last == "Parameter" and self.frame.func.name != "__init__") or _is_true(node, "requires_grad") or fresh:
            self.op("param_create", dotted, every.union(receiver), _text(node, 100))
        causal_off = [k for k in kwargs if "causal" in k and _is_false(node, k)]  # is_causal=False, causal=False
        if causal_off and "attn_mask" not in kwargs:
            self.op("noncausal", dotted, EMPTY, _text(node, 100))
        if (
            last in ("append", "add_", "extend")
            and recv_name
            and V.SCORE_TARGET.search(recv_name.split(".")[-1])
            and not V.NOT_SCORE.search(recv_name)
        ):
            self.op("score", recv_name, every, recv_name)
        if V.SCORE_CALL.search(last):
            self.op("score", last, every, last)
        closures = tuple(a.value.value for a in node.args if isinstance(a.value, cst.Name))
        self.op("call", dotted, every, CallInfo(self._call_key(func, last), args, kwargs, closures, dotted, site))

    # --------------------------------------------------------------- imports
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = _dotted(alias.name)
            as_name = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.ir.imports[as_name] = name

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar) or node.module is None:
            return
        module = _dotted(node.module)
        for alias in node.names:
            name = _dotted(alias.name)
            as_name = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.ir.imports[as_name] = f"{module}.{name}"

    # ---------------------------------------------------------------- result
    def finish(self) -> ModuleIR:
        self.ir.knobs.update(knobs(self.knob_defs))
        return self.ir


def knobs(definitions: dict[str, list[tuple]]) -> dict[str, Knob]:
    """A knob's value where every definition agrees, UNKNOWN where they differ; its first line either way."""
    found = {}
    for name, defs in definitions.items():
        exprs = {expr for expr, _ in defs}
        found[name] = Knob(name, defs[0][0] if len(exprs) == 1 else UNKNOWN, defs[0][1])
    return found


def module_function(lines: list[str]) -> Function:
    return Function(MODULE, MODULE, None, (), 1, len(lines), None)


def _names(node: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for e in node.elements for n in _names(e.value)]
    return []


def _stores_by_index(body: cst.BaseSuite) -> bool:
    """The block assigns into a subscript (a per-position choice), not a scalar such as a best temperature."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(isinstance(t.target, cst.Subscript) for t in small.targets):
                    return True
    return False


def _stored_names(body: cst.BaseSuite) -> list[str]:
    """Names a block assigns into (`best[b] = v`) or copies into (`best[b].copy_(v)`)."""
    out: list[str] = []
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign):
                out.extend(_store_name(t.target) for t in small.targets if isinstance(t.target, cst.Subscript))
            elif (
                isinstance(small, cst.Expr)
                and isinstance(small.value, cst.Call)
                and isinstance(small.value.func, cst.Attribute)
                and small.value.func.attr.value in ("copy_", "fill_")
            ):
                out.append(_store_name(small.value.func.value))
    return [n for n in out if n]


_CONSTANT_NAME = re.compile(
    r"(^|_)(id|ids?x|index|bos|eos|pad|sep|unk|ignore|token|tok|value|val|none|null|mask)$|^[A-Z0-9_]+$"
)


def _constant_like(node: cst.BaseExpression) -> bool:
    """Literals, calls, ALL_CAPS names and special-token ids (`BOS_ID`, `args.pad_id`): not a per-position array."""
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.Call, cst.UnaryOperation)):
        return True
    if isinstance(node, (cst.Name, cst.Attribute)):
        name = _dotted(node).split(".")[-1]
        return name in ("None", "True", "False") or bool(_CONSTANT_NAME.search(name))
    return False


def _store_name(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Subscript):
        return _store_name(node.value)
    return ""


def _module_like(dotted: str) -> bool:
    """`torch.flatten(...)` names a module function; `np.fromfile(f).astype(...)` is a method of a value."""
    if "()" in dotted:
        return False
    head = dotted.split(".")[0]
    return head in ("torch", "np", "numpy", "F", "math", "os", "nn", "dist")


def _is_hash(node: cst.BinaryOperation) -> bool:
    op = node.operator
    if isinstance(op, cst.BitXor):
        return True
    if isinstance(op, cst.Multiply):
        return any(_is_multiplier(side) for side in (node.left, node.right))
    if isinstance(op, cst.BitOr):
        return any(
            isinstance(s, cst.BinaryOperation) and isinstance(s.operator, cst.LeftShift)
            for s in (node.left, node.right)
        )
    return False


def _is_multiplier(side: cst.BaseExpression) -> bool:
    """A large odd constant or a name such as PRIMES[k] / mult: the multiplier of a multiplicative hash."""
    value = _int_value(side)
    if value is not None:
        return abs(value) >= V.LARGE_MULTIPLIER
    if isinstance(side, cst.Subscript):
        side = side.value
    if isinstance(side, (cst.Name, cst.Attribute)):
        name = _dotted(side).split(".")[-1]
        return any(k in name.lower() for k in ("prime", "mult", "hash")) or name in ("P", "_P", "PRIME")
    return False


def _kw(node: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in node.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _is_true(node: cst.Call, name: str) -> bool:
    value = _kw(node, name)
    return isinstance(value, cst.Name) and value.value == "True"


def _is_false(node: cst.Call, name: str) -> bool:
    value = _kw(node, name)
    return isinstance(value, cst.Name) and value.value == "False"
