"""The browser tests need Debian's chromium and the players in node_modules; ``./dev test``
installs both and sets FFAPI_BROWSER_TESTS=required, so that there a missing piece fails the
run. Elsewhere (not root, no apt) these tests are skipped, saying what is missing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from infra.ffmpeg import make_sample_clip
from tests.browser.chromium import find_chromium, version
from tests.browser.players import NODE_MODULES
from tests.integration.local_job import run_local

PACKAGE_SECONDS = 6


@pytest.fixture(scope="session", autouse=True)
def chromium() -> str:
    found = find_chromium()
    missing = [] if found else ["chromium (apt-get install chromium)"]
    if not (NODE_MODULES / "hls.js").is_dir() or not (NODE_MODULES / "dashjs").is_dir():
        missing.append("hls.js and dash.js (npm ci in tests/browser)")
    if missing or found is None:
        reason = "browser tests need " + " and ".join(missing) + "; ./dev test installs them"
        if os.environ.get("FFAPI_BROWSER_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    return version(found)


@pytest.fixture(scope="session")
def web_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web-hls preset's package, made by the worker's own pipeline from a 6 s 640x360
    clip with stereo AAC: the directory holding master.m3u8 and manifest.mpd."""
    root = tmp_path_factory.mktemp("web-package")
    clip = asyncio.run(
        make_sample_clip(root / "clip.mp4", seconds=PACKAGE_SECONDS, width=640, height=360)
    )
    outcome = run_local(clip, root)
    assert outcome.error is None, outcome.error
    return outcome.out / "cmaf"
