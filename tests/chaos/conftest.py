"""Chaos harness: moto's server in this process, real worker processes pointed at it, real
ffmpeg, real signals. Each case reports its figures; they are printed at the end of the run
(and belong in the README's reliability section)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import EmbeddedEmulator, embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.tools import tools_in_force
from tests.harness.stack import REGION, EventLog, make_fleet_stack, queue_empty
from tests.harness.stack import FleetStack as ChaosStack

__all__ = ["ChaosStack", "EventLog", "make_chaos_stack", "queue_empty"]

TRIALS = int(os.environ.get("FFAPI_CHAOS_TRIALS", "2"))  # per phase; raise it to soak

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report one figure of this case: printed now (with -s) and in the run's summary."""

    def report(text: str) -> None:
        line = f"{request.node.name}: {text}"
        FIGURES.append(line)
        print(line, flush=True)

    return report


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmbeddedEmulator]:
    tools_in_force()
    with embedded_emulator(REGION) as emu:
        yield emu


make_chaos_stack = make_fleet_stack


@pytest.fixture
def make_stack(emulator: EmbeddedEmulator) -> Callable[..., ChaosStack]:
    return make_chaos_stack


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s at 1280x720: an mp4-720p encode lasts a few seconds here, long enough to be
    caught in the act."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    return asyncio.run(make_sample_clip(path, seconds=8))


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "small.mp4"
    return asyncio.run(make_sample_clip(path, seconds=2, width=320, height=180, fps=15))
