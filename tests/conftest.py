"""What every test shares: logging configured by one test does not leak into the next.

A command run in-process (``cli.main([...])``) configures structlog as the command would,
for example at WARNING for a one-shot command; a later test's ``capture_logs`` would then
miss every INFO line. Each test starts from the configuration the one before it found.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
