"""A ladder's loudness target on every audio track it keeps: a quiet English track and a
loud Spanish one each come out at the target, measured again with ffmpeg's own ``ebur128``
on every audio rendition the master lists (not the worker's figures)."""

from __future__ import annotations

from pathlib import Path

import m3u8
import pytest

from core.presets import builtin_catalog
from tests.hls_entries import uri_of
from tests.integration.local_job import run_local
from tests.integration.steps_job import make, run_steps
from tests.integration.test_loudness import ebur128, loud_ladder
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_languages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320x240 clip with two 440 Hz tone tracks: English at about -35 LUFS, Spanish at
    about -8 LUFS (lavfi's sine is about -21.8 LUFS)."""
    tmp = tmp_path_factory.mktemp("tracks")
    tone = "sine=frequency=440:sample_rate=48000:duration=5"
    return make(
        tmp, "two.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=5",
        "-f", "lavfi", "-i", tone, "-f", "lavfi", "-i", tone,
        "-filter_complex", "[1:a]volume=-13.2dB[eng];[2:a]volume=13.8dB[spa]",
        "-map", "0:v", "-map", "[eng]", "-map", "[spa]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-metadata:s:a:0", "language=eng",
        "-metadata:s:a:1", "language=spa", "-shortest",
    )  # fmt: skip


def audio_renditions(package: Path, tmp: Path) -> list[tuple[str, Path]]:
    """Every audio rendition the master lists: its language and its segments as one file."""
    master = m3u8.load(str(package / "master.m3u8"))
    found = []
    for n, media in enumerate(m for m in master.media if m.type == "AUDIO"):
        playlist = m3u8.load(str(package / uri_of(media)))
        folder = (package / uri_of(media)).parent
        parts = [
            folder / uri_of(playlist.segment_map[0]),
            *(folder / uri_of(s) for s in playlist.segments),
        ]
        joined = tmp / f"audio-{n}.mp4"
        joined.write_bytes(b"".join(p.read_bytes() for p in parts))
        found.append((str(media.language), joined))
    return found


def assert_every_track_at_the_target(package: Path, tmp: Path) -> None:
    found = audio_renditions(package, tmp)
    assert sorted({language for language, _ in found}) == ["eng", "spa"]
    assert len(found) == 4  # two renditions of each track
    for language, joined in found:
        integrated, peak = ebur128(joined)
        assert abs(integrated - -16.0) <= 1.0, (language, integrated)
        assert peak <= -1.5, (language, peak)


def test_a_preset_normalizes_each_track_alone(two_languages: Path, tmp_path: Path) -> None:
    outcome = run_local(two_languages, tmp_path, loud_ladder())
    assert outcome.error is None, outcome.error
    assert_every_track_at_the_target(outcome.out / "cmaf", tmp_path)
    assert outcome.result is not None
    report = outcome.result.loudness
    assert report is not None
    assert [(t.track, t.language, t.mode) for t in report.tracks] == [
        (0, "eng", "linear"),
        (1, "spa", "linear"),
    ]
    quiet, loud = (t.input.integrated_lufs for t in report.tracks)
    assert quiet is not None
    assert abs(quiet - -35.0) <= 1.0
    assert loud is not None
    assert abs(loud - -8.0) <= 1.0
    assert report.input == report.tracks[0].input  # the first track's figures at the top
    for track in report.tracks:
        assert track.output is not None
        assert track.output.integrated_lufs is not None
        assert abs(track.output.integrated_lufs - -16.0) <= 1.0


def test_a_steps_ladder_normalizes_each_track_alone(two_languages: Path, tmp_path: Path) -> None:
    ladder = loud_ladder()
    shipped = builtin_catalog()
    catalog = shipped.model_copy(update={"presets": {**shipped.presets, ladder.name: ladder}})
    steps: StepDocs = [{"op": "trim", "start": 1.0}, {"op": "encode", "preset": ladder.name}]
    outcome = run_steps(two_languages, tmp_path, steps, catalog=catalog)
    assert outcome.error is None, outcome.error
    assert_every_track_at_the_target(outcome.out / "encode" / "cmaf", tmp_path)
    report = outcome.step("encode").loudness
    assert report is not None
    assert [(t.track, t.language) for t in report.tracks] == [(0, "eng"), (1, "spa")]
