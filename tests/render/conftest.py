"""Hand-built reports shared by the renderer tests: clean, illegal (3-hop chain + knob), wrapped, unanalyzable,
and sibling (a wrapped script plus a finding located in `ngram_cache.py` beside it)."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from auditor.model import (AuditResult, CheckOutcome, CheckStatus, Claims, Confidence, Evidence, Finding, Report,
                           Severity, SourceInfo, Verdict)

RULE = "target-in-hash"  # exists in rules/ from the first commit
COMMAND = "pgolf-audit records/track_10min_16mb --format markdown"


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def clean_result() -> AuditResult:
    return AuditResult(
        path="records/track_10min_16mb/2026-04-01_Clean",
        verdict=Verdict.CLEAN,
        checks=(CheckOutcome(RULE, "", CheckStatus.NOT_PRESENT),
                CheckOutcome("prequant-ttt", "Pre-quant TTT on val tokens", CheckStatus.CLEAR,
                             note="score-first per chunk", lines=(1488, 1530))),
        techniques=("GQA (4 KV heads)", "BigramHash", "score-first TTT"),
        source=SourceInfo("records/track_10min_16mb/2026-04-01_Clean/train_gpt.py", sha("clean"), 48_213),
        claims=Claims(title="Clean 11L GQA + score-first TTT", val_bpb=1.081, seeds=("42", "1337", "2024"),
                      bytes_total=15_991_930),
    )


def illegal_finding() -> Finding:
    return Finding(
        rule=RULE, severity=Severity.ILLEGAL, confidence=Confidence.HIGH, line=131, end_line=132,
        message="`full_key` at L131 hashes `tokens[i]`, the target being scored, and indexes `full_counts` at L133.",
        evidence=(
            Evidence(120, "tgt = val_tokens[i]", "TARGET: the token being scored"),
            Evidence(131, "full_key = (ctx ^ (tgt * 51497)) & MASK", "HASH_KEY: target folded into the key"),
            Evidence(133, "p_ngram = full_counts[full_key] / ctx_counts[ctx & MASK]", "TABLE read for the score"),
        ),
        knob="NGRAM_ENABLED",
    )


def illegal_result() -> AuditResult:
    return AuditResult(
        path="records/track_10min_16mb/2026-03-20_NgramCache",
        verdict=Verdict.ILLEGAL,
        findings=(
            Finding(RULE, Severity.INFO, Confidence.LOW, 40, "Info about `bigram_table` at L40."),
            illegal_finding(),
        ),
        checks=(CheckOutcome(RULE, "", CheckStatus.FOUND, lines=(131, 133)),
                CheckOutcome("prequant-ttt", "Pre-quant TTT on val tokens", CheckStatus.NOT_PRESENT)),
        techniques=("hashed 5-gram cache",),
        source=SourceInfo("records/track_10min_16mb/2026-03-20_NgramCache/train_gpt.py", sha("illegal"), 61_002),
        claims=Claims(title="5-gram cache @everyone <b>x</b>", val_bpb=0.9123, seeds=("1",), bytes_total=15_000_000),
    )


def wrapped_result() -> AuditResult:
    return AuditResult(
        path="records/track_10min_16mb/2026-04-05_Packed/train_gpt.py",
        verdict=Verdict.NEEDS_REVIEW,
        findings=(Finding(RULE, Severity.NEEDS_REVIEW, Confidence.MEDIUM, 42, "`key` at L42 may hold the target.",
                          evidence=(Evidence(40, "y = x[1:]", "TARGET"),
                                    Evidence(42, "key = y * 7 % B", "HASH_KEY"))),),
        checks=(CheckOutcome(RULE, "", CheckStatus.HOLD, lines=(42,)),),
        source=SourceInfo("records/track_10min_16mb/2026-04-05_Packed/train_gpt.py", sha("wrapped"), 2_048,
                          wrapper="lzma(raw)+b85 exec shim", inner_size=50_321),
    )


def unanalyzable_result() -> AuditResult:
    return AuditResult(
        path="records/track_10min_16mb/2026-04-07_Empty/train_gpt.py",
        verdict=Verdict.UNANALYZABLE,
        source=SourceInfo("records/track_10min_16mb/2026-04-07_Empty/train_gpt.py", sha("empty"), 0),
        error="train_gpt.py is empty and nothing beside it is executed.",
    )


SIBLING = "ngram_cache.py"
SIBLING_FOLDER = "records/track_10min_16mb/2026-04-09_SplitCache"


def sibling_finding() -> Finding:
    """Located in the sibling module: its lines and evidence are `ngram_cache.py`'s."""
    return Finding(
        rule=RULE, severity=Severity.ILLEGAL, confidence=Confidence.HIGH, line=42, end_line=43,
        message="`key` at L42 hashes `tgt`, the target being scored.",
        evidence=(Evidence(30, "tgt = tokens[i + 1]", "TARGET: the next token"),
                  Evidence(42, "key = (ctx * 31 + tgt) % B", "HASH_KEY: target folded into the key")),
        path=SIBLING,
    )


def sibling_result() -> AuditResult:
    """A wrapped script with one finding of its own (decoded L7) and one in the sibling module it imports."""
    return AuditResult(
        path=SIBLING_FOLDER,
        verdict=Verdict.ILLEGAL,
        findings=(sibling_finding(),
                  Finding(RULE, Severity.NEEDS_REVIEW, Confidence.MEDIUM, 7, "`k` at L7 may hold the target.")),
        checks=(CheckOutcome(RULE, "", CheckStatus.FOUND, lines=(7,)),),
        source=SourceInfo(f"{SIBLING_FOLDER}/train_gpt.py", sha("sibling"), 1_024, wrapper="lzma(raw)+b85 exec shim",
                          inner_size=9_000, siblings=(SIBLING,)),
    )


def make_report(*results: AuditResult) -> Report:
    return Report("pgolf-audit", "0.1.0", COMMAND, tuple(results))


@pytest.fixture
def full_report() -> Report:
    return make_report(clean_result(), illegal_result(), wrapped_result(), unanalyzable_result())


@pytest.fixture
def build() -> SimpleNamespace:
    """The builders above, for tests that assemble their own reports."""
    return SimpleNamespace(clean=clean_result, illegal=illegal_result, wrapped=wrapped_result,
                           unanalyzable=unanalyzable_result, finding=illegal_finding, report=make_report, sha=sha,
                           sibling=sibling_result, sibling_finding=sibling_finding)


@pytest.fixture
def sibling_report() -> Report:
    return make_report(sibling_result())
