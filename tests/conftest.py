"""What every test shares: logging configured by one test does not leak into the next, and
no property test fails for taking long.

A command run in-process (``cli.main([...])``) configures structlog as the command would,
for example at WARNING for a one-shot command; a later test's ``capture_logs`` would then
miss every INFO line. Each test starts from the configuration the one before it found.

Hypothesis fails an example that runs over 200 ms by default: on a busy machine (two cores,
ffmpeg in the next test) a plan that takes a millisecond can be late. A verdict never
depends on time here; timings are bench/'s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings

settings.register_profile("ffapi", deadline=None)
settings.load_profile("ffapi")


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
