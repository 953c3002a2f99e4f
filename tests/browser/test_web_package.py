"""The worker's web-hls package in a real browser: hls.js plays master.m3u8 and dash.js plays
manifest.mpd in headless Chromium (H.264/AAC through Media Source Extensions), and each lists
the package's tracks: today one audio track and no text tracks.

Multi-language audio and subtitles: assert on ``report.audio_languages`` (or ``.audio``,
(lang, name) pairs), ``report.text`` ((lang, kind) pairs) and ``report.switched`` (True once
the player switched to the second audio track and kept playing); test_harness.py shows them
on a hand-made two-language package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.players import PLAY_SECONDS, PlayerReport, dash_tracks, hls_tracks, pinned

pytestmark = pytest.mark.browser


def check_plays_one_audio_track(report: PlayerReport) -> None:
    assert report.mse_h264_aac, "this Chromium's MSE cannot play H.264/AAC"
    assert report.played(PLAY_SECONDS), report
    assert len(report.audio) == 1, report.audio
    assert report.text == (), report.text
    assert report.switched is None  # nothing to switch to


def test_hls_js_plays_the_web_package(web_package: Path) -> None:
    report = hls_tracks(web_package)
    assert report.version == pinned("hls.js")  # the locked player, not another copy
    check_plays_one_audio_track(report)
    # hls.js lists the rendition by the master playlist's NAME: the track's language, or
    # its place for a source that names none (this one)
    assert report.audio[0].name == "track 0"


def test_dash_js_plays_the_web_package(web_package: Path) -> None:
    report = dash_tracks(web_package)
    assert report.version == pinned("dashjs")
    check_plays_one_audio_track(report)
