"""The console report: header, one panel per finding with line numbers, checks table, verdict; color on and off."""
from __future__ import annotations

import re

import pytest

from auditor.model import AuditResult, Confidence, Evidence, Finding, Severity, Verdict
from auditor.render import RENDERERS
from auditor.render.console import render

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_registered():
    assert RENDERERS["console"] is render


def test_plain_output(full_report, build):
    out = render(full_report)
    assert "\x1b[" not in out
    assert "target-in-hash" in out and "L131-L132" in out
    assert build.sha("illegal")[:12] in out
    for line in ("120", "131", "133"):  # the non-consecutive chain is shown hop by hop with line numbers
        assert re.search(rf"^\W*{line}\s+\S", out, flags=re.MULTILINE)
    assert "NGRAM_ENABLED" in out
    assert "decoded from lzma(raw)+b85 exec shim" in out and "(decoded)" in out
    assert "Check 1" in out and "FOUND" in out and "NOT PRESENT" in out
    assert "Verdict: ILLEGAL" in out and "1 illegal · 0 needs review · 1 info" in out
    assert "Verdict: LOOKS CLEAN" in out and "Verdict: UNANALYZABLE" in out
    assert "Recommendation: CLOSE" in out and "Recommendation: MERGE" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_color_output(full_report):
    out = render(full_report, color=True)
    assert "\x1b[" in out
    plain = ANSI.sub("", out)
    assert "target-in-hash" in plain and "L131-L132" in plain and "Verdict: ILLEGAL" in plain


@pytest.mark.parametrize("width", [60, 140])
def test_width(full_report, width):
    out = render(full_report, width=width)
    assert max(len(line) for line in out.splitlines()) <= width


def test_consecutive_evidence_is_one_excerpt(build):
    hops = (Evidence(50, "ctx = prev * 7", "CONTEXT"), Evidence(51, "key = ctx ^ tgt", "HASH_KEY"),
            Evidence(52, "p = table[key]", "TABLE"))
    finding = Finding("target-in-hash", Severity.ILLEGAL, Confidence.HIGH, 51, "`key` at L51 holds `tgt`.",
                      evidence=hops)
    out = render(build.report(AuditResult(path="a/train_gpt.py", verdict=Verdict.ILLEGAL, findings=(finding,))))
    numbered = re.findall(r"^\W*(5[012]) (.+?)\s*│?$", out, flags=re.MULTILINE)
    assert [n for n, _ in numbered[:3]] == ["50", "51", "52"]
    assert "key = ctx ^ tgt" in out and "L51 HASH_KEY" in out
    colored = render(build.report(AuditResult(path="a/train_gpt.py", verdict=Verdict.ILLEGAL,
                                              findings=(finding,))), color=True)
    assert "key" in ANSI.sub("", colored)


def test_markup_in_report_is_not_interpreted(build):
    finding = Finding("future-rule", Severity.INFO, Confidence.LOW, 3, "Reads [bold]x[/bold] and x[i].")
    out = render(build.report(AuditResult(path="a/[red]b[/red].py", verdict=Verdict.CLEAN, findings=(finding,))))
    assert "[bold]x[/bold]" in out and "a/[red]b[/red].py" in out and "future-rule" in out


def test_deterministic(full_report):
    assert render(full_report, color=True) == render(full_report, color=True)


def test_sibling_finding_names_its_file(sibling_report):
    out = render(sibling_report)
    assert "ngram_cache.py:L42-L43" in out  # the panel title
    assert re.search(r"^\s*ngram_cache\.py:L42\s+target-in-hash", out, flags=re.MULTILINE)  # the summary
    assert re.search(r"^\s*L7\s+target-in-hash", out, flags=re.MULTILINE)
    assert out.count("(decoded)") == 1  # only the script's own finding is in decoded code
    assert re.search(r"L7 \(decoded\)", out) and not re.search(r"L43 \(decoded\)", out)
    assert max(len(line) for line in out.splitlines()) <= 100
    assert ANSI.sub("", render(sibling_report, color=True)).count("ngram_cache.py:L42-L43") == 1
