"""Fixtures of tests/deploy: the root template and its nested ones."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.templates import ROOT, load


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return load(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def fleet() -> dict[str, Any]:
    return load(ROOT / "templates" / "fleet.yaml")


@pytest.fixture(scope="module")
def observability() -> dict[str, Any]:
    return load(ROOT / "templates" / "observability.yaml")
