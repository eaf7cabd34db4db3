"""Role propagation: resolve calls to user functions, bind arguments to parameters, then a worklist fixpoint.

Roles are flow-insensitive per symbol (a name that ever holds val tokens is val-derived); ordering questions are
answered by operation sequence numbers, not here.
"""

from __future__ import annotations

from collections import defaultdict

from auditor.facts import vocab as V
from auditor.facts.ir import (
    AT_TARGET,
    ID,
    INDEX,
    PROV,
    READ,
    SHIFT_INPUT,
    SHIFT_TARGET,
    CallInfo,
    Function,
    ModuleIR,
    Op,
    Val,
)

_METHOD_SKIP = frozenset({"forward", "__call__", "__init__"}) | V.PROPAGATORS
MAX_METHOD_TARGETS = 3


class Resolver:
    """Maps call keys (f:name, m:name, s:Class.name) to user functions."""

    def __init__(self, ir: ModuleIR) -> None:
        self.by_name: dict[str, list[Function]] = defaultdict(list)
        self.methods: dict[str, list[Function]] = defaultdict(list)
        for func in ir.functions.values():
            (self.methods if func.cls else self.by_name)[func.name].append(func)
        self.functions = ir.functions
        self.classes = ir.classes

    def is_class(self, key: str) -> bool:
        return key.startswith("f:") and key[2:] in self.classes

    def resolve(self, key: str, caller: str = "") -> list[Function]:
        kind, _, name = key.partition(":")
        if kind == "f":
            if name in self.classes:
                init = self.functions.get(f"{name}.__init__")
                return [init] if init else []
            nested = self.functions.get(f"{caller}.{name}")
            if nested:
                return [nested]
            return self.by_name.get(name, [])[:1]
        if kind == "s":
            cls, _, meth = name.partition(".")
            own = self.functions.get(f"{cls}.{meth}")
            return [own] if own else self.methods.get(meth, [])[:MAX_METHOD_TARGETS]
        if name in _METHOD_SKIP:
            return []
        found = self.methods.get(name, [])
        return found if len(found) <= MAX_METHOD_TARGETS else []


def _bind(func: Function, info: CallInfo, method: bool, line: int) -> list[tuple[str, Val, int]]:
    params = list(func.params)
    if params and params[0] in ("self", "cls") and (method or func.name == "__init__" or func.cls):
        params = params[1:]
    flows = [(f"{func.qual}::{name}", value, line) for name, value in zip(params, info.args)]
    flows += [(f"{func.qual}::{name}", value, line) for name, value in info.kwargs.items() if name in func.params]
    return flows


def link_calls(ir: ModuleIR, resolver: Resolver) -> tuple[dict[int, list[str]], Roles]:
    """Add argument->parameter and return->call-site flows; returns op.seq -> callee qualnames, and the intrinsic
    roles (each function on its own, parameters unbound).

    Parameters merge every call site (context-insensitive), but a call's result is rebuilt per site from the
    callee's intrinsic return roles (what it returns whoever calls it) plus this site's own arguments when the
    callee returns a view of a parameter: a shard reader shared by the train and val loaders must not make val
    tokens look like training data.
    """
    resolved: list[tuple[Op, CallInfo, list[Function]]] = []
    callees: dict[int, list[str]] = {}
    for op in ir.ops:
        if op.kind != "call":
            continue
        info: CallInfo = op.extra
        targets = resolver.resolve(info.key, op.func)
        # functions passed as values are run by the callee: timed_eval("x", eval_val, ...), opt.step(closure)
        closures = [
            f
            for name in info.closures
            for f in resolver.resolve(f"f:{name}", op.func)[:1]
            if not resolver.is_class(f"f:{name}")
        ]
        if not targets or resolver.is_class(info.key):
            ir.flows.append((info.site, ir.opaque.get(info.site, Val()), op.line))  # opaque: provenance flows on
        if targets or closures:
            callees[op.seq] = [f.qual for f in targets] + [f.qual for f in closures]
        if targets:
            resolved.append((op, info, targets))
    functions = [(op, info, targets) for op, info, targets in resolved if not resolver.is_class(info.key)]
    intrinsic_roles = Roles(
        ir,
        params_marked=True,
        extra=[
            flow
            for op, info, targets in functions
            for func in targets
            for flow in (
                (info.site, Val(frozenset({(f"r:{func.qual}", NOPARAM)})), op.line),
                (info.site, _arguments(info), op.line),
            )
        ],
    )
    intrinsic = intrinsic_roles.of
    for op, info, targets in resolved:
        for func in targets:
            ir.flows.extend(_bind(func, info, info.key[0] in "ms", op.line))
    for op, info, targets in functions:  # a constructor's value is the instance: opaque, handled above
        for func in targets:
            returned = intrinsic.get(f"r:{func.qual}", frozenset())
            allowed = returned | (_SHAPE_ROLES if PARAM in returned else frozenset())  # window[1:] of an argument
            ir.flows.append(
                (info.site, Val(frozenset({(f"r:{func.qual}", "ret:" + ",".join(sorted(allowed)))})), op.line)
            )
            if PARAM in returned:
                ir.flows.append((info.site, _arguments(info), op.line))
            if PARAM_READ in returned:  # read_shard(path): the caller's path decides what the contents are
                arguments = _arguments(info)
                ir.flows.append(
                    (
                        info.site,
                        Val(
                            frozenset((sym, READ) for sym, _ in arguments.deps),
                            arguments.tags | ({V.VALTOK} if V.VAL in arguments.tags else set()),
                        ),
                        op.line,
                    )
                )
    return callees, intrinsic_roles


def _arguments(info: CallInfo) -> Val:
    return Val().union(*info.args, *info.kwargs.values())


def _pos_groups(ir: ModuleIR) -> dict[tuple[str, str, str], set[int]]:
    groups: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for access in ir.pos_access:
        groups[(access.func, access.base, access.var)].add(access.offset)
    return groups


PARAM = "PARAM"  # marker: the value is (a slice or view of) a parameter of its function
_SHAPE_ROLES = frozenset({V.TARGET, V.INPUT, V.HASH, V.AT_TARGET})  # what a callee makes of its argument
PARAM_READ = "PARAM_READ"  # marker: the value is the contents of a file named by a parameter
NOPARAM = "noparam"  # a callee's return seen from its caller: its own PARAM marker means nothing there


class Roles:
    """Resolved roles per symbol, and the roles of any value."""

    def __init__(
        self, ir: ModuleIR, params_marked: bool = False, extra: list[tuple[str, Val, int]] | None = None
    ) -> None:
        self.groups = _pos_groups(ir)
        self.of: dict[str, frozenset[str]] = defaultdict(frozenset)
        self._transformed: dict[tuple[frozenset[str], str], frozenset[str]] = {}
        flows = list(ir.flows) + list(extra or ())
        if params_marked:
            marker = Val(tags=frozenset({PARAM}))
            flows += [(f"{f.qual}::{p}", marker, 0) for f in ir.functions.values() for p in f.params]
        self._solve(flows)

    def transform(self, roles: frozenset[str], how: str) -> frozenset[str]:
        if how == ID or not roles:
            return roles
        if how == PROV:
            return roles & V.CARRIED  # statistics of val tokens are val-derived, not val tokens
        if how == "tgtonly":
            return roles & {V.TARGET, V.TGT_DER}
        if how == INDEX:
            out = roles & (V.PROVENANCE | {PARAM})
            if roles & {V.TARGET, V.TGT_DER}:
                out |= {V.TGT_DER}
            return out
        if how == READ:
            read = (roles & V.PROVENANCE) | ({V.VALTOK} if V.VAL in roles else frozenset())
            return read | ({PARAM_READ} if PARAM in roles else frozenset())
        if how == AT_TARGET:
            return frozenset({V.AT_TARGET}) if V.TARGET in roles else frozenset()
        if how == NOPARAM:
            return roles - {PARAM, PARAM_READ}
        if how.startswith("ret:"):
            return roles & frozenset(how[4:].split(",")) - {PARAM, PARAM_READ}
        if how.startswith("pos:"):
            func, base, var, offset, *default = how[4:].split("|")
            offsets = self.groups.get((func, base, var), set())
            if len(offsets) < 2:
                return self.transform(roles, default[0]) if default else roles
            how = SHIFT_TARGET if int(offset) == max(offsets) else SHIFT_INPUT
        stream = roles & V.PROVENANCE and not roles & {V.INPUT, V.TARGET}
        if not stream:
            return roles
        return (roles - {V.HASH}) | {V.TARGET if how == SHIFT_TARGET else V.INPUT}

    def value(self, val: Val) -> frozenset[str]:
        roles = val.tags
        of, seen = self.of, self._transformed
        for dep in val.deps:
            held = of.get(dep[0])
            if not held:
                continue
            key = (held, dep[1])
            out = seen.get(key)
            if out is None:  # a handful of distinct (roles, transform) pairs recur millions of times
                out = seen[key] = self.transform(held, dep[1])
            if out and not out <= roles:
                roles = roles | out
        return frozenset(roles)

    def _solve(self, flows: list[tuple[str, Val, int]]) -> None:
        readers: dict[str, list[int]] = defaultdict(list)
        for index, (_, val, _line) in enumerate(flows):
            for sym, _how in val.deps:
                readers[sym].append(index)
        pending = list(range(len(flows)))
        queued = set(pending)
        while pending:
            index = pending.pop()
            queued.discard(index)
            dst, val, _line = flows[index]
            new = self.value(val)
            old = self.of.get(dst, frozenset())
            if new <= old:
                continue
            self.of[dst] = old | new
            for reader in readers.get(dst, ()):
                if reader not in queued:
                    queued.add(reader)
                    pending.append(reader)
