"""The command line contract: exit codes 0/1/2, one-line errors on bad input, formats, --write, subcommands.

Run through `main(argv)` with capsys (stdout is not a TTY there, so the default format is markdown), plus one real
`python -m auditor` process to prove a bad input never reaches the user as a traceback.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from auditor import __version__
from auditor.catalog import load_catalog
from auditor.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "fixtures" / "examples"
CLEAN = str(EXAMPLES / "clean_record")
ILLEGAL = str(EXAMPLES / "illegal_record")
ERROR_PREFIX = "pgolf-audit: error:"


@pytest.fixture(autouse=True)
def _outside_repo(tmp_path, monkeypatch):
    """Run from an empty folder: relative names such as `rules` must not collide with folders of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((resources.files("auditor") / "schema" / "report-v1.json").read_text(encoding="utf-8"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """stderr holds exactly one line, the tool's own error line, and no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR_PREFIX), err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------------------ exit 0 / 1


def test_clean_example_exits_0(capsys):
    code, out, err = run(capsys, CLEAN)
    assert code == 0
    assert err == ""
    assert "LOOKS CLEAN" in out


def test_illegal_example_exits_1(capsys):
    code, out, err = run(capsys, ILLEGAL)
    assert code == 1
    assert err == ""
    assert "ILLEGAL" in out


def test_exit_zero_on_illegal_example(capsys):
    code, out, _ = run(capsys, ILLEGAL, "--exit-zero")
    assert code == 0
    assert "ILLEGAL" in out


def test_verdicts_of_examples_in_json(capsys):
    code, out, _ = run(capsys, CLEAN, ILLEGAL, "--format", "json")
    assert code == 1
    verdicts = {Path(r["path"]).name: r["verdict"] for r in json.loads(out)["results"]}
    assert verdicts == {"clean_record": "clean", "illegal_record": "illegal"}


def test_ignoring_the_rules_that_fire_clears_the_illegal_example(capsys):
    _, out, _ = run(capsys, ILLEGAL, "--format", "json")
    fired = sorted({f["rule"] for f in json.loads(out)["results"][0]["findings"]})
    assert fired
    code, out, _ = run(capsys, ILLEGAL, "--format", "json", "--ignore", *fired)
    assert code == 0
    assert json.loads(out)["results"][0]["findings"] == []


def test_select_limits_the_checks(capsys):
    code, out, _ = run(capsys, CLEAN, "--format", "json", "--select", "target-in-hash")
    assert code == 0
    assert [c["rule"] for c in json.loads(out)["results"][0]["checks"]] == ["target-in-hash"]


# ------------------------------------------------------------------------------------------------ bad inputs


def big_script() -> bytes:
    """About 2 MB of valid Python: a few real statements, then comment lines (quick to parse)."""
    pad = b"# " + b"x" * 97 + b"\n"
    return b"import os\nSTEPS = int(os.environ.get('STEPS', '3'))\n" + pad * 20_001


BAD_INPUTS = {
    "empty": b"",
    "binary": b"import os\x00\x01\x02\xff\n",
    "latin1": b'# caf\xe9\nname = "\xe9t\xe9"\n',  # latin-1 bytes, no coding cookie
    "syntax": b"def f(:\n    pass\n",
    "oversized": big_script(),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_unanalyzable_with_one_error_line(capsys, tmp_path, kind):
    script = tmp_path / "train_gpt.py"
    script.write_bytes(BAD_INPUTS[kind])
    code, out, err = run(capsys, str(script), "--format", "json")
    assert code == 1
    one_error_line(err)
    (result,) = json.loads(out)["results"]
    assert result["verdict"] == "unanalyzable"
    assert result["error"]


def test_oversized_file_is_audited_under_a_raised_limit(capsys, tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_bytes(big_script())
    assert script.stat().st_size > 2_000_000
    code, out, err = run(capsys, str(script), "--format", "json", "--max-bytes", "3000000")
    assert err == ""
    assert code == 0
    assert json.loads(out)["results"][0]["verdict"] == "clean"


def test_python_m_auditor_on_binary_file_has_no_traceback(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_bytes(BAD_INPUTS["binary"])
    proc = subprocess.run([sys.executable, "-m", "auditor", str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    one_error_line(proc.stderr)


# ------------------------------------------------------------------------------------------------ exit 2


def test_missing_path_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert out == ""
    one_error_line(err)


def test_folder_without_script_exits_2(capsys, tmp_path):
    (tmp_path / "README.md").write_text("# nothing here\n")
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2
    one_error_line(err)


def test_unknown_flag_exits_2(capsys):
    code, _, err = run(capsys, CLEAN, "--no-such-flag")
    assert code == 2
    assert "--no-such-flag" in one_error_line(err)


def test_unknown_rule_in_select_exits_2(capsys):
    code, _, err = run(capsys, CLEAN, "--select", "no-such-rule")
    assert code == 2
    assert "no-such-rule" in one_error_line(err)


def test_malformed_submission_json_exits_2(capsys, tmp_path):
    folder = tmp_path / "record"
    shutil.copytree(CLEAN, folder)
    (folder / "submission.json").write_text('{"name": "broken", ', encoding="utf-8")
    code, _, err = run(capsys, str(folder))
    assert code == 2
    one_error_line(err)


@pytest.mark.parametrize("spec", ["json", "xml=out.xml", "json=", "=out.json"])
def test_bad_write_spec_exits_2(capsys, spec):
    code, out, err = run(capsys, CLEAN, "--write", spec)
    assert code == 2
    assert out == ""
    one_error_line(err)


def test_no_arguments_exits_2(capsys):
    code, _, err = run(capsys)
    assert code == 2
    one_error_line(err)


# ------------------------------------------------------------------------------------------------ formats


def test_json_is_one_document_that_validates(capsys, schema):
    code, out, _ = run(capsys, ILLEGAL, "--format", "json")
    assert code == 1
    document = json.loads(out)  # raises on trailing text or a second document
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["results"][0]["verdict"] == "illegal"


def test_unanalyzable_json_validates(capsys, tmp_path, schema):
    script = tmp_path / "train_gpt.py"
    script.write_bytes(b"")
    run_code, out, _ = run(capsys, str(script), "--format", "json")
    assert run_code == 1
    jsonschema.Draft202012Validator(schema).validate(json.loads(out))


def test_write_three_formats_in_one_run(capsys, tmp_path, schema):
    files = {fmt: tmp_path / f"report.{ext}" for fmt, ext in
             (("json", "json"), ("sarif", "sarif"), ("markdown", "md"))}
    code, out, _ = run(capsys, ILLEGAL, "--format", "github",
                       *[a for fmt, f in files.items() for a in ("--write", f"{fmt}={f}")])
    assert code == 1
    assert out  # stdout still carries the --format output
    jsonschema.Draft202012Validator(schema).validate(json.loads(files["json"].read_text()))
    sarif = json.loads(files["sarif"].read_text())
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"]
    assert "ILLEGAL" in files["markdown"].read_text()


@pytest.mark.parametrize("fmt", ["console", "markdown", "json", "sarif", "github"])
def test_every_format_renders(capsys, fmt):
    code, out, err = run(capsys, ILLEGAL, "--format", fmt, "--color", "never")
    assert code == 1
    assert out.strip()
    assert err == ""


# ------------------------------------------------------------------------------------------------ subcommands


def test_rules_lists_the_catalogue(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == list(load_catalog())


def test_rules_from_repo_root(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out, _ = run(capsys, "rules")
    assert code == 0
    assert "target-in-hash" in out


def test_explain_prints_the_ruling_url(capsys):
    code, out, _ = run(capsys, "explain", "target-in-hash")
    assert code == 0
    assert load_catalog()["target-in-hash"].ruling_url in out


def test_explain_unknown_rule_exits_2(capsys):
    code, out, err = run(capsys, "explain", "nope")
    assert code == 2
    assert out == ""
    one_error_line(err)


def test_facts_on_clean_example(capsys):
    code, out, _ = run(capsys, "facts", CLEAN)
    assert code == 0
    facts = json.loads(out)
    assert {"functions", "knobs", "events"} <= set(facts)


def test_facts_on_unanalyzable_file_exits_1(capsys, tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_bytes(BAD_INPUTS["syntax"])
    code, out, err = run(capsys, "facts", str(script))
    assert code == 1
    assert out == ""
    one_error_line(err)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pgolf-audit {__version__}"


def test_broken_pipe_is_quiet():
    reader = subprocess.run(f"{sys.executable} -m auditor explain target-in-hash | head -1", shell=True,
                            capture_output=True, text=True, check=False)
    assert reader.stdout.startswith("# target-in-hash")
    assert "Traceback" not in reader.stderr and "internal error" not in reader.stderr
