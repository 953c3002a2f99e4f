"""core.media.probe.parse_probe on incomplete or damaged documents: durations that are unknown or
disagree, garbage values that must not crash it, and what it refuses as invalid_media.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from core.errors import InvalidMedia
from core.media.probe import parse_probe
from core.media.probe_doc import probe_doc
from tests.unit.ffprobe_docs import MP4_FORMAT, mp4_doc


@pytest.mark.parametrize("duration", ["0.000000", "0", "N/A", None, "-1.5", "nan", "inf"])
def test_an_unknown_duration_is_zero_not_an_error(duration: str | None) -> None:
    # A WebM from MediaRecorder has no duration in its header; ffmpeg transcodes it fine.
    doc = mp4_doc()
    if duration is None:
        del doc["format"]["duration"]
    else:
        doc["format"]["duration"] = duration
    result = parse_probe(probe_doc(doc))
    assert result.duration == 0.0
    assert result.video is not None


def test_the_stated_duration_is_the_longest_the_file_or_a_stream_claims() -> None:
    # A container may state one length and a stream another: ffmpeg is led by both.
    doc = mp4_doc(video={"duration": "36000.0"}, duration="10.0")
    result = parse_probe(probe_doc(doc))
    assert result.duration == pytest.approx(10.0)
    assert result.stated_duration == pytest.approx(36000.0)
    unknown = parse_probe(
        probe_doc(mp4_doc(video={"duration": "N/A"}, audio={"duration": None}, duration="N/A"))
    )
    assert unknown.stated_duration == 0.0


def test_garbage_values_do_not_crash() -> None:
    doc = mp4_doc(
        video={
            "avg_frame_rate": "0/0",
            "r_frame_rate": "0/0",
            "sample_aspect_ratio": "0:1",
            "side_data_list": [{"side_data_type": "Display Matrix"}],
            "tags": {"rotate": "N/A"},
        },
        audio={"channels": "N/A", "sample_rate": "N/A"},
        size="N/A",
    )
    result = parse_probe(probe_doc(doc))
    assert result.size is None
    v = result.video
    assert v is not None
    assert v.fps == 0.0
    assert v.rotation == 0
    assert v.sample_aspect == Fraction(1)
    assert v.display_size == (1920, 1080)
    a = result.audio
    assert a is not None
    assert (a.channels, a.sample_rate) == (0, 0)


@pytest.mark.parametrize(
    "doc",
    [
        {"streams": [], "format": {**MP4_FORMAT, "nb_streams": 0}},
        {"format": dict(MP4_FORMAT)},
        {},
        {"streams": [{"index": 0, "codec_type": "data", "codec_name": "bin_data"}]},
    ],
)
def test_no_usable_streams_is_invalid_media(doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidMedia) as info:
        parse_probe(probe_doc(doc))
    assert info.value.code == "invalid_media"
    assert info.value.retryable is False


@pytest.mark.parametrize("size", [("N/A", 1080), (0, 1080), (1920, None), (-2, -2)])
def test_video_without_a_frame_size_is_invalid(size: tuple[Any, Any]) -> None:
    doc = mp4_doc(video={"width": size[0], "height": size[1]})
    with pytest.raises(InvalidMedia):
        parse_probe(probe_doc(doc))
