"""Steps jobs through the real pipeline: what each output holds, decoded and measured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.events.cloudevent import EventType
from core.events.contract import job_event
from core.media.preflight import MediaLimits
from tests.event_contract import check_event
from tests.integration.steps_job import StepsOutcome, frame_rgb, make, probe, run_steps
from tests.step_docs import StepDocs

pytestmark = pytest.mark.integration

# The example request, on a 640x360 clip: black for 5 s, then grey (one hard cut).
EXAMPLE: StepDocs = [
    {"op": "trim", "start": 1.0, "end": 11.0},
    {
        "op": "overlay",
        "image": {"key": "brand/logo.png"},
        "position": "top-right",
        "margin": 16,
        "width": 0.12,
        "opacity": 0.85,
    },
    {"op": "encode", "preset": "mp4-480p"},
    {"op": "frames", "every": 2.0, "format": "jpg", "width": 320},
    {"op": "preview", "format": "gif", "start": 0.0, "duration": 3.0, "fps": 10, "width": 320},
    {"op": "scenes", "threshold": 0.3},
]


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("talk")
    clip = make(
        tmp, "talk.mp4",
        "-f", "lavfi", "-i", "color=c=black:s=640x360:r=25:d=5",
        "-f", "lavfi", "-i", "color=c=0x808080:s=640x360:r=25:d=9",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=14",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
    )  # fmt: skip
    logo = make(
        tmp, "logo.png", "-f", "lavfi", "-i", "color=c=0x00ff00:s=200x100", "-frames:v", "1"
    )
    return clip, logo


@pytest.fixture(scope="module")
def example(talk: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> StepsOutcome:
    clip, logo = talk
    return run_steps(clip, tmp_path_factory.mktemp("example"), EXAMPLE, {"brand/logo.png": logo})


def test_the_example_runs_in_one_pass(example: StepsOutcome) -> None:
    assert example.error is None, example.error
    assert example.transcodes == 1  # one decode for the encode, frames, preview and scenes
    assert example.result is not None
    assert [s.name for s in example.result.steps] == ["encode", "frames", "preview", "scenes"]
    assert all(o.step for o in example.result.outputs if not o.key.endswith("probe.json"))
    assert example.progress[-1].percent == 100.0


def test_the_trimmed_mp4_is_ten_seconds_with_the_logo_top_right(example: StepsOutcome) -> None:
    mp4 = example.out / "encode" / "video.mp4"
    doc = probe(mp4)
    video = next(s for s in doc["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (640, 360)
    assert abs(float(doc["format"]["duration"]) - 10.0) <= 0.05
    assert any(s["codec_type"] == "audio" for s in doc["streams"])
    rgb = frame_rgb(mp4, 1.0, 640, 360)

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        i = (y * 640 + x) * 3
        return rgb[i], rgb[i + 1], rgb[i + 2]

    r, g, b = pixel(586, 35)  # inside the 76x38 logo, 16 px from the top-right corner
    assert g > 150, (r, g, b)
    assert max(r, b) < 80, (r, g, b)
    assert max(pixel(100, 200)) < 40  # black elsewhere
    assert max(pixel(530, 35)) < 40  # just left of the logo


def test_frames_every_two_seconds(example: StepsOutcome) -> None:
    frames = example.files("frames")
    assert [o.time for o in frames] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert all(o.width == 320 and o.height == 180 for o in frames)
    assert sorted(p.name for p in (example.out / "frames").iterdir())[0].endswith(".jpg")


def test_the_preview_gif_has_thirty_frames(example: StepsOutcome) -> None:
    gif = example.out / "preview" / "preview.gif"
    video = probe(gif)["streams"][0]
    assert video["codec_name"] == "gif"
    assert (video["width"], video["height"]) == (320, 180)
    assert int(video["nb_read_frames"]) == 30


def test_scenes_finds_the_cut_after_the_trim(example: StepsOutcome) -> None:
    scenes = example.step("scenes").scenes
    starts = [s.start for s in scenes.scenes]
    assert len(starts) == 2
    assert starts[0] == 0.0
    assert abs(starts[1] - 4.0) <= 0.04  # the cut at 5 s of the source, trimmed by 1 s
    doc = json.loads((example.out / "scenes" / "scenes.json").read_text())
    assert len(doc["scenes"]) == 2


def test_a_missing_overlay_image_is_named(talk: tuple[Path, Path], tmp_path: Path) -> None:
    clip, _ = talk
    outcome = run_steps(clip, tmp_path, EXAMPLE)
    assert outcome.error is not None
    assert outcome.error.code == "input_not_found"
    assert outcome.error.message.startswith("steps[1].image: ")
    assert outcome.transcodes == 0


def test_an_unreadable_input_is_the_answer_whatever_its_steps_name(tmp_path: Path) -> None:
    # the overlay image is fetched while the input is probed: the input's refusal stands,
    # the image's (missing too) is not reported in its place
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 1000)
    outcome = run_steps(junk, tmp_path, EXAMPLE)
    assert outcome.error is not None
    assert outcome.error.code == "invalid_media"
    assert not outcome.error.message.startswith("steps[")
    assert outcome.transcodes == 0


def test_a_trim_past_the_end_is_refused_before_any_encode(
    talk: tuple[Path, Path], tmp_path: Path
) -> None:
    clip, _ = talk
    steps: StepDocs = [{"op": "trim", "start": 30.0}, {"op": "encode", "preset": "mp4-480p"}]
    outcome = run_steps(clip, tmp_path, steps)
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert "steps[0]" in outcome.error.message
    assert "start" in outcome.error.message
    assert outcome.transcodes == 0


def test_concat_speed_ladder_and_quality(tmp_path: Path) -> None:
    """A 720p clip with sound, a 320x240 clip without, joined, played twice as fast, packaged
    as the web-hls ladder, and every rung scored against the joined picture."""
    main = make(
        tmp_path, "main.mp4", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=4",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
    )  # fmt: skip
    extra = make(tmp_path, "extra.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                 "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    steps: StepDocs = [
        {"op": "concat", "inputs": [{"key": "clips/extra.mp4"}]},
        {"op": "speed", "factor": 2.0},
        {"op": "encode", "preset": "web-hls"},
        {"op": "quality"},
    ]
    outcome = run_steps(main, tmp_path / "run", steps, {"clips/extra.mp4": extra})
    assert outcome.error is None, outcome.error
    # the pass; the storyboard's tiles laid into sheets; the quality pass reading it back
    assert outcome.transcodes == 3
    package = outcome.step("encode")
    assert package.qc.passed
    assert [r.name for r in package.renditions if r.kind == "video"] == ["720p", "480p", "360p"]
    for rendition in package.renditions:
        assert abs(rendition.duration - 3.0) <= 0.1  # (4 + 2) s at twice the speed
    quality = outcome.step("quality").quality
    ssim = [r.ssim_mean for r in quality.renditions]
    assert [r.name for r in quality.renditions] == ["encode/720p", "encode/480p", "encode/360p"]
    assert ssim == sorted(ssim, reverse=True)
    assert (quality.width, quality.height) == (1280, 720)
    assert (outcome.out / "quality" / "quality.json").is_file()


def test_crop_rotate_text_and_frames_at(tmp_path: Path) -> None:
    source = make(
        tmp_path, "src.mp4", "-f", "lavfi", "-i", "color=c=black:s=1280x720:r=25:d=4",
        "-f", "lavfi", "-i", "sine=duration=4", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "aac",
    )  # fmt: skip
    caption = 'It\'s 50% off: "now" \\ %{pts} [x];\nline two'
    steps: StepDocs = [
        {"op": "crop", "aspect": "9:16"},
        {"op": "rotate", "degrees": 90},
        {"op": "text", "text": caption, "position": "center", "size": 48},
        {"op": "encode", "preset": "mp4-480p"},
        {"op": "frames", "at": [0.5, 2.0], "format": "png", "width": 200},
    ]
    outcome = run_steps(source, tmp_path / "run", steps)
    assert outcome.error is None, outcome.error
    video = probe(outcome.out / "encode" / "video.mp4")["streams"][0]
    # 9:16 of 1280x720 is 404x720 (even), turned a quarter: 720x404 (never upscaled to 480)
    assert (video["width"], video["height"]) == (720, 404)
    frames = outcome.files("frames")
    assert [o.time for o in frames] == [0.48, 2.0]
    assert all(o.content_type == "image/png" for o in frames)
    lit = frame_rgb(outcome.out / "encode" / "video.mp4", 1.0, 720, 404)
    assert max(lit) > 200  # the caption, white on black, is drawn


def test_a_strobe_cuts_every_scene_and_draws_the_first_hundred(tmp_path: Path) -> None:
    """150 cuts in 30 s: scenes.json lists them all; pictures stop at 100, and the event
    names the first 100 scenes with the full count."""
    strobe = make(
        tmp_path, "strobe.mp4", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=10:d=30",
        "-vf", "geq=lum='if(mod(floor(T*5)\\,2)\\,230\\,20)':cb=128:cr=128",
        "-c:v", "libx264", "-preset", "ultrafast",
    )  # fmt: skip
    outcome = run_steps(strobe, tmp_path / "run", [{"op": "scenes", "threshold": 0.3}])
    assert outcome.error is None, outcome.error
    report = json.loads((outcome.out / "scenes" / "scenes.json").read_text())
    assert report["count"] == len(report["scenes"]) == 150
    assert len(list((outcome.out / "scenes").glob("scene-*.jpg"))) == 100
    summary = outcome.step("scenes").scenes
    assert summary.count == 150
    assert len(summary.scenes) == 100


def test_a_keyframe_trim_alone_is_a_stream_copy_from_the_keyframe(tmp_path: Path) -> None:
    """Keyframes every second: a cut asked from 2.5 s starts at the keyframe at 2.0 s, and
    nothing is decoded or encoded (the copy keeps the source's codec and bitrate)."""
    source = make(
        tmp_path, "src.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=10",
        "-f", "lavfi", "-i", "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast",
        "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
    )  # fmt: skip
    steps = [{"op": "trim", "start": 2.5, "end": 6.5, "mode": "keyframe"}]
    outcome = run_steps(source, tmp_path / "run", steps)
    assert outcome.error is None, outcome.error
    (clip,) = outcome.files("clip")
    assert clip.role == "clip"
    assert clip.key.endswith("/clip/clip.mp4")
    doc = probe(outcome.out / "clip" / "clip.mp4")
    video = next(s for s in doc["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264"
    assert any(s["codec_type"] == "audio" for s in doc["streams"])
    # from the keyframe at 2.0 s to the asked end, 6.5 s
    assert abs(float(doc["format"]["duration"]) - 4.5) <= 0.1, doc["format"]["duration"]
    assert int(video["nb_read_frames"]) in range(110, 115)


def test_a_webp_preview_is_listed_at_its_planned_size(
    talk: tuple[Path, Path], tmp_path: Path
) -> None:
    clip, _ = talk
    steps = [
        {"op": "preview", "format": "webp", "start": 4.0, "duration": 2.0, "fps": 5, "width": 160}
    ]
    outcome = run_steps(clip, tmp_path, steps)
    assert outcome.error is None, outcome.error
    (preview,) = outcome.files("preview")
    assert (preview.width, preview.height, preview.content_type) == (160, 90, "image/webp")
    body = (outcome.out / "preview" / "preview.webp").read_bytes()
    assert body[:4] == b"RIFF"
    assert body[8:12] == b"WEBP"
    assert body.count(b"ANMF") == 10  # 2 s at 5 frames a second


def test_the_completion_event_of_a_steps_job_keeps_the_contract(example: StepsOutcome) -> None:
    """job.completed as SNS and webhooks carry it: CloudEvents 1.0 and its committed schema,
    each step's summary and each file's step included."""
    assert example.result is not None
    event = job_event(
        EventType.COMPLETED,
        example.result.job_id,
        datetime.now(UTC),
        example.result.event_data(),
        1,
    )
    body = event.to_json()
    checked = check_event(body)
    steps = {s["name"]: s for s in checked["data"]["steps"]}
    assert steps["scenes"]["scenes"]["count"] == 2
    assert steps["frames"]["files"] == 5
    assert {o["step"] for o in checked["data"]["outputs"]} == {
        "encode",
        "frames",
        "preview",
        "scenes",
        None,  # None: probe.json, the job's own
    }


def test_the_length_cap_counts_what_the_steps_make(talk: tuple[Path, Path], tmp_path: Path) -> None:
    """14 s at half speed is 28 s: over a 20 s cap, refused before any encode."""
    clip, _ = talk
    steps: StepDocs = [{"op": "speed", "factor": 0.5}, {"op": "encode", "preset": "mp4-480p"}]
    outcome = run_steps(clip, tmp_path, steps, media=MediaLimits(max_duration_seconds=20))
    assert outcome.error is not None
    assert outcome.error.code == "input_too_long"
    assert outcome.error.message.startswith("steps: the picture the steps make is 28 s")
    assert outcome.transcodes == 0
