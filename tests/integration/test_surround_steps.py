"""A 5.1 sound through a steps job: the chain keeps it 5.1 through a concat (a stereo clip
upmixed to it), a ducked mix and the loudness step; the ladder makes its 5.1 rendition and
the stereo downmix, and the audio outputs take what their format holds."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.hls_entries import uri_of
from tests.integration.steps_job import make, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

FIVE_ONE = "aformat=channel_layouts=5.1"


def streams(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc: dict[str, Any] = json.loads(out)
    return [*doc["streams"], doc["format"]]


def centre_volume(path: Path) -> float:
    """The mean volume (dB) of the centre channel over the first two seconds: the source's
    tone is there (mono made 5.1 puts it in the centre); a 5.1 made up from stereo has
    none there."""
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-t", "2",
         "-af", "pan=mono|c0=FC,volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", log)
    assert found is not None, log
    return float(found.group(1))


def surround_clip(tmp_path: Path) -> Path:
    return make(tmp_path, "surround.mp4",
                    "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration=3,{FIVE_ONE}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest")  # fmt: skip


def test_a_5_1_sound_stays_5_1_through_the_steps(tmp_path: Path) -> None:
    surround = surround_clip(tmp_path)
    clip = make(tmp_path, "stereo.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1",
                "-f", "lavfi", "-i", "sine=frequency=880:duration=1", "-c:v", "libx264",
                "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
                "-shortest")  # fmt: skip
    music = make(tmp_path, "music.m4a", "-f", "lavfi", "-i", "sine=frequency=200:duration=4",
                 "-c:a", "aac", "-ac", "2")  # fmt: skip
    steps: StepDocs = [
        {"op": "concat", "inputs": [{"key": "more/stereo.mp4"}]},
        {"op": "mix", "tracks": [{"audio": {"key": "more/music.m4a"}, "duck": True}]},
        {"op": "loudness", "target_lufs": -20},
        {"op": "encode", "preset": "web-hls"},
        {"op": "audio", "format": "flac", "name": "flac"},
        {"op": "audio", "format": "mp3", "name": "mp3"},
    ]
    attached = {"more/stereo.mp4": clip, "more/music.m4a": music}
    outcome = run_steps(surround, tmp_path / "run", steps, attached)
    assert outcome.error is None, outcome.error
    cmaf = outcome.out / "encode" / "cmaf"
    master = m3u8.load(str(cmaf / "master.m3u8"))
    groups = {m.group_id or "": uri_of(m) for m in master.media if m.type == "AUDIO"}
    assert sorted(groups) == ["aac-128k", "aac-5.1"]
    for group, channels in (("aac-128k", 2), ("aac-5.1", 6)):
        playlist = m3u8.load(str(cmaf / groups[group]))
        parts = [
            cmaf / uri_of(playlist.segment_map[0]),
            *(cmaf / uri_of(s) for s in playlist.segments),
        ]
        joined = tmp_path / f"{group}.mp4"
        joined.write_bytes(b"".join(p.read_bytes() for p in parts))
        stream, form = streams(joined)
        assert stream["channels"] == channels, group
        if channels == 6:
            assert centre_volume(joined) > -40.0  # the source's own centre, kept
        assert abs(float(form["duration"]) - 4.0) < 0.15, group  # 3 s and the 1 s clip
    flac, form = streams(outcome.out / "flac" / "audio.flac")
    assert (flac["channels"], flac["channel_layout"]) == (6, "5.1")
    assert centre_volume(outcome.out / "flac" / "audio.flac") > -40.0
    assert abs(float(form["duration"]) - 4.0) < 0.1
    mp3, _ = streams(outcome.out / "mp3" / "audio.mp3")
    assert mp3["channels"] == 2  # MP3 holds two: downmixed
    report = outcome.step("loudness").loudness
    assert report is not None
    assert report.output is not None
    assert report.output.integrated_lufs is not None
    assert abs(report.output.integrated_lufs - -20.0) <= 1.0


def test_a_replaced_soundtrack_brings_its_own_layout(tmp_path: Path) -> None:
    """A stereo soundtrack in place of a 5.1 sound: the package is stereo (no 5.1 rendition
    made up from it)."""
    music = make(tmp_path, "music.m4a", "-f", "lavfi", "-i", "sine=frequency=200:duration=4",
                 "-c:a", "aac", "-ac", "2")  # fmt: skip
    steps: StepDocs = [
        {"op": "replace_audio", "audio": {"key": "more/music.m4a"}},
        {"op": "encode", "preset": "web-hls"},
    ]
    outcome = run_steps(surround_clip(tmp_path), tmp_path / "run", steps, {"more/music.m4a": music})
    assert outcome.error is None, outcome.error
    master = m3u8.load(str(outcome.out / "encode" / "cmaf" / "master.m3u8"))
    assert [m.group_id for m in master.media if m.type == "AUDIO"] == ["aac-128k"]
