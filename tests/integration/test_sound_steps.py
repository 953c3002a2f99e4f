"""``replace_audio`` and ``mix`` through the real pipeline: the sound each job makes,
decoded, and each tone's strength measured over time (Goertzel), so that what is heard
where is checked, not only that a file exists."""

from __future__ import annotations

import math
import subprocess
from array import array
from pathlib import Path

import pytest

from tests.integration.steps_job import make, probe, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

RATE = 16000  # decoded for measuring: enough for the 440 Hz and 1000 Hz tones
FULL = 400  # lavfi's sine (1/8 of full scale) at -12 dB measures about 515 here
SOUND = {"op": "audio", "format": "wav", "name": "sound"}


def pcm(path: Path) -> array[int]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE),
         "-f", "s16le", "-"], check=True, capture_output=True,
    ).stdout  # fmt: skip
    return array("h", raw)


def tone(samples: array[int], freq: float, start: float, end: float) -> float:
    """The strength of ``freq`` between ``start`` and ``end`` seconds (Goertzel, RMS-like)."""
    window = samples[int(start * RATE) : int(end * RATE)]
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in window:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return math.sqrt(max(power, 0.0)) / max(len(window), 1)


def sine(tmp: Path, name: str, freq: int, seconds: float, volume_db: float = -12.0) -> Path:
    return make(tmp, name, "-f", "lavfi", "-i",
                f"sine=frequency={freq}:sample_rate=48000:duration={seconds}",
                "-af", f"volume={volume_db}dB", "-c:a", "libmp3lame")  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("media")
    clip = make(
        tmp, "clip.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
        "-af", "volume=-12dB", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
    )  # fmt: skip
    # speech for the first 2 s, then quiet: what a ducked track follows
    talk = make(
        tmp, "talk.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono:d=2",
        "-filter_complex", "[1:a]volume=-6dB[s];[s][2:a]concat=n=2:v=0:a=1[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac",
    )  # fmt: skip
    silent = make(tmp, "silent.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    return {
        "clip": clip,
        "talk": talk,
        "silent": silent,
        "short": sine(tmp, "short.mp3", 1000, 2.0),
        "long": sine(tmp, "long.mp3", 1000, 6.0),
        "music": sine(tmp, "music.mp3", 1000, 6.0, -18.0),
    }


def test_a_shorter_soundtrack_replaces_the_sound_and_is_padded_with_silence(
    media: dict[str, Path], tmp_path: Path
) -> None:
    steps: StepDocs = [
        {"op": "replace_audio", "audio": {"key": "music/short.mp3"}},
        SOUND,
        {"op": "encode", "preset": "mp4-480p"},
    ]
    job = run_steps(media["clip"], tmp_path, steps, {"music/short.mp3": media["short"]})
    assert job.error is None, job.error
    samples = pcm(job.out / "sound" / "audio.wav")
    assert len(samples) == pytest.approx(4 * RATE, abs=RATE * 0.05)  # the picture's 4 s
    assert tone(samples, 1000, 0.2, 1.8) > FULL  # the new sound
    assert tone(samples, 440, 0.2, 1.8) < 20  # and none of the old
    assert tone(samples, 1000, 2.2, 3.8) < 20  # silence after it ends
    video = probe(job.out / "encode" / "video.mp4")
    durations = {s["codec_type"]: float(s["duration"]) for s in video["streams"]}
    assert durations["audio"] == pytest.approx(durations["video"], abs=0.1)


def test_a_longer_soundtrack_is_cut_at_the_end_of_the_picture(
    media: dict[str, Path], tmp_path: Path
) -> None:
    steps: StepDocs = [
        {"op": "trim", "start": 1.0, "end": 3.0},
        {"op": "replace_audio", "audio": {"key": "music/long.mp3"}, "gain_db": -6},
        SOUND,
    ]
    job = run_steps(media["clip"], tmp_path, steps, {"music/long.mp3": media["long"]})
    assert job.error is None, job.error
    samples = pcm(job.out / "sound" / "audio.wav")
    assert len(samples) == pytest.approx(2 * RATE, abs=RATE * 0.05)
    # from the soundtrack's own start, not seeked with the picture; 6 dB down (half)
    assert FULL / 2 < tone(samples, 1000, 0.2, 1.8) < FULL * 0.75


def test_a_track_mixed_in_after_a_delay(media: dict[str, Path], tmp_path: Path) -> None:
    mix = {"op": "mix", "tracks": [{"audio": {"key": "music/long.mp3"}, "delay": 1.0}]}
    steps: StepDocs = [mix, SOUND]
    job = run_steps(media["clip"], tmp_path, steps, {"music/long.mp3": media["long"]})
    assert job.error is None, job.error
    samples = pcm(job.out / "sound" / "audio.wav")
    assert len(samples) == pytest.approx(4 * RATE, abs=RATE * 0.05)  # the sound keeps its length
    before, after = tone(samples, 1000, 0.1, 0.9), tone(samples, 1000, 1.2, 3.8)
    assert before < 20 < FULL < after  # the track comes in at 1 s
    speech = (tone(samples, 440, 0.1, 0.9), tone(samples, 440, 1.2, 3.8))
    assert min(speech) > FULL  # the job's own sound all through, at its level
    assert speech[0] == pytest.approx(speech[1], rel=0.1)


def test_a_ducked_track_is_lowered_while_the_speech_plays(
    media: dict[str, Path], tmp_path: Path
) -> None:
    steps: StepDocs = [{"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}, "duck": True}]}, SOUND]
    job = run_steps(media["talk"], tmp_path, steps, {"m.mp3": media["music"]})
    assert job.error is None, job.error
    samples = pcm(job.out / "sound" / "audio.wav")
    under, clear = tone(samples, 1000, 0.5, 1.8), tone(samples, 1000, 2.6, 3.9)
    assert clear > 3 * under  # down by more than 9 dB under the speech
    assert tone(samples, 440, 0.5, 1.8) > FULL / 2  # the speech itself (at -6 dB) untouched


def test_ducking_needs_a_sound_to_duck_under(media: dict[str, Path], tmp_path: Path) -> None:
    steps: StepDocs = [{"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}, "duck": True}]}, SOUND]
    job = run_steps(media["silent"], tmp_path, steps, {"m.mp3": media["music"]})
    assert job.error is not None
    assert job.error.code == "invalid_request"
    assert job.error.message.startswith("steps[0] (mix).tracks[0].duck: ")
    assert job.transcodes == 0


def test_mixing_into_a_silent_input_gives_it_the_track(
    media: dict[str, Path], tmp_path: Path
) -> None:
    steps: StepDocs = [{"op": "mix", "tracks": [{"audio": {"key": "m.mp3"}}]}, SOUND]
    job = run_steps(media["silent"], tmp_path, steps, {"m.mp3": media["music"]})
    assert job.error is None, job.error
    samples = pcm(job.out / "sound" / "audio.wav")
    assert len(samples) == pytest.approx(2 * RATE, abs=RATE * 0.05)
    assert tone(samples, 1000, 0.2, 1.8) > 100


def test_an_object_without_sound_is_named(media: dict[str, Path], tmp_path: Path) -> None:
    steps: StepDocs = [{"op": "replace_audio", "audio": {"key": "quiet.mp4"}}, SOUND]
    job = run_steps(media["clip"], tmp_path, steps, {"quiet.mp4": media["silent"]})
    assert job.error is not None
    assert job.error.code == "invalid_media"
    assert job.error.message == "steps[0].audio: the object has no sound"
    assert job.transcodes == 0
