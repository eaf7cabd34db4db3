"""What the submission does, in reviewers' vocabulary (GQA, BigramHash, SmearGate, TTT kind, GPTQ, compressor).

Read from names and knob defaults of the analysed code; shown in the review's "What this does" line only.
"""

from __future__ import annotations

import re

from auditor.facts.bundle import Facts
from auditor.facts.cond import evaluate

_NAMED = (
    ("BigramHash", re.compile(r"bigram_?hash|BigramHash", re.I)),
    ("SmearGate", re.compile(r"smear", re.I)),
    ("XSA", re.compile(r"\bxsa|XSA", re.I)),
    ("Muon", re.compile(r"\bMuon\b")),
    ("EMA/SWA", re.compile(r"\bema_|\bswa_|\bEMA\b|\bSWA\b")),
    ("GPTQ", re.compile(r"gptq|hessian", re.I)),
    ("LoRA", re.compile(r"lora", re.I)),
    ("n-gram", re.compile(r"ngram|n_gram", re.I)),
    ("SLOT", re.compile(r"\bslot", re.I)),
    ("sliding-window eval", re.compile(r"sliding", re.I)),
    ("LZMA", re.compile(r"\blzma\b", re.I)),
    ("brotli", re.compile(r"\bbrotli\b", re.I)),
    ("zstd", re.compile(r"\bzstd|zstandard", re.I)),
)


def detect(facts: Facts, code: str, rule_notes: dict[str, str]) -> tuple[str, ...]:
    """A short list such as ("GQA (4 KV heads)", "BigramHash", "score-first TTT", "GPTQ", "LZMA")."""
    names = " ".join(list(facts.ir.functions) + list(facts.ir.knobs) + list(facts.ir.classes))
    imports = " ".join(facts.ir.imports.values())
    found: list[str] = []
    heads = _knob(facts, "num_heads")
    kv = _knob(facts, "num_kv_heads")
    if isinstance(heads, int) and isinstance(kv, int) and kv:
        found.append(f"GQA ({kv} KV heads)" if kv < heads else "full attention")
    for label, pattern in _NAMED:
        source = imports if label in ("LZMA", "brotli", "zstd") else names
        if pattern.search(source) or (label == "LZMA" and "lzma" in code[:2000]):
            found.append(label)
    if "prequant-ttt" in rule_notes:
        found.append(rule_notes["prequant-ttt"])
    elif re.search(r"ttt", names, re.I):
        found.append("TTT")
    return tuple(found)


def _knob(facts: Facts, name: str) -> object:
    knob = facts.ir.knobs.get(name)
    if knob is None:
        return None
    value = evaluate(knob.expr, facts.ir.knobs, facts.env)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
