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


def test_sibling_finding_points_at_the_sibling(sibling_report):
    warning, error = render(sibling_report).splitlines()
    folder = "records/track_10min_16mb/2026-04-09_SplitCache"
    # the script's own finding: wrapped, so line 1 of the shipped script and the decoded line in the message
    assert warning.startswith(f"::warning file={folder}/train_gpt.py,line=1,title=target-in-hash::")
    assert "decoded L7" in warning
    # the sibling's finding: its own file and lines, no wrapper note
    assert error.startswith(f"::error file={folder}/ngram_cache.py,line=42,endLine=43,title=target-in-hash::")
    assert "decoded" not in error and "lzma" not in error


def test_sibling_path_follows_the_script_path(build):
    def file_of(script: str | None, given: str = "a/train_gpt.py") -> str:
        finding = Finding("future-rule", Severity.INFO, Confidence.LOW, 3, "Here.", path="ngram_cache.py")
        source = SourceInfo(script, build.sha("x"), 1) if script is not None else None
        result = AuditResult(path=given, verdict=Verdict.CLEAN, findings=(finding,), source=source)
        return render(build.report(result)).split("file=", 1)[1].split(",", 1)[0]

    assert file_of("./rec\\x/train_gpt.py") == "rec/x/ngram_cache.py"
    assert file_of("train_gpt.py") == "ngram_cache.py"
    assert file_of("/abs/rec/train_gpt.py") == "/abs/rec/ngram_cache.py"
    assert file_of(None, "rec/x/train_gpt.py") == "rec/x/ngram_cache.py"
    assert file_of(None, "rec/x") == "rec/x/ngram_cache.py"  # no source: the path given is the folder
