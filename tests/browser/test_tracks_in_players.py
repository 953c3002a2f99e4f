"""Audio languages and subtitles the worker packages, as real players see them: hls.js and
dash.js in headless Chromium list a ladder's every audio track (and switch between them) and a
steps job's sidecar subtitle tracks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.players import PLAY_SECONDS, PlayerReport, dash_tracks, hls_tracks
from tests.integration.local_job import ffmpeg, run_local
from tests.integration.steps_job import run_steps

pytestmark = pytest.mark.browser

ENGLISH = "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:05,000\nBye\n"
FRENCH = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nBonjour\n"


@pytest.fixture(scope="module")
def two_languages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web-hls package of a 12 s source with an English and a Spanish track."""
    work = tmp_path_factory.mktemp("languages")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=12",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=12",
           "-f", "lavfi", "-i", "sine=frequency=1000:duration=12",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=spa",
           "-disposition:a:0", "default", "-disposition:a:1", "0", "two.mkv",
           cwd=work)  # fmt: skip
    outcome = run_local(work / "two.mkv", work)
    assert outcome.error is None, outcome.error
    return outcome.out / "cmaf"


@pytest.fixture(scope="module")
def subtitled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A steps job's web-hls package with English (SRT) and French (WebVTT) sidecars."""
    work = tmp_path_factory.mktemp("subtitled")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=12",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=12", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "clip.mp4",
           cwd=work)  # fmt: skip
    (work / "en.srt").write_text(ENGLISH, encoding="utf-8")
    (work / "fr.vtt").write_text(FRENCH, encoding="utf-8")
    steps = [
        {"op": "subtitles", "source": {"key": "subs/en.srt"}, "language": "eng"},
        {"op": "subtitles", "source": {"key": "subs/fr.vtt"}, "language": "fra"},
        {"op": "encode", "preset": "web-hls"},
    ]
    files = {"subs/en.srt": work / "en.srt", "subs/fr.vtt": work / "fr.vtt"}
    outcome = run_steps(work / "clip.mp4", work, steps, files)
    assert outcome.error is None, outcome.error
    return outcome.out / "encode" / "cmaf"


# hls.js names a track by the master's LANGUAGE as written (ISO 639-2, "eng"); dash.js
# shortens the MPD's @lang to its two-letter BCP 47 form ("en")
TWO_LETTERS = {"eng": "en", "spa": "es", "fra": "fr"}


def languages(report: PlayerReport) -> list[str]:
    return sorted(TWO_LETTERS.get(lang, lang) for lang in report.audio_languages)


DASH_SWITCH = pytest.mark.xfail(
    strict=True,
    reason="dash.js 5.2.1 lists both tracks but never reports the Spanish one rendered "
    "(TRACK_CHANGE_RENDERED) after setCurrentTrack; a package whose two audio sets name the "
    "same segments (test_harness.py) does switch: not yet understood",
)


@pytest.mark.parametrize(
    "player",
    [hls_tracks, pytest.param(dash_tracks, marks=DASH_SWITCH)],
    ids=["hls.js", "dash.js"],
)
def test_both_audio_languages_are_listed_and_switched_to(two_languages: Path, player) -> None:
    report = player(two_languages)
    assert report.played(PLAY_SECONDS), report
    assert languages(report) == ["en", "es"], report.audio
    assert report.switched, report  # to the second track, and it kept playing


def test_dash_js_lists_both_audio_languages(two_languages: Path) -> None:
    report = dash_tracks(two_languages)
    assert report.played(PLAY_SECONDS), report
    assert languages(report) == ["en", "es"], report.audio


@pytest.mark.parametrize("player", [hls_tracks, dash_tracks], ids=["hls.js", "dash.js"])
def test_both_subtitle_languages_are_listed(subtitled: Path, player) -> None:
    report = player(subtitled)
    assert report.played(PLAY_SECONDS), report
    assert sorted(TWO_LETTERS.get(lang, lang) for lang, _ in report.text) == ["en", "fr"], (
        report.text
    )
    assert {kind for _, kind in report.text} == {"subtitles"}, report.text
