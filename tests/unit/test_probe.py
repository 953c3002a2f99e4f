"""core.media.probe.parse_probe: which streams it finds and which it picks, on ffprobe JSON shaped
like the real thing (`ffprobe_docs`): an H.264/AAC MP4, cover art that is no video, a still
image, every stream described for the preflight; and what `public_probe` keeps.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import pytest

from core.errors import InvalidMedia
from core.media.probe import ProbeResult, parse_probe, public_probe
from core.media.probe_doc import probe_doc
from tests.unit.ffprobe_docs import AAC_STREAM, H264_STREAM, MP4_FORMAT, mp4_doc


def test_h264_aac_mp4() -> None:
    result = parse_probe(probe_doc(mp4_doc()))
    assert isinstance(result, ProbeResult)
    assert result.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert result.duration == pytest.approx(10.01)
    assert result.size == 6401234
    v = result.video
    assert v is not None
    assert v.codec == "h264"
    assert (v.width, v.height) == (1920, 1080)
    assert v.fps == pytest.approx(30.0)
    assert v.rotation == 0
    assert v.sample_aspect == Fraction(1)
    assert v.pix_fmt == "yuv420p"
    assert v.display_size == (1920, 1080)
    a = result.audio
    assert a is not None
    assert (a.codec, a.channels, a.sample_rate) == ("aac", 2, 48000)


@pytest.mark.parametrize(
    ("codec", "field_order", "interlaced"),
    [
        ("h264", "progressive", False),
        ("mpeg2video", "tt", True),  # DVB, DVD: top field first
        ("mpeg2video", "bb", True),
        ("h264", "tb", True),  # coded one way, shown the other
        ("h264", None, False),  # not stated: taken as frames
        ("dvvideo", "unknown", True),  # DV states none at probe time; its standard is fields
        ("dvvideo", "progressive", False),
    ],
)
def test_interlacing_is_read_from_the_field_order(
    codec: str, field_order: str | None, interlaced: bool
) -> None:
    doc = mp4_doc({"codec_name": codec, "field_order": field_order})
    video = parse_probe(probe_doc(doc)).video
    assert video is not None
    assert video.interlaced is interlaced


def test_cover_art_is_not_a_video_stream() -> None:
    # An M4A/MP3 with embedded artwork: the picture is a "video" stream with attached_pic.
    cover = {
        "index": 1,
        "codec_name": "mjpeg",
        "codec_type": "video",
        "width": 600,
        "height": 600,
        "pix_fmt": "yuvj420p",
        "r_frame_rate": "90000/1",
        "avg_frame_rate": "0/0",
        "time_base": "1/90000",
        "disposition": {"default": 0, "attached_pic": 1, "still_image": 0},
        "tags": {"comment": "Cover (front)"},
    }
    doc = {
        "streams": [copy.deepcopy(AAC_STREAM), cover],
        "format": {**MP4_FORMAT, "format_name": "mp3", "duration": "183.144000"},
    }
    result = parse_probe(probe_doc(doc))
    assert result.video is None
    assert result.audio is not None
    assert result.duration == pytest.approx(183.144)


def test_attached_pic_disposition_alone_excludes_a_stream() -> None:
    cover = {**copy.deepcopy(H264_STREAM), "disposition": {"attached_pic": 1}}
    doc = {"streams": [cover, copy.deepcopy(AAC_STREAM)], "format": dict(MP4_FORMAT)}
    assert parse_probe(probe_doc(doc)).video is None


def test_first_real_video_stream_after_cover_art_is_used() -> None:
    cover = {**copy.deepcopy(H264_STREAM), "codec_name": "png", "width": 300, "height": 300}
    cover["disposition"] = {"attached_pic": 1}
    doc = {"streams": [cover, copy.deepcopy(H264_STREAM)], "format": dict(MP4_FORMAT)}
    v = parse_probe(probe_doc(doc)).video
    assert v is not None
    assert (v.codec, v.width) == ("h264", 1920)


def test_mjpeg_video_in_a_container_is_video() -> None:
    doc = mp4_doc(video={"codec_name": "mjpeg", "pix_fmt": "yuvj420p"})
    doc["format"]["format_name"] = "avi"
    result = parse_probe(probe_doc(doc))
    assert result.video is not None
    assert result.video.codec == "mjpeg"


def test_still_accepts_a_single_mjpeg_image() -> None:
    # ffprobe on poster.jpg: image2 demuxer, one mjpeg "video" stream, no duration.
    doc = {
        "streams": [
            {
                "index": 0,
                "codec_name": "mjpeg",
                "codec_long_name": "Motion JPEG",
                "profile": "Baseline",
                "codec_type": "video",
                "width": 640,
                "height": 360,
                "pix_fmt": "yuvj420p",
                "sample_aspect_ratio": "1:1",
                "r_frame_rate": "25/1",
                "avg_frame_rate": "0/0",
                "time_base": "1/25",
                "disposition": {"default": 0, "attached_pic": 0, "still_image": 0},
            }
        ],
        "format": {
            "filename": "file:/tmp/ffapi/j-x/out/poster.jpg",
            "nb_streams": 1,
            "format_name": "image2",
            "size": "23456",
            "probe_score": 50,
        },
    }
    result = parse_probe(probe_doc(doc), still=True)
    assert result.format_name == "image2"
    assert result.duration == 0.0
    assert result.size == 23456
    assert result.audio is None
    v = result.video
    assert v is not None
    assert (v.codec, v.width, v.height) == ("mjpeg", 640, 360)
    assert v.fps == pytest.approx(25.0)  # avg 0/0 falls back to r_frame_rate
    # Without still=True an image is not a video source.
    with pytest.raises(InvalidMedia):
        parse_probe(probe_doc(doc))


def test_every_stream_is_described_for_the_preflight() -> None:
    cover = {
        "index": 2,
        "codec_name": "png",
        "codec_type": "video",
        "width": 16000,
        "height": 9000,
        "disposition": {"attached_pic": 1},
    }
    subtitle = {"index": 3, "codec_name": "mov_text", "codec_type": "subtitle", "duration": "9.5"}
    timecode = {"index": 4, "codec_name": None, "codec_type": "data"}
    font = {"index": 5, "codec_name": "ttf", "codec_type": "attachment"}
    doc = mp4_doc()
    doc["streams"] += [cover, subtitle, timecode, font]
    result = parse_probe(probe_doc(doc))
    kinds = [(s.index, s.kind, s.codec) for s in result.streams]
    assert kinds == [
        (0, "video", "h264"),
        (1, "audio", "aac"),
        (2, "video", "png"),
        (3, "subtitle", "mov_text"),
        (4, "data", "unknown"),
        (5, "attachment", "ttf"),
    ]
    assert [result.count(k) for k in ("video", "audio", "subtitle", "data", "attachment")] == [
        2,
        1,
        1,
        1,
        1,
    ]
    art = result.streams[2]
    assert (art.width, art.height, art.attached) == (16000, 9000, True)
    assert result.video is not None
    assert result.video.index == 0
    assert result.video.fps == pytest.approx(30.0)


def test_stream_facts_survive_garbage() -> None:
    doc = mp4_doc()
    doc["streams"].append({"index": "x", "codec_type": 7, "width": -5, "duration": "nan"})
    doc["streams"].append("not a stream")
    facts = parse_probe(probe_doc(doc)).streams
    assert len(facts) == 3
    assert (facts[2].index, facts[2].kind, facts[2].width, facts[2].duration) == (0, "7", 0, 0.0)


def test_public_probe_keeps_facts_and_drops_paths_and_tags() -> None:
    doc = mp4_doc()
    doc["format"]["tags"] = {"location": "+48.8584+002.2945/", "encoder": "Lavf"}
    doc["streams"][0]["tags"] = {"language": "eng", "handler_name": "Core Media Video"}
    public = json.loads(json.dumps(public_probe(probe_doc(doc))))
    # Everything else as ffprobe printed it, field for field ("10.010000" stays a string).
    video = {**doc["streams"][0], "tags": {"language": "eng"}}
    audio = {**doc["streams"][1], "tags": {"language": "und"}}
    fmt = {k: v for k, v in doc["format"].items() if k not in ("filename", "tags")}
    assert public == {"streams": [video, audio], "format": fmt}
