"""The PR review comment: marker, key line, findings with evidence, numbered checks, recommendation, footer."""
from __future__ import annotations

import re

from auditor.catalog import load_catalog
from auditor.model import AuditResult, Confidence, Evidence, Finding, Severity, Verdict
from auditor.render import RENDERERS
from auditor.render.markdown import LIMIT, MARKER, render


def test_registered():
    assert RENDERERS["markdown"] is render


def test_marker_first_line_once(full_report):
    out = render(full_report)
    assert out.splitlines()[0] == MARKER == "<!-- pgolf-audit:v1 -->"
    assert out.count(MARKER) == 1


def test_clean_review(build):
    out = render(build.report(build.clean()))
    assert "### pgolf-audit review — Clean 11L GQA \\+ score-first TTT" not in out  # '+' needs no escape
    assert "### pgolf-audit review — Clean 11L GQA + score-first TTT" in out
    assert ("**BPB:** 1.0810 | **Seeds:** 3 (42, 1337, 2024) | **Artifact:** 15,991,930 bytes | "
            "**Compliance:** LOOKS CLEAN — no banned construct found") in out
    assert "**What this does:** Uses GQA (4 KV heads), BigramHash and score-first TTT." in out
    assert "sha256 `3b066804f6d1`" in out
    assert "**Check 2:** Pre-quant TTT on val tokens — **CLEAR** at L1488, L1530 — score-first per chunk" in out
    title = load_catalog()["target-in-hash"].check_title
    assert f"**Check 1:** {title} — **NOT PRESENT**" in out
    assert "**Verdict:** LOOKS CLEAN" in out
    assert ("**Recommendation to maintainers:** **MERGE** pending the usual record-track checks (3 seeds, "
            "16,000,000-byte cap, 600 s train + 600 s eval on 8xH100 SXM).") in out
    assert "*Auto-classification caveat:* static analysis by pgolf-audit" in out
    footer = out.rstrip().splitlines()[-1]
    assert footer == (f"<sub>pgolf-audit 0.1.0 · sha256 {build.sha('clean')} · "
                      "reproduce: `pgolf-audit records/track_10min_16mb --format markdown`</sub>")
    assert "\n\n---\n\n<sub>" in out  # a blank line first, or '---' turns the caveat into a heading


def test_illegal_review(build):
    out = render(build.report(build.illegal()))
    spec = load_catalog()["target-in-hash"]
    assert f"**Compliance:** ILLEGAL — {spec.title}" in out
    assert "2. **`target-in-hash`** — " in out and "illegal · high confidence · `L131-L132`" in out
    assert "Off by default; switched on by `NGRAM_ENABLED`." in out
    assert "   ```python\n   tgt = val_tokens[i]  # L120: TARGET: the token being scored\n" in out
    assert "full_key = (ctx ^ (tgt * 51497)) & MASK  # L131: HASH_KEY: target folded into the key" in out
    assert "# L133: TABLE read for the score" in out
    assert f"]({spec.ruling_url})" in out and "*Fix:* Build lookup keys" in out
    assert "**Check 1:** " in out and "— **FOUND** at L131, L133" in out
    assert re.search(r"\*\*Recommendation to maintainers:\*\* \*\*CLOSE\*\* citing \[.+\]\("
                     + re.escape(spec.ruling_url) + r"\)", out)


def test_submission_text_cannot_inject(build):
    out = render(build.report(build.illegal()))
    # the claimed title holds '@everyone <b>x</b>': no mention, no HTML
    assert "@everyone" not in out and "<b>" not in out
    assert "\\<b\\>x\\</b\\>" in out


def test_wrapped_and_unanalyzable(build):
    out = render(build.report(build.wrapped(), build.unanalyzable()))
    assert "decoded from lzma(raw)+b85 exec shim to 50,321 bytes; line numbers are in the decoded code" in out
    assert "`L42` (decoded)" in out
    assert "**Compliance:** FLAG — " in out and "**HOLD** citing the open question" in out
    assert "**Compliance:** UNANALYZABLE — train\\_gpt.py is empty" in out
    assert "**Recommendation to maintainers:** **HOLD** — could not be analysed; a human must read it." in out
    assert "No check ran" in out


def test_deterministic(full_report):
    assert render(full_report) == render(full_report)


def test_truncation_keeps_the_review_whole(build):
    hops = tuple(Evidence(n, f"x{n} = table[key_{n}]  " + "#" * 200, "hop") for n in range(1, 12))
    findings = tuple(Finding("target-in-hash", Severity.ILLEGAL, Confidence.HIGH, n, f"Finding number {n}.",
                             evidence=hops) for n in range(1, 400))
    result = AuditResult(path="big/train_gpt.py", verdict=Verdict.ILLEGAL, findings=findings)
    out = render(build.report(result))
    assert len(out) <= LIMIT
    assert "1. **`target-in-hash`**" in out
    match = re.search(r"\*… (\d+) more findings not shown", out)
    assert match and int(match.group(1)) > 0
    shown = len(re.findall(r"^\d+\. \*\*`target-in-hash`\*\*", out, flags=re.MULTILINE))
    assert shown + int(match.group(1)) == 399
    # the tail survives truncation
    assert "**Recommendation to maintainers:** **CLOSE**" in out and out.rstrip().endswith("</sub>")


def test_fence_survives_backticks_in_evidence(build):
    finding = Finding("target-in-hash", Severity.ILLEGAL, Confidence.HIGH, 5, "Odd code.",
                      evidence=(Evidence(5, 's = """```"""', "a fence inside"),))
    out = render(build.report(AuditResult(path="a/train_gpt.py", verdict=Verdict.ILLEGAL, findings=(finding,))))
    assert "````python" in out


def test_unknown_rule_uses_id_as_title(build):
    finding = Finding("future-rule", Severity.NEEDS_REVIEW, Confidence.LOW, 3, "Not in rules/ yet.")
    out = render(build.report(AuditResult(path="a/train_gpt.py", verdict=Verdict.NEEDS_REVIEW, findings=(finding,))))
    assert "**Compliance:** FLAG — future-rule" in out
    assert "**HOLD** citing the open question `future-rule` (no ruling recorded in the catalogue yet)." in out


def test_parses_as_intended(full_report):
    """CommonMark structure (markdown-it, which rich depends on): hidden marker, fences inside list items, rules."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(render(full_report))
    assert tokens[0].type == "html_block" and tokens[0].content.strip() == MARKER
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h3"]
    assert sum(h.startswith("pgolf-audit review — ") for h in headings) == 4 and headings.count("Checks") == 4
    assert not any(t.type == "heading_open" and t.tag in ("h1", "h2") for t in tokens)  # no setext accidents
    assert sum(t.type == "hr" for t in tokens) == 4
    fences = [t for t in tokens if t.type == "fence"]
    assert fences and all(t.info == "python" for t in fences)
    assert all(t.level > 0 for t in fences)  # nested in their numbered finding, not floating after it
    assert "tgt = val_tokens[i]  # L120: TARGET: the token being scored" in fences[0].content


def test_sibling_finding_names_its_file(sibling_report):
    out = render(sibling_report)
    assert "1. **`target-in-hash`** — " in out and "needs-review · medium confidence · `L7` (decoded)" in out
    assert "2. **`target-in-hash`** — " in out and "illegal · high confidence · `ngram_cache.py:L42-L43`\n" in out
    assert "plus sibling code `ngram_cache.py`" in out
    assert "tgt = tokens[i + 1]  # L30: TARGET: the next token" in out


def test_sibling_finding_without_line(build):
    finding = Finding("future-rule", Severity.INFO, Confidence.LOW, None, "Somewhere.", path="ngram_cache.py")
    out = render(build.report(AuditResult(path="a/train_gpt.py", verdict=Verdict.CLEAN, findings=(finding,))))
    assert "low confidence · `ngram_cache.py`, line unknown\n" in out
