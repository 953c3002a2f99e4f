"""core.media.probe.parse_probe: a video stream's frame rate, rotation (display matrix, legacy
rotate tag) and display size (quarter turns, sample aspect), and the garbage each falls back from.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from core.media.probe import VideoStream, parse_probe
from core.media.probe_doc import probe_doc
from tests.unit.ffprobe_docs import DISPLAY_MATRIX, H264_STREAM, mp4_doc


def test_ntsc_frame_rate() -> None:
    doc = mp4_doc(video={"r_frame_rate": "30000/1001", "avg_frame_rate": "30000/1001"})
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.fps == pytest.approx(29.97, abs=0.001)


def test_avg_frame_rate_preferred_over_r_frame_rate() -> None:
    # A variable-frame-rate phone clip: r_frame_rate is the timebase-ish maximum.
    doc = mp4_doc(video={"r_frame_rate": "120/1", "avg_frame_rate": "14985/500"})
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.fps == pytest.approx(29.97)


@pytest.mark.parametrize(
    "rate", ["N/A", "0/0", "30", "abc/def", "30/0", "-30/1", "", None, 30, "1/2/3"]
)
def test_garbage_frame_rates(rate: Any) -> None:
    doc = mp4_doc(video={"avg_frame_rate": rate, "r_frame_rate": rate})
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.fps == 0.0


@pytest.mark.parametrize(
    ("matrix_rotation", "expected"),
    [(-90, 90), (90, 270), (180, 180), (-180, 180), (0, 0), (-270, 270)],
)
def test_rotation_from_display_matrix(matrix_rotation: int, expected: int) -> None:
    side = [{**DISPLAY_MATRIX, "rotation": matrix_rotation}]
    doc = mp4_doc(video={"side_data_list": side})
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.rotation == expected


def test_display_matrix_wins_over_the_legacy_tag() -> None:
    side = [{**DISPLAY_MATRIX, "rotation": -90}]
    doc = mp4_doc(video={"side_data_list": side, "tags": {"rotate": "180"}})
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.rotation == 90


def test_display_matrix_found_among_other_side_data() -> None:
    side = [
        {"side_data_type": "Stereo 3D", "type": "2D", "inverted": 0},
        {**DISPLAY_MATRIX, "rotation": -90},
    ]
    v = parse_probe(probe_doc(mp4_doc(video={"side_data_list": side}))).video
    assert v is not None
    assert v.rotation == 90


@pytest.mark.parametrize(("tag", "expected"), [("90", 90), ("180", 180), ("270", 270)])
def test_rotation_from_legacy_rotate_tag(tag: str, expected: int) -> None:
    tags = {**H264_STREAM["tags"], "rotate": tag}
    v = parse_probe(probe_doc(mp4_doc(video={"tags": tags}))).video
    assert v is not None
    assert v.rotation == expected


def test_a_nonsense_rotate_tag_is_no_rotation() -> None:
    for value in ("nan", "inf", "-inf", "banana"):
        doc = mp4_doc(video={"tags": {"rotate": value}, "side_data_list": []})
        result = parse_probe(probe_doc(doc))
        assert result.video is not None
        assert result.video.rotation == 0


def test_phone_portrait_clip_display_size() -> None:
    # An iPhone portrait recording: coded 1920x1080, displaymatrix rotation -90.
    side = [{**DISPLAY_MATRIX, "rotation": -90}]
    v = parse_probe(probe_doc(mp4_doc(video={"side_data_list": side}))).video
    assert v is not None
    assert (v.width, v.height) == (1920, 1080)
    assert v.display_size == (1080, 1920)


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [(0, (1920, 1080)), (90, (1080, 1920)), (180, (1920, 1080)), (270, (1080, 1920))],
)
def test_display_size_swaps_for_quarter_turns(rotation: int, expected: tuple[int, int]) -> None:
    v = VideoStream("h264", 1920, 1080, 30.0, rotation, Fraction(1), "yuv420p")
    assert v.display_size == expected


def test_display_size_applies_sample_aspect() -> None:
    doc = mp4_doc(
        video={
            "width": 720,
            "height": 480,
            "sample_aspect_ratio": "32:27",
            "display_aspect_ratio": "16:9",
        }
    )
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert v.sample_aspect == Fraction(32, 27)
    width, height = v.display_size
    assert height == 480
    assert abs(width - 720 * 32 / 27) < 1
