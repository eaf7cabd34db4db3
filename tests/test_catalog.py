"""The rule catalogue (rules/*.toml): every data file loads and is well formed."""
from __future__ import annotations

import ast
import re
import textwrap
import tomllib
from dataclasses import fields
from importlib import resources

import pytest

from auditor.catalog import REQUIRED, RuleSpec, load_catalog
from auditor.model import Severity

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL_PREFIX = "https://github.com/openai/parameter-golf"
CONDITIONS = {"", "C1", "C2", "C3", "C4"}
EXPECTED_IDS = {
    "target-in-hash", "hashed-ngram-cache", "ngram-tilt", "prequant-ttt", "rescore", "oracle-select",
    "scored-region-slot", "val-calibration", "val-in-artifact", "train-data-at-eval", "causality", "unanalyzable",
}
RECORD_IDS = {
    "artifact-size", "train-time", "eval-time", "calibration-within-budget", "seeds-significance",
    "train-val-overlap", "submission-format", "claims-match",
}


def _files() -> dict[str, dict]:
    folder = resources.files("auditor.rules")
    return {entry.name: tomllib.loads(entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir() if entry.name.endswith(".toml")}


FILES = _files()
CATALOG = load_catalog()
SPECS = list(CATALOG.values())


def test_catalog_loads_every_file():
    assert FILES, "no rule files found"
    assert len(CATALOG) == len(FILES)
    assert {f"{rule_id}.toml" for rule_id in CATALOG} == set(FILES)


def test_expected_rules_present():
    assert EXPECTED_IDS <= set(CATALOG)
    assert {rule for rule, spec in CATALOG.items() if spec.kind == "record"} == RECORD_IDS


def test_every_rule_has_exactly_one_checker():
    from auditor.checks import CHECKERS
    from auditor.record.checks import RECORD_CHECKERS

    record_checkers = set(RECORD_CHECKERS) | {"claims-match"}  # claims-match runs last, with the others' results
    assert set(CHECKERS) == {rule for rule, spec in CATALOG.items() if spec.kind == "code"}
    assert record_checkers == RECORD_IDS and not set(CHECKERS) & record_checkers


@pytest.mark.parametrize("rule", sorted(RECORD_IDS - {"submission-format"}))
def test_record_limits_live_in_the_data_files(rule):
    assert CATALOG[rule].options, f"{rule}: its limits belong in [options] of rules/{rule}.toml"


def test_ids_unique_kebab_and_match_file_names():
    ids = [data["id"] for data in FILES.values()]
    assert len(ids) == len(set(ids))
    for name, data in FILES.items():
        assert KEBAB.match(data["id"]), data["id"]
        assert name == f"{data['id']}.toml"


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_unknown_keys(name):
    known = {f.name for f in fields(RuleSpec)}
    assert set(FILES[name]) <= known, f"{name}: unknown keys {set(FILES[name]) - known}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_required_fields_non_empty(spec):
    for key in REQUIRED:
        value = getattr(spec, key)
        text = value.value if isinstance(value, Severity) else value
        assert isinstance(text, str) and text.strip(), f"{spec.id}: {key} is empty"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_ruling_url(spec):
    assert spec.ruling_url.startswith(URL_PREFIX), spec.ruling_url
    assert " " not in spec.ruling_url


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@pytest.mark.parametrize("key", ["illegal_pattern", "legal_pattern"])
def test_patterns_parse_as_python(spec, key):
    if spec.kind == "record":
        pytest.skip("record rules show log lines and folder layouts, not code")
    source = textwrap.dedent(getattr(spec, key))
    try:
        ast.parse(source)
    except SyntaxError as exc:
        pytest.fail(f"{spec.id}.{key} does not parse: {exc}")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_severity_condition_and_tags(spec):
    assert isinstance(spec.severity, Severity)
    assert FILES[f"{spec.id}.toml"]["severity"] in {s.value for s in Severity}
    assert spec.condition in CONDITIONS
    assert all(isinstance(tag, str) and tag for tag in spec.tags)
    assert isinstance(spec.order, int)


def test_order_values_unique_and_catalog_sorted():
    orders = [spec.order for spec in SPECS]
    assert len(orders) == len(set(orders))
    assert orders == sorted(orders)
