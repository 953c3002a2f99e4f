"""The ``audio`` step through the real pipeline: each format decoded and measured."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.steps_job import StepsOutcome, make, probe, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

# (step, codec, channels, sample rate, the file)
Format = tuple[dict[str, object], str, int, int, str]
FORMATS: list[Format] = [
    ({"format": "mp3", "bitrate_kbps": 96, "channels": 1}, "mp3", 1, 48000, "audio.mp3"),
    ({"format": "m4a"}, "aac", 2, 48000, "audio.m4a"),
    ({"format": "opus", "sample_rate": 24000}, "opus", 2, 48000, "audio.opus"),
    ({"format": "flac", "sample_rate": 44100}, "flac", 2, 44100, "audio.flac"),
    ({"format": "wav", "channels": 1, "sample_rate": 16000}, "pcm_s16le", 1, 16000, "audio.wav"),
]
# Opus decodes at 48 kHz whatever it was encoded at (the header keeps the input rate only as
# a hint): ffprobe reports 48000 for it.


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(
        tmp_path_factory.mktemp("clip"), "clip.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ac", "2",
    )  # fmt: skip


@pytest.fixture(scope="module")
def job(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> StepsOutcome:
    steps: StepDocs = [
        {"op": "trim", "start": 1.0, "end": 5.0},
        *({"op": "audio", "name": f"sound-{n}", **doc} for n, (doc, *_) in enumerate(FORMATS)),
    ]
    return run_steps(clip, tmp_path_factory.mktemp("job"), steps)


def mean_volume(path: Path) -> float:
    text = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-af", "volumedetect",
         "-f", "null", "-"], check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+) dB", text)
    assert found is not None, text
    return float(found.group(1))


@pytest.mark.parametrize(("n", "case"), list(enumerate(FORMATS)), ids=[c[1] for c in FORMATS])
def test_each_format_holds_the_trimmed_sound(job: StepsOutcome, n: int, case: Format) -> None:
    _, codec, channels, rate, name = case
    path = job.out / f"sound-{n}" / name
    doc = probe(path)
    [stream] = doc["streams"]
    assert stream["codec_type"] == "audio"
    assert stream["codec_name"] == codec
    assert stream["channels"] == channels
    assert int(stream["sample_rate"]) == rate
    assert abs(float(doc["format"]["duration"]) - 4.0) < 0.1  # the trim's 4 s
    assert mean_volume(path) > -30.0  # the tone, not silence


def test_each_file_is_listed_and_published_with_its_type(job: StepsOutcome) -> None:
    assert job.error is None
    assert job.result is not None
    listed = {o.step or "": o for o in job.result.outputs if o.role == "audio"}
    assert sorted(listed) == [f"sound-{n}" for n in range(len(FORMATS))]
    types = {o.key.rsplit("/", 1)[1]: o.content_type for o in listed.values()}
    assert types == {
        "audio.mp3": "audio/mpeg",
        "audio.m4a": "audio/mp4",
        "audio.opus": "audio/ogg",
        "audio.flac": "audio/flac",
        "audio.wav": "audio/wav",
    }
    for output in listed.values():
        assert output.key in job.published
        assert output.duration is not None
        assert abs(output.duration - 4.0) < 0.1
    assert job.transcodes == 1  # one pass: every file from the one decode


def test_an_input_without_sound_is_refused_naming_the_step(tmp_path: Path) -> None:
    silent = make(tmp_path, "silent.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    outcome = run_steps(silent, tmp_path, [{"op": "audio", "format": "mp3"}])
    assert outcome.error is not None
    assert outcome.error.code == "unsupported_media"
    assert outcome.error.message == "steps[0] (audio): the input has no sound"
    assert outcome.transcodes == 0
