"""The harness itself: on a hand-made two-language package with English subtitles it reports
both audio tracks, the subtitles and a working switch to the second audio track; on a package
missing a segment it reports the failure instead of playback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.multitrack import two_language_package
from tests.browser.players import PLAY_SECONDS, PlayerReport, dash_tracks, hls_tracks

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def two_languages(web_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_language_package(web_package, tmp_path_factory.mktemp("two") / "cmaf")


def check_two_languages(report: PlayerReport) -> None:
    assert report.played(PLAY_SECONDS), report
    assert report.audio_languages == ["en", "fr"], report.audio
    assert report.text == (("en", "subtitles"),), report.text
    assert report.switched is True, report
    assert report.audio_after_switch == 1


def test_hls_js_lists_and_switches_two_languages(two_languages: Path) -> None:
    report = hls_tracks(two_languages)
    check_two_languages(report)
    assert [t.name for t in report.audio] == ["English", "Français"]


def test_dash_js_lists_and_switches_two_languages(two_languages: Path) -> None:
    check_two_languages(dash_tracks(two_languages))


def test_a_missing_segment_is_reported_not_played(
    web_package: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    broken = tmp_path_factory.mktemp("broken") / "cmaf"
    broken.mkdir()
    for path in web_package.iterdir():
        if path.name != "seg-0-00001.m4s":  # the first video segment
            (broken / path.name).write_bytes(path.read_bytes())
    # hls.js retries a missing segment for longer than the deadline: playback never starts.
    report = hls_tracks(broken, deadline=5.0)
    assert not report.played(PLAY_SECONDS)
    assert report.reached < PLAY_SECONDS
    assert report.errors, report
    assert any("fragLoadError" in w for w in report.warnings), report.warnings
