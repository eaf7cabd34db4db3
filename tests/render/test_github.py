"""GitHub workflow commands: one line per finding, levels by severity, escaping of data and properties."""
from __future__ import annotations

from auditor.model import AuditResult, Confidence, Finding, Severity, SourceInfo, Verdict
from auditor.render import RENDERERS
from auditor.render.github import escape_data, escape_property, render


def test_registered():
    assert RENDERERS["github"] is render


def test_levels_and_locations(full_report):
    lines = render(full_report).splitlines()
    assert len(lines) == 4  # info + illegal, wrapped, unanalyzable; nothing for the clean result
    notice, error, warning, unanalyzable = lines
    assert notice.startswith("::notice file=records/track_10min_16mb/2026-03-20_NgramCache/train_gpt.py,line=40,")
    assert error.startswith("::error file=records/track_10min_16mb/2026-03-20_NgramCache/train_gpt.py,"
                            "line=131,endLine=132,title=target-in-hash::")
    assert "NGRAM_ENABLED" in error
    # wrapped code: line 1 of the shipped file, the decoded line named in the message
    assert warning.startswith("::warning file=records/track_10min_16mb/2026-04-05_Packed/train_gpt.py,line=1,"
                              "title=target-in-hash::")
    assert "decoded L42" in warning and "lzma(raw)+b85" in warning
    assert unanalyzable.startswith("::warning ") and "title=unanalyzable::" in unanalyzable
    assert "empty" in unanalyzable


def test_escaping(build):
    finding = Finding("target-in-hash", Severity.ILLEGAL, Confidence.HIGH, 7, "100% leak:\nkey, then\r table")
    result = AuditResult(path="odd,dir:x/train_gpt.py", verdict=Verdict.ILLEGAL, findings=(finding,),
                         source=SourceInfo("odd,dir:x/train_gpt.py", build.sha("odd"), 10))
    out = render(build.report(result))
    assert out.count("\n") == 1 and out.endswith("\n")
    line = out.rstrip("\n")
    assert line.startswith("::error file=odd%2Cdir%3Ax/train_gpt.py,line=7,endLine=7,title=target-in-hash::")
    message = line.split("::", 2)[2]
    assert message.startswith("100%25 leak:%0Akey, then%0D table")  # ':' and ',' stay in data


def test_escape_functions():
    assert escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"
    assert escape_data("%0A") == "%250A"  # '%' first: no double decoding


def test_clean_report_is_empty(build):
    assert render(build.report(build.clean())) == ""


def test_unknown_line_has_no_line_property(build):
    finding = Finding("future-rule", Severity.INFO, Confidence.LOW, None, "Somewhere.")
    result = AuditResult(path="a/train_gpt.py", verdict=Verdict.CLEAN, findings=(finding,))
    expected = "::notice file=a/train_gpt.py,title=future-rule::Somewhere. [low confidence]\n"
    assert render(build.report(result)) == expected
