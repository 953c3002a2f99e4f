"""The sample message bodies in events/, read for the core.jobs.intake tests, and the watch
configuration they are normalized under; `rejected` expects a body refused for good."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidMessage
from core.jobs.intake import normalize
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation

EVENTS = Path(__file__).parents[2] / "events"
OUTPUTS = OutputLocation(bucket="ffapi-output", prefix="outputs")
CONFIG = IntakeConfig(
    rules=(WatchRule(bucket="ffapi-input", prefix="incoming/", preset="mp4-720p", output=OUTPUTS),),
    default_output=OUTPUTS,
)


def read_event(name: str) -> str:
    return (EVENTS / name).read_text(encoding="utf-8")


def load_event(name: str) -> Any:
    return json.loads(read_event(name))


def rejected(body: str | bytes, config: IntakeConfig = CONFIG) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        normalize(body, config)
    assert info.value.retryable is False
    return info.value
