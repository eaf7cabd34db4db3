"""One toy data set and one traced run per fixture, shared by the tracer tests (they need torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE_FIXTURES = ROOT / "fixtures" / "trace"
PROBED = ("illegal_peek_ahead.py", "legal_causal.py")  # the causality probe costs two more runs each


def expected(path: Path) -> frozenset[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect-trace: "), path
    ids = first.removeprefix("# expect-trace: ").strip()
    return frozenset() if ids == "none" else frozenset(i.strip() for i in ids.split(","))


def fixture_paths() -> list[Path]:
    return sorted(p for p in TRACE_FIXTURES.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("sentencepiece")
    from auditor.trace.runner import dataset

    return dataset(root=tmp_path_factory.mktemp("trace-data") / "data")


@pytest.fixture(scope="session")
def traced(toy_data):
    """name -> TraceOutcome, computed once per fixture on first use."""
    from auditor.trace.api import trace_script
    from auditor.trace.runner import RunConfig

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            path = TRACE_FIXTURES / name
            cache[name] = trace_script(path, toy_data, RunConfig(timeout=180), probes=name in PROBED, documents=False)
        return cache[name]

    return get
