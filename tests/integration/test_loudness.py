"""The loudness step through the real pipeline: outputs measured again with ffmpeg's own
``ebur128`` (not the worker's figures), the figures the job reports checked against them."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.events.cloudevent import EventType
from core.events.contract import job_event
from core.presets import AudioRendition, LoudnessTarget, StreamingPreset, builtin_catalog
from tests.event_contract import check_event
from tests.integration.local_job import run_local
from tests.integration.steps_job import make, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

TARGET = {"op": "loudness", "target_lufs": -16, "true_peak_db": -1.5, "lra": 11}
MP4 = {"op": "encode", "preset": "mp4-480p"}


def tone(tmp: Path, name: str, gain_db: float, seconds: int = 5) -> Path:
    """A 320x240 clip whose sound is a 440 Hz tone (lavfi's sine: about -21.8 LUFS) moved
    by ``gain_db``, in AAC."""
    return make(
        tmp, name,
        "-f", "lavfi", "-i", f"testsrc=s=320x240:r=25:d={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-af", f"volume={gain_db}dB", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-shortest",
    )  # fmt: skip


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of the file's sound, as ffmpeg's
    ebur128 filter prints them in its summary."""
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0",
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = log[log.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert peak is not None, summary
    return integrated, float(peak.group(1))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("loud")
    return {"quiet": tone(tmp, "quiet.mp4", -13.2), "loud": tone(tmp, "loud.mp4", 13.8)}


@pytest.mark.parametrize("which", ["quiet", "loud"])
def test_the_sound_reaches_the_target(sources: dict[str, Path], which: str, tmp_path: Path) -> None:
    before, _ = ebur128(sources[which])
    assert abs(before - {"quiet": -35.0, "loud": -8.0}[which]) < 1.0  # the source is as meant
    outcome = run_steps(sources[which], tmp_path, [TARGET, MP4])
    assert outcome.error is None, outcome.error
    integrated, peak = ebur128(outcome.out / "encode" / "video.mp4")
    assert abs(integrated - -16.0) <= 1.0
    assert peak <= -1.5
    report = outcome.step("loudness").loudness
    assert report.mode == "linear"  # a tone's peak is far under the limit: a gain does it
    assert abs(report.input.integrated_lufs - before) <= 0.5
    assert abs(report.output.integrated_lufs - integrated) <= 0.5
    assert report.gain_db == pytest.approx(-16.0 - report.input.integrated_lufs, abs=0.02)
    # the measuring pass has its share of the job's progress: it only goes up, to 100
    percents = [p.percent for p in outcome.progress]
    assert percents == sorted(percents)
    assert percents[-1] == 100.0


def test_a_peak_over_the_limit_is_normalized_dynamically(tmp_path: Path) -> None:
    """Pink noise with short loud bursts: a gain to -16 LUFS would push the bursts past
    -1.5 dBTP, so the dynamic normalizer (with its true-peak limiter) runs, and says so."""
    source = make(
        tmp_path, "bursts.mp4",
        "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=6",
        "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.1:seed=7:d=6:r=48000",
        "-f", "lavfi", "-i",
        "aevalsrc='0.6*lt(mod(t\\,0.5)\\,0.004)*sin(2*PI*1000*t)':s=48000:d=6",
        "-filter_complex", "[1][2]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-shortest",
    )  # fmt: skip
    outcome = run_steps(source, tmp_path, [TARGET, MP4])
    assert outcome.error is None, outcome.error
    report = outcome.step("loudness").loudness
    assert report.mode == "dynamic"
    assert report.gain_db is None
    assert report.input.true_peak_db + (-16.0 - report.input.integrated_lufs) > -1.5
    integrated, peak = ebur128(outcome.out / "encode" / "video.mp4")
    assert peak <= -1.0  # the limiter holds -1.5 dBTP before AAC, which may overshoot a bit
    assert integrated > report.input.integrated_lufs + 2.0  # brought up towards the target
    # what the job reports is what came out
    assert abs(report.output.integrated_lufs - integrated) <= 1.0


def test_measure_leaves_the_sound_as_it_was(sources: dict[str, Path], tmp_path: Path) -> None:
    step = {"op": "loudness", "mode": "measure"}
    outcome = run_steps(sources["quiet"], tmp_path, [step, MP4])
    assert outcome.error is None, outcome.error
    before, _ = ebur128(sources["quiet"])
    after, _ = ebur128(outcome.out / "encode" / "video.mp4")
    assert abs(after - before) <= 0.5  # (a normalized job moves it by 19 LU)
    result = outcome.result
    assert result is not None
    report = outcome.step("loudness").loudness
    assert report.mode == "measure"
    assert report.output is None
    assert report.gain_db is None
    assert abs(report.input.integrated_lufs - before) <= 0.5
    # the figures are in the result (job.json is its JSON) and in the completion event
    event = job_event(EventType.COMPLETED, result.job_id, datetime.now(UTC), result.event_data(), 1)
    checked = check_event(event.to_json())
    loud = next(s for s in checked["data"]["steps"] if s["op"] == "loudness")
    assert loud["loudness"]["input"]["integrated_lufs"] == report.input.integrated_lufs


def test_a_loudness_step_after_a_trim_measures_what_is_kept(tmp_path: Path) -> None:
    """Loud for 3 s, then quiet: a trim to the quiet part before the step means the quiet
    part is what is measured and brought to the target."""
    source = make(
        tmp_path, "two.mp4",
        "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=6",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
        "-af", "volume='if(lt(t,3),2.0,0.1)':eval=frame", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    )  # fmt: skip
    steps: StepDocs = [{"op": "trim", "start": 3.0}, {"op": "scale", "width": 160}, TARGET, MP4]
    outcome = run_steps(source, tmp_path, steps)
    assert outcome.error is None, outcome.error
    report = outcome.step("loudness").loudness
    assert report.input.integrated_lufs < -35.0  # the quiet part alone (the tone -20 dB)
    integrated, _ = ebur128(outcome.out / "encode" / "video.mp4")
    assert abs(integrated - -16.0) <= 1.0


def test_a_loudness_step_on_an_input_without_sound_is_refused(tmp_path: Path) -> None:
    silent = make(tmp_path, "mute.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=2",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    outcome = run_steps(silent, tmp_path, [TARGET, MP4])
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert outcome.error.message == "steps[0] (loudness): the input has no sound to measure"
    assert outcome.transcodes == 0


def _joined(package: Path, index: int, dest: Path) -> Path:
    """Rendition ``index`` of a CMAF package as one file: its init segment, then its media
    segments in order."""
    parts = [package / f"init-{index}.m4s"]
    parts += sorted(package.glob(f"seg-{index}-*.m4s"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    dest.write_bytes(b"".join(p.read_bytes() for p in parts))
    return dest


def loud_ladder() -> StreamingPreset:
    """web-hls with one rung, two audio renditions, and a loudness target."""
    preset = builtin_catalog().get("web-hls")
    assert isinstance(preset, StreamingPreset)
    assert preset.loudness is None  # off unless a preset asks
    return preset.model_copy(
        update={
            "name": "web-hls-loud",
            "ladder": preset.ladder[-1:],
            "audio": (
                AudioRendition(name="aac-128k"),
                AudioRendition(name="aac-64k", bitrate_kbps=64),
            ),
            "loudness": LoudnessTarget(target_lufs=-16, true_peak_db=-1.5),
            "thumbnails": None,
            "storyboard": None,
        }
    )


def test_a_streaming_preset_normalizes_every_audio_rendition_alike(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    outcome = run_local(sources["quiet"], tmp_path, loud_ladder())
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    report = outcome.result.loudness
    assert report is not None
    assert report.mode == "linear"
    assert report.input.integrated_lufs is not None
    assert abs(report.input.integrated_lufs - -35.0) <= 1.0
    audio = [r for r in outcome.result.renditions if r.kind == "audio"]
    assert len(audio) == 2
    for i in (1, 2):  # after the one video rendition
        integrated, peak = ebur128(_joined(outcome.out / "cmaf", i, tmp_path / f"a{i}.mp4"))
        assert abs(integrated - -16.0) <= 1.0
        assert peak <= -1.5


def test_a_steps_job_meets_its_ladders_loudness_target(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """No loudness step: the ladder's own target is met in its audio chain, measured on the
    sound the transforms made; the MP4 beside it keeps its sound."""
    ladder = loud_ladder()
    shipped = builtin_catalog()
    catalog = shipped.model_copy(update={"presets": {**shipped.presets, ladder.name: ladder}})
    steps: StepDocs = [{"op": "trim", "start": 1.0}, {"op": "encode", "preset": ladder.name}, MP4]
    outcome = run_steps(sources["loud"], tmp_path, steps, catalog=catalog)
    assert outcome.error is None, outcome.error
    package = outcome.out / "encode" / "cmaf"
    for i in (1, 2):
        integrated, peak = ebur128(_joined(package, i, tmp_path / f"a{i}.mp4"))
        assert abs(integrated - -16.0) <= 1.0
        assert peak <= -1.5
    mp4, _ = ebur128(outcome.out / "encode-2" / "video.mp4")
    assert abs(mp4 - -8.0) <= 1.0
    report = outcome.step("encode").loudness
    assert report.mode == "linear"
    assert abs(report.input.integrated_lufs - -8.0) <= 1.0
    assert outcome.step("encode-2").loudness is None


def test_silence_is_left_as_it_is(tmp_path: Path) -> None:
    """A sound track of digital silence has no loudness to bring anywhere: measured, and
    reported unchanged."""
    source = make(
        tmp_path, "hush.mp4",
        "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=3",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-shortest",
    )  # fmt: skip
    outcome = run_steps(source, tmp_path, [TARGET, MP4])
    assert outcome.error is None, outcome.error
    report = outcome.step("loudness").loudness
    assert report.mode == "unchanged"
    assert report.input.integrated_lufs is None
    assert report.output is None


def test_a_replaced_soundtrack_is_what_is_measured_and_normalized(tmp_path: Path) -> None:
    """The input is silent-picture only; its sound comes from an object (a quiet tone, about
    -35 LUFS): the measuring pass fetches the same sound, and the audio output is at the
    target."""
    mute = make(tmp_path, "mute.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=4",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    music = make(tmp_path, "music.wav", "-f", "lavfi", "-i",
                 "sine=frequency=440:sample_rate=48000:duration=4", "-af", "volume=-13.2dB",
                 "-ac", "2")  # fmt: skip
    steps: StepDocs = [
        {"op": "replace_audio", "audio": {"key": "music/quiet.wav"}},
        TARGET,
        {"op": "audio", "format": "flac"},
    ]
    outcome = run_steps(mute, tmp_path, steps, {"music/quiet.wav": music})
    assert outcome.error is None, outcome.error
    report = outcome.step("loudness").loudness
    assert abs(report.input.integrated_lufs - -35.0) <= 1.0
    (flac,) = (outcome.out / "audio").glob("*.flac")
    integrated, peak = ebur128(flac)
    assert abs(integrated - -16.0) <= 1.0
    assert peak <= -1.5
