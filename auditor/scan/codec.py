"""AuditResult <-> plain JSON data, so results cross process boundaries and live in the cache as data, not pickles.

Generic over the frozen report model: dataclasses become objects keyed by field name, enums their values, tuples
lists; decoding follows the model's type hints, so a field added to the model needs no change here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from functools import cache

from auditor.model import AuditResult


def encode(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(data: dict) -> AuditResult:
    return _decode(AuditResult, data)


@cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _decode(hint: object, data: object) -> object:
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(options[0], data) if len(options) == 1 else data
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, value) for value in data)
    if origin is dict:
        _, item = typing.get_args(hint)
        return {key: _decode(item, value) for key, value in data.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        return hint(**{key: _decode(hints[key], value) for key, value in data.items() if key in names})
    return data
