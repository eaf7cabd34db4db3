"""Renderers: one module per output format, each a pure `render(report) -> str` (console also takes color, width).

`RENDERERS` maps the `--format` / `--write FORMAT=PATH` names to them. Renderers read the report model and the rule
catalogue only: no libcst, no printing, no files.
"""

from __future__ import annotations

from collections.abc import Callable

from auditor.render import console, github, json, markdown, sarif

RENDERERS: dict[str, Callable[..., str]] = {
    "console": console.render,
    "markdown": markdown.render,
    "json": json.render,
    "sarif": sarif.render,
    "github": github.render,
}

__all__ = ["RENDERERS"]
