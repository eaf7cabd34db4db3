"""Session fixture: the small challenge-like repository of scanrepo.py, built once."""

from __future__ import annotations

import pytest
from scanrepo import FixtureRepo, build


@pytest.fixture(scope="session")
def fixture_repo(tmp_path_factory) -> FixtureRepo:
    return build(tmp_path_factory.mktemp("challenge"))
