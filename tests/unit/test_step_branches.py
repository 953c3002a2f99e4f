"""The frames, preview and scenes branches: their graph text, their arguments, their counts,
and the scenes report parsed from a scan's real printout."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from core.errors import InvalidMessage
from core.steps.branches import (
    frame_numbers,
    frame_times,
    frames_branch,
    frames_expected,
    preview_branch,
    preview_frames,
    scenes_branch,
)
from core.steps.outputs import MAX_FRAMES, Frames, Preview, Scenes
from core.steps.scenes import parse_scenes
from core.steps.stage import Shape

SHAPE = Shape(width=1280, height=720, fps=25.0, duration=10.0)
OUT = PurePosixPath("/job/out")


def frames(**kw: object) -> Frames:
    return Frames.model_validate({"op": "frames", **kw})


# --- frames ---------------------------------------------------------------------------


def test_every_whole_frames_is_one_modulo_and_numbered_jpegs() -> None:
    b = frames_branch(frames(every=2.0), SHAPE, OUT, "frames", "[s3v]", "s3")
    assert b.graph == (
        "[s3v]select=not(mod(n\\,50)),scale=320:180:flags=lanczos,setsar=1[s3frames]",
    )
    assert b.args == ("-map", "[s3frames]", "-fps_mode", "passthrough", "-c:v", "mjpeg", "-q:v",
                      "3", "-f", "image2", "file:/job/out/frames/frame-%05d.jpg")  # fmt: skip
    assert b.dirs == ("frames",)
    assert frames_expected(frames(every=2.0), SHAPE) == 5
    assert frame_times(frames(every=2.0), SHAPE) == (0.0, 2.0, 4.0, 6.0, 8.0)


def test_every_off_the_frame_grid_lists_the_frames_at_each_time() -> None:
    shape = Shape(width=640, height=360, fps=30000 / 1001, duration=4.0)
    step = frames(every=1.0)
    assert frame_numbers(step, shape) == (0, 29, 59, 89)  # floor(k * 29.97)
    b = frames_branch(step, shape, OUT, "f", "[v]", "s1")
    assert "select=eq(n\\,0)+eq(n\\,29)+eq(n\\,59)+eq(n\\,89)," in b.graph[0]


def test_at_picks_the_frame_shown_at_each_time_once() -> None:
    step = frames(at=[0.48, 3.0, 3.01, 9.99], format="png", width=640)
    assert frame_numbers(step, SHAPE) == (12, 75, 249)  # 3.0 and 3.01 are frame 75
    assert frame_times(step, SHAPE) == (0.48, 3.0, 9.96)
    b = frames_branch(step, SHAPE, OUT, "stills", "[s1v]", "s1")
    assert b.graph[0].startswith("[s1v]select=eq(n\\,12)+eq(n\\,75)+eq(n\\,249),scale=640:360:")
    assert b.args[-5:] == ("-c:v", "png", "-f", "image2", "file:/job/out/stills/frame-%05d.png")


def test_count_takes_the_middle_of_equal_parts() -> None:
    assert frame_times(frames(count=4), SHAPE) == (1.24, 3.72, 6.24, 8.72)
    assert frame_times(frames(count=1), SHAPE) == (5.0,)


def test_webp_frames_use_libwebp() -> None:
    b = frames_branch(frames(count=2, format="webp"), SHAPE, OUT, "f", "[v]", "t")
    assert b.args[4:6] == ("-c:v", "libwebp")
    assert b.args[-1] == "file:/job/out/f/frame-%05d.webp"


@pytest.mark.parametrize(
    ("step", "field"),
    [
        (frames(every=0.1), "steps[3].every"),  # over 60 s: 600 pictures
        (frames(at=[1.0, 12.0]), "steps[3].at[1]"),
        (frames(count=300), "steps[3].count"),
    ],
)
def test_too_many_pictures_or_a_time_past_the_end_is_refused(step: Frames, field: str) -> None:
    shape = Shape(width=320, height=240, fps=25.0, duration=60.0 if step.every else 10.0)
    with pytest.raises(InvalidMessage) as e:
        frames_expected(step, shape, "steps[3]")
    assert e.value.code == "invalid_request"
    assert e.value.message.startswith(field)


def test_every_at_the_limit_is_allowed() -> None:
    shape = Shape(width=320, height=240, fps=25.0, duration=50.0)
    assert frames_expected(frames(every=0.1), shape) == MAX_FRAMES


# --- preview --------------------------------------------------------------------------


def test_gif_preview_makes_its_palette_in_the_same_graph() -> None:
    step = Preview(op="preview", start=2.5, duration=3.0, fps=10.0, width=480)
    b = preview_branch(step, SHAPE, OUT, "preview", "[s2v]", "s2")
    assert b.graph == (
        "[s2v]fps=10,trim=start=2.5:duration=3,setpts=PTS-STARTPTS,"
        "scale=480:270:flags=lanczos,setsar=1,split[s2pa][s2pb]",
        "[s2pa]palettegen=stats_mode=diff[s2pal]",
        "[s2pb][s2pal]paletteuse=dither=sierra2_4a[s2preview]",
    )
    assert b.args == ("-map", "[s2preview]", "-fps_mode", "passthrough", "-frames:v", "30",
                      "-c:v", "gif", "-loop", "0", "-f", "gif",
                      "file:/job/out/preview/preview.gif")  # fmt: skip


def test_webp_preview_is_one_chain_into_libwebp() -> None:
    step = Preview(op="preview", format="webp")
    b = preview_branch(step, SHAPE, OUT, "p", "[v]", "s5")
    assert b.graph == (
        "[v]fps=10,trim=start=0:duration=3,setpts=PTS-STARTPTS,"
        "scale=320:180:flags=lanczos,setsar=1[s5preview]",
    )
    assert b.args[6:] == ("-c:v", "libwebp", "-loop", "0", "-lossless", "0", "-q:v", "70",
                          "-f", "webp", "file:/job/out/p/preview.webp")  # fmt: skip


def test_a_preview_near_the_end_is_shorter_and_one_past_it_refused() -> None:
    assert preview_frames(Preview(op="preview", start=8.5), SHAPE) == 15
    with pytest.raises(InvalidMessage) as e:
        preview_branch(Preview(op="preview", start=10.0), SHAPE, OUT, "p", "[v]", "s", "steps[2]")
    assert e.value.message.startswith("steps[2].start")


# --- scenes ---------------------------------------------------------------------------


def test_scenes_scan_small_and_write_a_picture_per_scene() -> None:
    step = Scenes(op="scenes", threshold=0.4, width=640)
    b = scenes_branch(step, SHAPE, OUT, "scenes", "[s4v]", "s4", "out/scenes/scan.txt")
    assert b.graph == (
        "[s4v]scale=640:360,select=eq(n\\,0)+gt(scene\\,0.4),"
        "metadata=print:file=out/scenes/scan.txt,select=lt(n\\,100),"
        "scale=640:360:flags=lanczos,setsar=1[s4thumbs]",
    )
    assert b.args[-1] == "file:/job/out/scenes/scene-%04d.jpg"
    assert b.args[2:4] == ("-fps_mode", "passthrough")


def test_scenes_without_thumbnails_scan_at_320_into_the_null_muxer() -> None:
    step = Scenes(op="scenes", thumbnails=False, width=1920)
    b = scenes_branch(step, SHAPE, OUT, "scenes", "[v]", "s1", "scan.txt")
    assert b.graph[0].startswith("[v]scale=320:180,select=eq(n\\,0)+gt(scene\\,0.3),")
    assert b.graph[0].endswith("metadata=print:file=scan.txt[s1scan]")
    assert b.args[-3:] == ("-f", "null", "-")


@pytest.mark.parametrize("bad", ["a:b.txt", "../x.txt", "/abs.txt", "a b.txt", "x\\,y"])
def test_the_scan_file_is_a_plain_relative_path(bad: str) -> None:
    with pytest.raises(ValueError, match="scan file"):
        scenes_branch(Scenes(op="scenes"), SHAPE, OUT, "s", "[v]", "s1", bad)


# Captured from ffmpeg 5.1's metadata=print after select=eq(n\,0)+gt(scene\,0.3), on red 2 s,
# blue 2 s, testsrc2 2 s, then green fading in over 3 s (tests/integration/test_step_outputs).
SCAN = """frame:0    pts:0       pts_time:0
lavfi.scene_score=0.000000
frame:1    pts:2000000 pts_time:2
lavfi.scene_score=0.400000
frame:2    pts:4000000 pts_time:4
lavfi.scene_score=0.813198
frame:3    pts:6000000 pts_time:6
lavfi.scene_score=1.000000
"""


def test_scenes_report_from_a_real_scan() -> None:
    report = parse_scenes(SCAN, 9.0, 0.3)
    assert report.count == 4
    assert report.threshold == 0.3
    assert [(s.index, s.start, s.end) for s in report.scenes] == [
        (1, 0.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 6.0), (4, 6.0, 9.0),
    ]  # fmt: skip
    assert [s.score for s in report.scenes] == [0.0, 0.4, 0.813198, 1.0]
    assert report.scenes[2].thumbnail == "scene-0003.jpg"


def test_scenes_report_without_thumbnails_and_from_nothing() -> None:
    assert parse_scenes(SCAN, 9.0, 0.3, thumbnails=False).scenes[0].thumbnail is None
    assert parse_scenes("", 9.0, 0.3).count == 0
