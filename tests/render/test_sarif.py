"""SARIF 2.1.0 output: structure, levels, rule indexes, regions, code flows, fingerprints.

The official SARIF 2.1.0 JSON schema is not vendored (no network where this was written); STRUCTURE below is a
hand-written subset of it covering exactly the objects we emit, with the spec's required keys, types and enums
(SARIF 2.1.0 §3.13 sarifLog, §3.14 run, §3.19 toolComponent, §3.49 reportingDescriptor, §3.27 result,
§3.28 location, §3.29 physicalLocation, §3.30 region, §3.36 codeFlow, §3.37 threadFlow, §3.38 threadFlowLocation).
Unknown keys are rejected, as the official schema does for these objects.
"""
from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest

from auditor.catalog import load_catalog
from auditor.model import AuditResult, Confidence, Finding, Severity, Verdict
from auditor.render import RENDERERS
from auditor.render.sarif import render, sarif_log

_MESSAGE = {"type": "object", "additionalProperties": False, "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
            "properties": {"text": {"type": "string"}, "markdown": {"type": "string"}, "id": {"type": "string"}}}
_MULTIFORMAT = {"type": "object", "additionalProperties": False, "required": ["text"],
                "properties": {"text": {"type": "string"}, "markdown": {"type": "string"}}}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_PROPERTIES = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True,
                                                          "items": {"type": "string"}}}}
_LOCATION = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": -1},
        "message": _MESSAGE,
        "physicalLocation": {
            "type": "object", "additionalProperties": False, "required": ["artifactLocation"],
            "properties": {
                "artifactLocation": {"type": "object", "additionalProperties": False, "required": ["uri"],
                                     "properties": {"uri": {"type": "string", "format": "uri-reference"},
                                                    "uriBaseId": {"type": "string"}}},
                "region": {"type": "object", "additionalProperties": False, "required": ["startLine"],
                           "properties": {"startLine": {"type": "integer", "minimum": 1},
                                          "endLine": {"type": "integer", "minimum": 1},
                                          "startColumn": {"type": "integer", "minimum": 1},
                                          "endColumn": {"type": "integer", "minimum": 1}}},
            },
        },
    },
}
STRUCTURE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False, "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "additionalProperties": False, "required": ["driver"], "properties": {
                    "driver": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"},
                        "semanticVersion": {"type": "string"}, "informationUri": {"type": "string", "format": "uri"},
                        "rules": {"type": "array", "uniqueItems": True, "items": {
                            "type": "object", "additionalProperties": False, "required": ["id"], "properties": {
                                "id": {"type": "string"}, "name": {"type": "string"},
                                "shortDescription": _MULTIFORMAT, "fullDescription": _MULTIFORMAT,
                                "help": _MULTIFORMAT, "helpUri": {"type": "string", "format": "uri"},
                                "defaultConfiguration": {"type": "object", "additionalProperties": False,
                                                         "properties": {"level": _LEVEL}},
                                "properties": _PROPERTIES}}}}}}},
                "invocations": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["executionSuccessful"],
                    "properties": {"executionSuccessful": {"type": "boolean"}, "commandLine": {"type": "string"}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["message"], "properties": {
                        "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": _LEVEL, "message": _MESSAGE,
                        "locations": {"type": "array", "items": _LOCATION},
                        "codeFlows": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False, "required": ["threadFlows"],
                            "properties": {"message": _MESSAGE, "threadFlows": {
                                "type": "array", "minItems": 1, "items": {
                                    "type": "object", "additionalProperties": False, "required": ["locations"],
                                    "properties": {"locations": {"type": "array", "minItems": 1, "items": {
                                        "type": "object", "additionalProperties": False,
                                        "properties": {"location": _LOCATION}}}}}}}}},
                        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
                        "properties": {"type": "object"}}}},
            },
        }},
    },
}


@pytest.fixture
def log(full_report) -> dict:
    return json.loads(render(full_report))


def test_registered():
    assert RENDERERS["sarif"] is render


def test_structure(log):
    jsonschema.Draft202012Validator.check_schema(STRUCTURE)
    jsonschema.Draft202012Validator(STRUCTURE, format_checker=jsonschema.FormatChecker()).validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1


def test_driver_rules_from_catalogue(log):
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "pgolf-audit" and driver["version"] == driver["semanticVersion"] == "0.1.0"
    assert driver["informationUri"] == "https://github.com/openai/parameter-golf"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids[:len(load_catalog())] == list(load_catalog())
    assert "unanalyzable" in ids and len(ids) == len(set(ids))
    rule = driver["rules"][ids.index("target-in-hash")]
    spec = load_catalog()["target-in-hash"]
    assert rule["helpUri"] == spec.ruling_url
    assert rule["defaultConfiguration"]["level"] == "error"
    assert rule["shortDescription"]["text"] == " ".join(spec.summary.split())
    assert "Legal pattern" in rule["help"]["text"] and "```python" in rule["help"]["markdown"]
    assert "parameter-golf" in rule["properties"]["tags"] and set(spec.tags) <= set(rule["properties"]["tags"])


def test_results_levels_indexes_regions(log):
    run = log["runs"][0]
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert [r["level"] for r in results] == ["note", "error", "warning", "warning"]
    for result in results:
        assert ids[result["ruleIndex"]] == result["ruleId"]
    illegal = results[1]
    location = illegal["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "records/track_10min_16mb/2026-03-20_NgramCache/train_gpt.py",
                                            "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 131, "endLine": 132}
    assert illegal["properties"]["confidence"] == "high"


def test_code_flow_follows_evidence(log, build):
    flow = log["runs"][0]["results"][1]["codeFlows"][0]["threadFlows"][0]["locations"]
    hops = build.finding().evidence
    assert len(flow) == 3
    for step, hop in zip(flow, hops):
        assert step["location"]["physicalLocation"]["region"]["startLine"] == hop.line
        assert step["location"]["message"]["text"] == f"{hop.note}: {hop.text}"


def test_wrapped_source_points_at_shipped_line_one(log):
    wrapped = log["runs"][0]["results"][2]
    assert wrapped["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert "decoded L42" in wrapped["message"]["text"] and "lzma(raw)+b85" in wrapped["message"]["text"]
    flow = wrapped["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [step["location"]["physicalLocation"]["region"]["startLine"] for step in flow] == [1, 1]
    assert flow[0]["location"]["message"]["text"].startswith("decoded L40")


def test_unanalyzable_result(log):
    result = log["runs"][0]["results"][3]
    assert result["ruleId"] == "unanalyzable"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert "empty" in result["message"]["text"]


def test_fingerprint_ignores_line_numbers(build):
    def fingerprint(line: int, message: str) -> str:
        finding = Finding("target-in-hash", Severity.ILLEGAL, Confidence.HIGH, line, message)
        result = AuditResult(path="a/train_gpt.py", verdict=Verdict.ILLEGAL, findings=(finding,))
        return sarif_log(build.report(result))["runs"][0]["results"][0]["partialFingerprints"]["pgolfAudit/v1"]

    moved = fingerprint(10, "`k` at L10 hashes the target (line 10).")
    assert moved == fingerprint(99, "`k` at L99 hashes the target (line 99).")
    assert moved != fingerprint(10, "`q` at L10 hashes the target (line 10).")
    assert len(moved) == 64 and int(moved, 16) >= 0
    assert moved != hashlib.sha256(b"").hexdigest()


def test_unknown_rule_gets_a_descriptor(build):
    finding = Finding("future-rule", Severity.NEEDS_REVIEW, Confidence.LOW, 3, "Not in rules/ yet.")
    result = AuditResult(path="a/train_gpt.py", verdict=Verdict.NEEDS_REVIEW, findings=(finding,))
    log = sarif_log(build.report(result))
    jsonschema.validate(log, STRUCTURE)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    sarif_result = log["runs"][0]["results"][0]
    assert rules[sarif_result["ruleIndex"]]["id"] == "future-rule"
    assert rules[sarif_result["ruleIndex"]]["defaultConfiguration"]["level"] == "warning"


def test_deterministic(full_report):
    assert render(full_report) == render(full_report)


def test_sibling_finding_points_at_the_sibling(sibling_report):
    log = sarif_log(sibling_report)
    jsonschema.Draft202012Validator(STRUCTURE, format_checker=jsonschema.FormatChecker()).validate(log)
    folder = "records/track_10min_16mb/2026-04-09_SplitCache"
    script, sibling = log["runs"][0]["results"]
    # the script's own finding keeps the wrapper rule
    assert script["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f"{folder}/train_gpt.py"
    assert script["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert "decoded L7" in script["message"]["text"]
    # the sibling's finding: its own file, its own lines, no wrapper note
    location = sibling["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": f"{folder}/ngram_cache.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 42, "endLine": 43}
    assert sibling["message"]["text"] == "`key` at L42 hashes `tgt`, the target being scored."
    flow = sibling["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [step["location"]["physicalLocation"]["artifactLocation"]["uri"] for step in flow] == \
        [f"{folder}/ngram_cache.py"] * 2
    assert [step["location"]["physicalLocation"]["region"]["startLine"] for step in flow] == [30, 42]
    assert flow[0]["location"]["message"]["text"] == "TARGET: the next token: tgt = tokens[i + 1]"


def test_sibling_fingerprint_and_absolute_path(build):
    from dataclasses import replace

    from auditor.model import SourceInfo

    def first(finding: Finding, script: str = "rec/x/train_gpt.py") -> dict:
        result = AuditResult(path="rec/x", verdict=Verdict.ILLEGAL, findings=(finding,),
                             source=SourceInfo(script, build.sha("x"), 1))
        return sarif_log(build.report(result))["runs"][0]["results"][0]

    finding = build.sibling_finding()
    in_script = replace(finding, path=None)
    assert first(finding)["partialFingerprints"] != first(in_script)["partialFingerprints"]
    assert first(finding, "/abs/rec x/train_gpt.py")["locations"][0]["physicalLocation"]["artifactLocation"] == \
        {"uri": "file:///abs/rec%20x/ngram_cache.py"}
