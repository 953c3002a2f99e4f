"""One package with two audio languages and two subtitle languages, as real players see it:
a steps job (two sidecar subtitles, the web-hls ladder) on a source with an English and a
Spanish track; hls.js and dash.js in headless Chromium list both sound tracks and both text
tracks, and switch to the other language. And a preset job's package of the same source,
whose Spanish track measures a few bits a second below the English one: dash.js switched to
it only once the MPD stated one bandwidth for every language of a rendition."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.players import PLAY_SECONDS, PlayerReport, dash_tracks, hls_tracks
from tests.integration.local_job import ffmpeg, run_local
from tests.integration.steps_job import run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.browser

ENGLISH = "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:05,000\nBye\n"
FRENCH = "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nBonjour\n"
# hls.js names a track by the master's LANGUAGE as written (ISO 639-2, "eng"); dash.js
# shortens the MPD's @lang to its two-letter BCP 47 form ("en")
TWO_LETTERS = {"eng": "en", "spa": "es", "fra": "fr"}


def two_tracks(work: Path) -> Path:
    """12 s (a switch needs playback after it) of English and Spanish sound."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=12",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=12",
           "-f", "lavfi", "-i", "sine=frequency=1000:duration=12",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=spa",
           "-disposition:a:0", "default", "-disposition:a:1", "0", "two.mkv",
           cwd=work)  # fmt: skip
    return work / "two.mkv"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The steps job's web-hls package: the two sounds, English (SRT) and French (WebVTT)
    subtitles."""
    work = tmp_path_factory.mktemp("tracks")
    source = two_tracks(work)
    (work / "en.srt").write_text(ENGLISH, encoding="utf-8")
    (work / "fr.vtt").write_text(FRENCH, encoding="utf-8")
    steps: StepDocs = [
        {"op": "subtitles", "source": {"key": "subs/en.srt"}, "language": "eng"},
        {"op": "subtitles", "source": {"key": "subs/fr.vtt"}, "language": "fra"},
        {"op": "encode", "preset": "web-hls"},
    ]
    files = {"subs/en.srt": work / "en.srt", "subs/fr.vtt": work / "fr.vtt"}
    outcome = run_steps(source, work, steps, files)
    assert outcome.error is None, outcome.error
    return outcome.out / "encode" / "cmaf"


def two_letters(languages: list[str]) -> list[str]:
    return sorted(TWO_LETTERS.get(lang, lang) for lang in languages)


@pytest.mark.parametrize("player", [hls_tracks, dash_tracks], ids=["hls.js", "dash.js"])
def test_both_languages_of_sound_and_text_are_listed(
    package: Path, player: Callable[[Path], PlayerReport]
) -> None:
    report = player(package)
    assert report.played(PLAY_SECONDS), report
    assert two_letters(report.audio_languages) == ["en", "es"], report.audio
    assert two_letters([lang for lang, _ in report.text]) == ["en", "fr"], report.text
    assert {kind for _, kind in report.text} == {"subtitles"}, report.text


@pytest.mark.parametrize("player", [hls_tracks, dash_tracks], ids=["hls.js", "dash.js"])
def test_the_player_switches_to_the_other_language(
    package: Path, player: Callable[[Path], PlayerReport]
) -> None:
    report = player(package)
    assert report.played(PLAY_SECONDS), report
    assert report.switched, report  # to the second track, and it kept playing


@pytest.fixture(scope="module")
def preset_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("preset")
    outcome = run_local(two_tracks(work), work)
    assert outcome.error is None, outcome.error
    return outcome.out / "cmaf"


@pytest.mark.parametrize("player", [hls_tracks, dash_tracks], ids=["hls.js", "dash.js"])
def test_a_preset_jobs_package_switches_language_too(
    preset_package: Path, player: Callable[[Path], PlayerReport]
) -> None:
    report = player(preset_package)
    assert report.played(PLAY_SECONDS), report
    assert two_letters(report.audio_languages) == ["en", "es"], report.audio
    assert report.switched, report
