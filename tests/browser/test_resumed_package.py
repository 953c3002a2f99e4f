"""A web-hls package resumed after a lost worker plays end to end in the browser: hls.js
plays master.m3u8 and dash.js manifest.mpd in headless Chromium, past the segment where the
second attempt took over (the first attempt's segments, then the resumed tail's).

The package is the chaos test's when ``FFAPI_KEEP_RESUMED`` names the directory it kept
(tests/chaos/test_resume.py), else made here: a 12 s clip (3 segments) whose first attempt
is stopped dead after 2 rows, resumed on an embedded moto stack
(tests/integration/resume_rig.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.players import PlayerReport, dash_tracks, hls_tracks
from tests.integration.resume_rig import resumed_package

pytestmark = pytest.mark.browser

SECONDS, KILL_AT = 12, 2  # the resumed tail starts at 8 s


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if kept := os.environ.get("FFAPI_KEEP_RESUMED"):
        return Path(kept)
    return resumed_package(tmp_path_factory.mktemp("resumed"), SECONDS, KILL_AT)


def length(package: Path) -> float:
    """Seconds of the package, as its first media playlist's EXTINFs add up."""
    text = (package / "media_0.m3u8").read_text()
    return sum(float(line[8:].split(",")[0]) for line in text.splitlines()
               if line.startswith("#EXTINF:"))  # fmt: skip


def played_through(report: PlayerReport, seconds: float) -> None:
    assert report.mse_h264_aac, "this Chromium's MSE cannot play H.264/AAC"
    assert report.played(seconds), report  # past the take-over, to the end
    assert not report.warnings, report.warnings


def test_hls_js_plays_the_resumed_package_to_its_end(package: Path) -> None:
    end = length(package) - 1.0
    played_through(hls_tracks(package, seconds=end, deadline=end + 30), end)


def test_dash_js_plays_the_resumed_package_to_its_end(package: Path) -> None:
    end = length(package) - 1.0
    played_through(dash_tracks(package, seconds=end, deadline=end + 30), end)
