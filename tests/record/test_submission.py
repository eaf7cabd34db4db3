"""submission.json: schema problems and the claims read from it."""

from __future__ import annotations

from auditor.record.submission import read_claims, schema_problems

MINIMAL = {"name": "x", "author": "a", "github_id": "a", "val_bpb": 1.2, "val_loss": 2.0, "bytes_total": 15_000_000,
           "bytes_code": 50_000, "date": "2026-03-20", "blurb": "b"}


def test_the_baseline_form_has_no_problems():
    assert schema_problems(MINIMAL) == []


def test_missing_and_mistyped_fields_are_named():
    data = dict(MINIMAL, val_bpb="1.2", github_id=123, bytes_total=1.5e7, compliance={"no_slot": "yes"})
    del data["author"], data["val_loss"]
    problems = schema_problems(data)
    assert "`author` is missing" in problems
    assert "`val_loss` is missing (recommended)" in problems
    assert "`val_bpb` is string, expected number" in problems
    assert "`github_id` is integer, expected string" in problems
    assert "`bytes_total` is number, expected integer" in problems
    assert "`compliance.no_slot` is str, expected bool" in problems


def test_non_objects_and_nulls():
    assert schema_problems([1, 2]) == ["submission.json holds a list, not an object"]
    assert "`val_bpb` is null" in schema_problems(dict(MINIMAL, val_bpb=None))
    assert "`val_bpb` is number, expected number" not in schema_problems(dict(MINIMAL, val_bpb=True))
    assert "`val_bpb` is boolean, expected number" in schema_problems(dict(MINIMAL, val_bpb=True))


def test_seed_results_in_every_shape():
    as_dict = read_claims(dict(MINIMAL, seed_results={"42": {"val_bpb": 1.1, "artifact_bytes": 15_900_000}}))
    as_list = read_claims(dict(MINIMAL, seed_results=[{"seed": 42, "val_bpb": 1.1}], seeds=[42, 1337]))
    as_values = read_claims(dict(MINIMAL, seeds={"7": 1.2}))
    assert [(s.seed, s.val_bpb, s.bytes_total) for s in as_dict.seeds] == [("42", 1.1, 15_900_000)]
    assert [(s.seed, s.val_bpb) for s in as_list.seeds] == [("42", 1.1), ("1337", None)]
    assert [(s.seed, s.val_bpb) for s in as_values.seeds] == [("7", 1.2)]


def test_compliance_flags_and_fallbacks():
    claims = read_claims(dict(MINIMAL, bytes_total=None, artifact_bytes_max=15_500_000,
                              compliance={"no_slot": True, "three_seeds": "yes"}))
    assert claims.bytes_total == 15_500_000 and claims.compliance == {"no_slot": True}
    assert read_claims("not an object").val_bpb is None
