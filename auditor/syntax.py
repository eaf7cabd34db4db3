"""Small libcst helpers shared by the load layer and the facts walk."""

from __future__ import annotations

import libcst as cst


def dotted(node: cst.BaseExpression) -> str:
    """`torch.nn.functional` for a Name/Attribute chain; "" for anything else."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""
