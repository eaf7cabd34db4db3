"""Facts: the inspectable result of analysing one source (roles, ordered events, reachability, knobs).

Built once per file by `build_facts`; checks read it, `pgolf-audit facts PATH` dumps it with `to_json`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from auditor.facts import vocab as V
from auditor.facts.cond import evaluate, knob_names, truth
from auditor.facts.ir import Function, ModuleIR, Op, Val
from auditor.facts.roles import Resolver, Roles, link_calls
from auditor.facts.walk import MODULE


@dataclass(frozen=True, slots=True)
class Status:
    """Whether an operation runs with the effective environment, and which knob would switch it on."""

    live: bool
    knob: str | None = None


LIVE = Status(True)


@dataclass(frozen=True, slots=True)
class RunEvidence:
    """What the submitted run shows beyond the code (read by the load layer from the records folder)."""

    title: str = ""  # the claimed name of the record
    log_lines: tuple[str, ...] = ()  # lines its train logs printed
    library: bool = False  # the code is a module the script imports, not the script itself


@dataclass
class Facts:
    ir: ModuleIR
    roles: Roles
    callees: dict[int, list[str]]
    env: dict[str, str]
    reachable: set[str] = field(default_factory=set)
    disabled_by: dict[str, str] = field(default_factory=dict)  # function -> knob that would enable it
    summaries: dict[str, frozenset[str]] = field(default_factory=dict)
    ops_by_func: dict[str, list[Op]] = field(default_factory=dict)
    flows_into: dict[str, list[tuple[Val, int]]] = field(default_factory=dict)
    run: RunEvidence = field(default_factory=RunEvidence)
    intrinsic: Roles | None = None  # roles of each function on its own (parameters unbound)
    witnessed: set = field(default_factory=set)  # (guard, polarity) that the run's logs show were taken

    # --------------------------------------------------------------- queries
    def roles_of(self, val: Val) -> frozenset[str]:
        return self.roles.value(val)

    def line_text(self, line: int | None, end: int | None = None) -> str:
        if not line:
            return ""
        lines = self.ir.lines[line - 1 : (end or line)]
        text = "\n".join(lines)
        return text.strip() if len(lines) <= 1 else _dedent(lines)

    def origin(self, val: Val, role: str, depth: int = 6) -> list[tuple[int, str]]:
        """Backward chain of (line, symbol) assignments through which `role` reached `val`, source first."""
        chain: list[tuple[int, str]] = []
        seen: set[str] = set()
        current = val
        for _ in range(depth):
            nxt = next(
                (
                    sym
                    for sym, how in sorted(current.deps)
                    if sym not in seen and role in self.roles.transform(self.roles.of.get(sym, frozenset()), how)
                ),
                None,
            )
            if nxt is None:
                break
            seen.add(nxt)
            source = next(((v, line) for v, line in self.flows_into.get(nxt, ()) if role in self.roles_of(v)), None)
            if source is None:
                break
            current, line = source
            if line and not nxt.startswith(("t::", "call:", "r:")):
                chain.append((line, nxt))
        chain.reverse()
        return chain

    def function(self, qual: str) -> Function | None:
        return self.ir.functions.get(qual)

    def status(self, op: Op) -> Status:
        """Live when its function is reachable and no enclosing guard or loop count is false."""
        if op.func not in self.reachable:
            return Status(False, self.disabled_by.get(op.func))
        return self.guard_status(op)

    def guard_status(self, op: Op) -> Status:
        """Whether the guards and loop counts around an operation let it run, its function being entered."""
        for cond, polarity in op.guards:
            if (cond, polarity) in self.witnessed:
                continue
            value = truth(cond, self.ir.knobs, self.env)
            if value is not None and value != polarity:
                names = knob_names(_deciding(cond, polarity, self), self.ir.knobs)
                return Status(False, names[0] if names else None)
        for loop_id in op.loops:
            loop = self.ir.loops[loop_id]
            if loop.count is not None:
                value = truth(loop.count, self.ir.knobs, self.env)
                if value is False:
                    names = knob_names(loop.count, self.ir.knobs)
                    return Status(False, names[0] if names else None)
        return LIVE

    def kinds(self, op: Op) -> frozenset[str]:
        """What an operation does, with calls standing for everything their (live) callees do."""
        if op.kind == "call":
            out: set[str] = set()
            for callee in self.callees.get(op.seq, ()):
                out |= self.summaries.get(callee, frozenset())
            return frozenset(out)
        return _own_kinds(op, self.roles_of(op.val))

    def driver(self) -> str:
        for name in V.DRIVER_NAMES:
            if name in self.ir.functions and name in self.reachable:
                return name
        return MODULE

    # ------------------------------------------------------------------ dump
    def to_json(self) -> dict[str, Any]:
        interesting = {
            "score",
            "backward",
            "step",
            "table_read",
            "table_write",
            "serialize",
            "minimum",
            "param_create",
            "optimizer",
            "mask_store",
            "noncausal",
        }
        events = []
        for op in self.ir.ops:
            kinds = self.kinds(op)
            if op.kind not in interesting and not kinds:
                continue
            if op.kind == "table_read" and V.HASH not in self.roles_of(op.val):
                continue
            status = self.status(op)
            events.append(
                {
                    "line": op.line,
                    "function": op.func,
                    "kind": op.kind,
                    "what": op.sym,
                    "roles": sorted(self.roles_of(op.val)),
                    "does": sorted(kinds),
                    "grad": op.grad or "enabled",
                    "loops": [self.ir.loops[i].line for i in op.loops],
                    "live": status.live,
                    "knob": status.knob,
                }
            )
        named_roles = {
            sym: sorted(roles)
            for sym, roles in sorted(self.roles.of.items())
            if roles and not sym.startswith(("t::", "call:")) and roles & {V.VAL, V.TARGET, V.HASH, V.TRAIN}
        }
        return {
            "functions": {
                q: {
                    "line": f.line,
                    "end_line": f.end_line,
                    "reachable": q in self.reachable,
                    "disabled_by": self.disabled_by.get(q),
                    "does": sorted(self.summaries.get(q, ())),
                }
                for q, f in self.ir.functions.items()
            },
            "knobs": {
                name: {"line": knob.line, "default": _show(knob.expr, self)}
                for name, knob in sorted(self.ir.knobs.items())
                if knob.expr[0] != "?"
            },
            "env_overrides": dict(sorted(self.env.items())),
            "roles": named_roles,
            "loops": [
                {"line": loop.line, "end_line": loop.end_line, "function": loop.func, "epoch_like": loop.is_epoch}
                for loop in self.ir.loops.values()
            ],
            "events": events,
        }


def _deciding(cond: tuple, polarity: bool, facts: Facts) -> tuple:
    """The part of a guard that sends control the other way: the false conjunct of `a and b`."""
    if cond and cond[0] in ("and", "or") and (cond[0] == "and") == polarity:
        for part in cond[1:]:
            if truth(part, facts.ir.knobs, facts.env) == (not polarity):
                return _deciding(part, polarity, facts)
    return cond


def _show(expr: tuple, facts: Facts) -> Any:
    value = evaluate(expr, facts.ir.knobs, facts.env)
    return value if isinstance(value, (int, float, str, bool, type(None))) else "?"


def _dedent(lines: list[str]) -> str:
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines).strip("\n")


def _own_kinds(op: Op, roles: frozenset[str]) -> frozenset[str]:
    kind = op.kind
    out: set[str] = set()
    if kind == "score" or (kind == "accumulate" and V.NLL in roles and V.VAL in roles):
        out.add("score")
    elif kind == "backward":
        out.add("update")
        if V.VAL in roles:
            out.add("update_val")
        if V.TRAIN in roles:
            out.add("update_train")
    elif kind == "table_read" and V.HASH in roles:
        out.add("hash_read")
        if V.TARGET in roles:
            out.add("target_hash_read")
    elif kind == "table_write":
        out.add("table_write")
    logging = kind == "call" and op.sym.split(".")[-1] in V.LOG_CALLS
    if kind in ("call", "table_read", "serialize") and V.TRAIN in roles and not logging:
        out.add("train_data")
    if kind in ("call", "table_read") and V.VAL in roles:
        out.add("val_data")
    return frozenset(out)


def _reachability(facts: Facts) -> None:
    ir = facts.ir
    names = defaultdict(list)
    for func in ir.functions.values():
        names[func.name].append(func.qual)
    has_entry = any(op.kind == "call" and op.func == MODULE and op.seq in facts.callees for op in ir.ops)
    work = [MODULE] + ([] if has_entry else [q for q in V.DRIVER_NAMES if q in ir.functions])
    if facts.run.library:  # an imported module: whatever the script calls in it runs, so every definition is an entry
        work += [q for q, f in ir.functions.items() if f.parent is None and q != MODULE]
    facts.reachable = set(work)
    while work:
        qual = work.pop()
        func = ir.functions[qual]
        found: list[str] = []
        for op in facts.ops_by_func.get(qual, ()):
            if op.kind != "call" or op.seq not in facts.callees:
                continue
            status = facts.guard_status(op)
            for callee in facts.callees[op.seq]:
                if status.live:
                    found.append(callee)
                    if callee.endswith(".__init__"):  # an instance is called through forward/__call__
                        cls = callee.rsplit(".", 1)[0]
                        found.extend(q for q in (f"{cls}.forward", f"{cls}.__call__") if q in ir.functions)
                elif callee not in facts.disabled_by and status.knob:
                    facts.disabled_by[callee] = status.knob
        for name in func.refs:
            found.extend(q for q in names.get(name, ()) if q != qual)
        found.extend(q for q, f in ir.functions.items() if f.parent == qual)
        for callee in found:
            if callee not in facts.reachable:
                facts.reachable.add(callee)
                work.append(callee)
    for qual in facts.reachable:
        facts.disabled_by.pop(qual, None)


def _summaries(facts: Facts) -> None:
    own: dict[str, set[str]] = defaultdict(set)
    calls: dict[str, set[str]] = defaultdict(set)
    for op in facts.ir.ops:
        if not facts.status(op).live and op.func in facts.reachable:
            continue
        if op.kind == "call":
            calls[op.func].update(facts.callees.get(op.seq, ()))
        kinds = _own_kinds(op, facts.roles_of(op.val))
        if "train_data" in kinds and facts.intrinsic and V.TRAIN not in facts.intrinsic.value(op.val):
            kinds -= {"train_data"}  # only through a parameter some caller fills with training data
        own[op.func] |= kinds
    result = {q: set(k) for q, k in own.items()}
    changed = True
    while changed:
        changed = False
        for qual, callees in calls.items():
            acc = result.setdefault(qual, set())
            before = len(acc)
            for callee in callees:
                acc |= result.get(callee, set())
            changed |= len(acc) != before
    facts.summaries = {q: frozenset(k) for q, k in result.items()}


@dataclass(frozen=True, slots=True)
class Linked:
    """The part of the facts no run setting changes: calls linked, roles solved, events by function.

    Folders that ship the same script differ only in their logs and launch settings, so this is computed once per
    script text (`auditor.api`) and shared by their Facts, which read it and never change it.
    """

    ir: ModuleIR
    callees: dict[int, list[str]]
    intrinsic: Roles
    roles: Roles
    ops_by_func: dict[str, list[Op]]
    flows_into: dict[str, list[tuple[Val, int]]]


def link(ir: ModuleIR) -> Linked:
    """Link the walk's calls (adds the argument and return flows to `ir`) and solve the roles."""
    callees, intrinsic = link_calls(ir, Resolver(ir))
    roles = Roles(ir)
    with_backward = {op.func for op in ir.ops if op.kind == "backward"}
    ops_by_func: dict[str, list[Op]] = defaultdict(list)
    for op in ir.ops:
        if (
            op.kind == "accumulate"
            and V.LOSS_LIKE.search(str(op.extra))
            and (op.grad == "no_grad" or op.func not in with_backward)
        ):
            found = roles.value(op.val)  # `doc_loss[b] += chunk_loss.sum()` where the loss came from model(x, y)
            if V.VAL in found and V.TRAIN not in found:
                op.kind = "score"
        ops_by_func[op.func].append(op)
    flows_into: dict[str, list[tuple[Val, int]]] = defaultdict(list)
    for dst, val, line in ir.flows:
        flows_into[dst].append((val, line))
    return Linked(ir, callees, intrinsic, roles, dict(ops_by_func), dict(flows_into))


def build_facts(linked: Linked, env: dict[str, str] | None = None, run: RunEvidence | None = None) -> Facts:
    """The facts of a linked walk under one run's settings and logs."""
    facts = Facts(
        linked.ir,
        linked.roles,
        linked.callees,
        dict(env or {}),
        ops_by_func=linked.ops_by_func,
        flows_into=linked.flows_into,
        run=run or RunEvidence(),
        intrinsic=linked.intrinsic,
    )
    _reachability(facts)
    log_lines = [line for line in facts.run.log_lines if line.strip()]
    if log_lines and _witness(facts, log_lines):
        facts.disabled_by = {}
        _reachability(facts)
    _summaries(facts)
    return facts


_LITERAL = re.compile(r"""f?(?:"([^"\n]*)"|'([^'\n]*)')""")


def _template(facts: Facts, op: Op) -> tuple[str, ...] | None:
    """Literal chunks of the message a logging call prints (placeholders removed), or None."""
    if op.kind != "call" or op.sym.split(".")[-1] not in V.LOG_CALLS:
        return None
    match = _LITERAL.search(facts.line_text(op.line, op.end_line))
    if not match:
        return None
    chunks = tuple(c.strip() for c in re.split(r"\{[^{}]*\}", match.group(1) or match.group(2) or "") if c.strip())
    if not chunks or len(chunks[0]) < 4 or sum(len(c) for c in chunks) < 12:
        return None  # too short to be a witness: "x:" or "  lr:" also appear in every hyper-parameter dump
    if len(chunks) == 1 and re.fullmatch(r"[\w.]+\s*[:=]?", chunks[0]):
        return None
    return chunks


def _printed(template: tuple[str, ...], lines: list[str]) -> bool:
    pattern = re.compile(".*?".join(re.escape(c) for c in template))
    return any(pattern.search(line) for line in lines)


_PROCESS_KNOB = re.compile(r"rank|world|master|main_process|distributed|is_main|local", re.I)


def _switch(cond: tuple, facts: Facts) -> bool:
    """A guard on a feature switch read from the environment (not on which process or rank this is)."""
    names = knob_names(cond, facts.ir.knobs)
    return bool(names) and not any(_PROCESS_KNOB.search(n) for n in names)


def _witness_guards(facts: Facts, guards: tuple) -> None:
    """The feature switches among `guards` that the defaults leave closed were open in the submitted run."""
    for cond, polarity in guards:
        if truth(cond, facts.ir.knobs, facts.env) not in (None, polarity) and _switch(cond, facts):
            facts.witnessed.add((cond, polarity))


def _witness(facts: Facts, lines: list[str]) -> bool:
    """Guards off by default whose own log messages appear in the submitted run's logs were switched on."""
    templates = [(op, t) for op in facts.ir.ops if (t := _template(facts, op))]
    live = {t for op, t in templates if facts.status(op).live}
    funcs: set[str] = set()
    for op, template in templates:
        if template in live or facts.status(op).live or not _printed(template, lines):
            continue
        _witness_guards(facts, op.guards)
        if op.func not in facts.reachable:
            funcs.add(op.func)
    done: set[str] = set()
    while funcs:  # printed inside a switched-off function: the guards of its call sites were taken
        qual = funcs.pop()
        done.add(qual)
        for call in facts.ir.ops:
            if call.kind == "call" and qual in facts.callees.get(call.seq, ()):
                _witness_guards(facts, call.guards)
                if call.func not in facts.reachable and call.func not in done:
                    funcs.add(call.func)
    return bool(facts.witnessed)
