"""Tiny condition language for env knobs and `if` guards, and its evaluator.

libcst expressions are converted once (during the walk) into nested tuples, so facts never hold libcst nodes:
("c", value) constant, ("n", name) knob reference, ("env", NAME, default) environment read,
("f", func, arg) int/float/bool/str conversion, ("not", x), ("and", a, b), ("or", a, b),
("cmp", op, a, b), ("bin", op, a, b), ("?",) unknown.
"""

from __future__ import annotations

import ast
import functools
from typing import Any

import libcst as cst

from auditor.syntax import dotted as _dotted

Cond = tuple
UNKNOWN: Cond = ("?",)
_MISSING = object()

_CMP = {
    "Equal": lambda a, b: a == b,
    "NotEqual": lambda a, b: a != b,
    "LessThan": lambda a, b: a < b,
    "LessThanEqual": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEqual": lambda a, b: a >= b,
    "In": lambda a, b: a in b,
    "NotIn": lambda a, b: a not in b,
    "Is": lambda a, b: a is b,
    "IsNot": lambda a, b: a is not b,
}
_BIN = {
    "Add": lambda a, b: a + b,
    "Subtract": lambda a, b: a - b,
    "Multiply": lambda a, b: a * b,
    "FloorDivide": lambda a, b: a // b,
    "Divide": lambda a, b: a / b,
}
_CONVERT = {"int": int, "float": float, "bool": bool, "str": str}


def _env_read(call: cst.Call) -> Cond | None:
    """os.environ.get("N", d) / os.getenv("N", d) / environ.get(...) -> ("env", N, d)."""
    name = _dotted(call.func)
    if not (name.endswith("environ.get") or name.endswith("getenv")) or not call.args:
        return None
    key = convert(call.args[0].value)
    if key[0] != "c" or not isinstance(key[1], str):
        return None
    default = convert(call.args[1].value) if len(call.args) > 1 else ("c", None)
    return ("env", key[1], default)


@functools.lru_cache(maxsize=4096)
def _literal(text: str) -> Cond:
    """A number or string literal's value (immutable, so shared); the same few literals recur in every script."""
    try:
        return ("c", ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return UNKNOWN


def convert(node: cst.BaseExpression) -> Cond:
    """libcst expression -> condition tuple (UNKNOWN for anything outside the small language)."""
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        return _literal(node.value)
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return ("c", {"True": True, "False": False, "None": None}[node.value])
        return ("n", node.value)
    if isinstance(node, cst.Attribute):
        return ("n", node.attr.value)
    if isinstance(node, cst.UnaryOperation):
        inner = convert(node.expression)
        if isinstance(node.operator, cst.Not):
            return ("not", inner)
        if isinstance(node.operator, cst.Minus) and inner[0] == "c" and isinstance(inner[1], (int, float)):
            return ("c", -inner[1])
        return UNKNOWN
    if isinstance(node, cst.BooleanOperation):
        op = "and" if isinstance(node.operator, cst.And) else "or"
        return (op, convert(node.left), convert(node.right))
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        target = node.comparisons[0]
        return ("cmp", type(target.operator).__name__, convert(node.left), convert(target.comparator))
    if isinstance(node, cst.BinaryOperation) and type(node.operator).__name__ in _BIN:
        return ("bin", type(node.operator).__name__, convert(node.left), convert(node.right))
    if isinstance(node, cst.Call):
        env = _env_read(node)
        if env:
            return env
        func = _dotted(node.func)
        if func in _CONVERT and len(node.args) == 1:
            return ("f", func, convert(node.args[0].value))
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("lower", "strip") and not node.args:
            return convert(node.func.value)
    return UNKNOWN


def reads_env(cond: Cond) -> bool:
    return bool(cond) and (cond[0] == "env" or any(isinstance(part, tuple) and reads_env(part) for part in cond))


def knob_names(cond: Cond, knobs: dict[str, "Knob"]) -> list[str]:
    """Environment variable names a condition depends on (through knob definitions)."""
    out: list[str] = []
    if not cond:
        return out
    if cond[0] == "env":
        out.append(cond[1])
    elif cond[0] == "n" and cond[1] in knobs:
        out.extend(knob_names(knobs[cond[1]].expr, {}))
        if not out:
            out.append(cond[1])
    else:
        for part in cond[1:]:
            if isinstance(part, tuple):
                out.extend(knob_names(part, knobs))
    return out


class Knob:
    """A module/class-level setting: its expression and, once evaluated, its effective value."""

    __slots__ = ("name", "expr", "line")

    def __init__(self, name: str, expr: Cond, line: int) -> None:
        self.name, self.expr, self.line = name, expr, line


def evaluate(cond: Cond, knobs: dict[str, Knob], env: dict[str, str], depth: int = 0) -> Any:
    """Value of a condition under the default environment overridden by `env`; _MISSING when unknown."""
    if depth > 20 or not cond:
        return _MISSING
    kind = cond[0]
    if kind == "c":
        return cond[1]
    if kind == "env":
        if cond[1] in env:
            return env[cond[1]]
        return evaluate(cond[2], knobs, env, depth + 1)
    if kind == "n":
        if f"knob:{cond[1]}" in env:  # the value the submitted run logged in its hyper-parameter dump
            logged = env[f"knob:{cond[1]}"]
            knob = knobs.get(cond[1])
            default = _MISSING if knob is None else evaluate(knob.expr, knobs, {}, depth + 1)
            return _coerce(logged, default)
        knob = knobs.get(cond[1])
        return _MISSING if knob is None else evaluate(knob.expr, knobs, env, depth + 1)
    if kind == "not":
        value = evaluate(cond[1], knobs, env, depth + 1)
        return _MISSING if value is _MISSING else not value
    if kind in ("and", "or"):
        left = evaluate(cond[1], knobs, env, depth + 1)
        right = evaluate(cond[2], knobs, env, depth + 1)
        if kind == "and":
            if left is not _MISSING and not left or right is not _MISSING and not right:
                return False
            return _MISSING if _MISSING in (left, right) else right
        if left is not _MISSING and left or right is not _MISSING and right:
            return left if left is not _MISSING and left else right
        return _MISSING if _MISSING in (left, right) else right
    args = [evaluate(part, knobs, env, depth + 1) for part in cond[2:]]
    if _MISSING in args:
        return _MISSING
    try:
        if kind == "f":
            value = args[0]
            if cond[1] == "bool" and isinstance(value, str):
                return value not in ("", "0", "false", "False")
            return _CONVERT[cond[1]](value)
        if kind == "cmp":
            return _CMP[cond[1]](*args)
        if kind == "bin":
            return _BIN[cond[1]](*args)
    except Exception:  # noqa: BLE001 - a knob we cannot evaluate is simply unknown
        return _MISSING
    return _MISSING


def _coerce(logged, default):
    if not isinstance(logged, str) or default is _MISSING or isinstance(default, str) or default is None:
        return logged
    try:
        if isinstance(default, bool):
            return logged not in ("", "0", "false", "False", "no")
        if isinstance(default, int):
            return int(logged)
        if isinstance(default, float):
            return float(logged)
    except ValueError:
        return logged
    return logged


def truth(cond: Cond, knobs: dict[str, Knob], env: dict[str, str]) -> bool | None:
    """True/False when the condition is decidable under the environment, None when it is not."""
    value = evaluate(cond, knobs, env)
    if value is _MISSING:
        return None
    if isinstance(value, str):
        return value not in ("", "0", "false", "False", "no")
    try:
        return bool(value)
    except Exception:  # noqa: BLE001
        return None
