"""core.probe.parse_probe on ffprobe JSON shaped like the real thing.

The documents below follow ``ffprobe -print_format json -show_format -show_streams`` output
(ffmpeg 5.1) for an H.264/AAC MP4, trimmed of fields the parser ignores only where noted.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from core.errors import InvalidMedia
from core.probe import ProbeResult, VideoStream, parse_probe, public_probe

H264_STREAM: dict[str, Any] = {
    "index": 0,
    "codec_name": "h264",
    "codec_long_name": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
    "profile": "High",
    "codec_type": "video",
    "codec_tag_string": "avc1",
    "codec_tag": "0x31637661",
    "width": 1920,
    "height": 1080,
    "coded_width": 1920,
    "coded_height": 1080,
    "closed_captions": 0,
    "film_grain": 0,
    "has_b_frames": 2,
    "sample_aspect_ratio": "1:1",
    "display_aspect_ratio": "16:9",
    "pix_fmt": "yuv420p",
    "level": 40,
    "color_range": "tv",
    "color_space": "bt709",
    "color_transfer": "bt709",
    "color_primaries": "bt709",
    "chroma_location": "left",
    "field_order": "progressive",
    "refs": 1,
    "is_avc": "true",
    "nal_length_size": "4",
    "id": "0x1",
    "r_frame_rate": "30/1",
    "avg_frame_rate": "30/1",
    "time_base": "1/15360",
    "start_pts": 0,
    "start_time": "0.000000",
    "duration_ts": 153600,
    "duration": "10.000000",
    "bit_rate": "4985142",
    "bits_per_raw_sample": "8",
    "nb_frames": "300",
    "extradata_size": 47,
    "disposition": {
        "default": 1,
        "dub": 0,
        "original": 0,
        "comment": 0,
        "lyrics": 0,
        "karaoke": 0,
        "forced": 0,
        "hearing_impaired": 0,
        "visual_impaired": 0,
        "clean_effects": 0,
        "attached_pic": 0,
        "timed_thumbnails": 0,
        "captions": 0,
        "descriptions": 0,
        "metadata": 0,
        "dependent": 0,
        "still_image": 0,
    },
    "tags": {
        "language": "und",
        "handler_name": "VideoHandler",
        "vendor_id": "[0][0][0][0]",
        "encoder": "Lavc59.37.100 libx264",
    },
}

AAC_STREAM: dict[str, Any] = {
    "index": 1,
    "codec_name": "aac",
    "codec_long_name": "AAC (Advanced Audio Coding)",
    "profile": "LC",
    "codec_type": "audio",
    "codec_tag_string": "mp4a",
    "codec_tag": "0x6134706d",
    "sample_fmt": "fltp",
    "sample_rate": "48000",
    "channels": 2,
    "channel_layout": "stereo",
    "bits_per_sample": 0,
    "id": "0x2",
    "r_frame_rate": "0/0",
    "avg_frame_rate": "0/0",
    "time_base": "1/48000",
    "start_pts": 0,
    "start_time": "0.000000",
    "duration_ts": 480000,
    "duration": "10.000000",
    "bit_rate": "128002",
    "nb_frames": "470",
    "extradata_size": 2,
    "disposition": {"default": 1, "attached_pic": 0, "still_image": 0},
    "tags": {"language": "und", "handler_name": "SoundHandler", "vendor_id": "[0][0][0][0]"},
}

MP4_FORMAT: dict[str, Any] = {
    "filename": "file:/tmp/ffapi/j-0123456789abcdef01234567/input",
    "nb_streams": 2,
    "nb_programs": 0,
    "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
    "format_long_name": "QuickTime / MOV",
    "start_time": "0.000000",
    "duration": "10.010000",
    "size": "6401234",
    "bit_rate": "5115870",
    "probe_score": 100,
    "tags": {
        "major_brand": "isom",
        "minor_version": "512",
        "compatible_brands": "isomiso2avc1mp41",
        "encoder": "Lavf59.27.100",
    },
}

DISPLAY_MATRIX = {
    "side_data_type": "Display Matrix",
    "displaymatrix": (
        "\n00000000:            0       65536           0\n"
        "00000001:       -65536           0           0\n"
        "00000002:            0           0  1073741824\n"
    ),
}


def mp4_doc(
    video: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    **format_overrides: Any,
) -> dict[str, Any]:
    v = copy.deepcopy(H264_STREAM)
    v.update(video or {})
    a = copy.deepcopy(AAC_STREAM)
    a.update(audio or {})
    fmt = copy.deepcopy(MP4_FORMAT)
    fmt.update(format_overrides)
    return {"streams": [v, a], "format": fmt}


def test_h264_aac_mp4() -> None:
    result = parse_probe(mp4_doc())
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


def test_ntsc_frame_rate() -> None:
    doc = mp4_doc(video={"r_frame_rate": "30000/1001", "avg_frame_rate": "30000/1001"})
    v = parse_probe(doc).video
    assert v is not None
    assert v.fps == pytest.approx(29.97, abs=0.001)


def test_avg_frame_rate_preferred_over_r_frame_rate() -> None:
    # A variable-frame-rate phone clip: r_frame_rate is the timebase-ish maximum.
    doc = mp4_doc(video={"r_frame_rate": "120/1", "avg_frame_rate": "14985/500"})
    v = parse_probe(doc).video
    assert v is not None
    assert v.fps == pytest.approx(29.97)


@pytest.mark.parametrize(
    ("matrix_rotation", "expected"),
    [(-90, 90), (90, 270), (180, 180), (-180, 180), (0, 0), (-270, 270)],
)
def test_rotation_from_display_matrix(matrix_rotation: int, expected: int) -> None:
    side = [{**DISPLAY_MATRIX, "rotation": matrix_rotation}]
    doc = mp4_doc(video={"side_data_list": side})
    v = parse_probe(doc).video
    assert v is not None
    assert v.rotation == expected


def test_display_matrix_wins_over_the_legacy_tag() -> None:
    side = [{**DISPLAY_MATRIX, "rotation": -90}]
    doc = mp4_doc(video={"side_data_list": side, "tags": {"rotate": "180"}})
    v = parse_probe(doc).video
    assert v is not None
    assert v.rotation == 90


def test_display_matrix_found_among_other_side_data() -> None:
    side = [
        {"side_data_type": "Stereo 3D", "type": "2D", "inverted": 0},
        {**DISPLAY_MATRIX, "rotation": -90},
    ]
    v = parse_probe(mp4_doc(video={"side_data_list": side})).video
    assert v is not None
    assert v.rotation == 90


@pytest.mark.parametrize(("tag", "expected"), [("90", 90), ("180", 180), ("270", 270)])
def test_rotation_from_legacy_rotate_tag(tag: str, expected: int) -> None:
    tags = {**H264_STREAM["tags"], "rotate": tag}
    v = parse_probe(mp4_doc(video={"tags": tags})).video
    assert v is not None
    assert v.rotation == expected


def test_phone_portrait_clip_display_size() -> None:
    # An iPhone portrait recording: coded 1920x1080, displaymatrix rotation -90.
    side = [{**DISPLAY_MATRIX, "rotation": -90}]
    v = parse_probe(mp4_doc(video={"side_data_list": side})).video
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
    v = parse_probe(doc).video
    assert v is not None
    assert v.sample_aspect == Fraction(32, 27)
    width, height = v.display_size
    assert height == 480
    assert abs(width - 720 * 32 / 27) < 1


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
    result = parse_probe(doc)
    assert result.video is None
    assert result.audio is not None
    assert result.duration == pytest.approx(183.144)


def test_attached_pic_disposition_alone_excludes_a_stream() -> None:
    cover = {**copy.deepcopy(H264_STREAM), "disposition": {"attached_pic": 1}}
    doc = {"streams": [cover, copy.deepcopy(AAC_STREAM)], "format": dict(MP4_FORMAT)}
    assert parse_probe(doc).video is None


def test_first_real_video_stream_after_cover_art_is_used() -> None:
    cover = {**copy.deepcopy(H264_STREAM), "codec_name": "png", "width": 300, "height": 300}
    cover["disposition"] = {"attached_pic": 1}
    doc = {"streams": [cover, copy.deepcopy(H264_STREAM)], "format": dict(MP4_FORMAT)}
    v = parse_probe(doc).video
    assert v is not None
    assert (v.codec, v.width) == ("h264", 1920)


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
        parse_probe(doc)
    assert info.value.code == "invalid_media"
    assert info.value.retryable is False


@pytest.mark.parametrize("duration", ["0.000000", "0", "N/A", None, "-1.5", "nan", "inf"])
def test_an_unknown_duration_is_zero_not_an_error(duration: str | None) -> None:
    # A WebM from MediaRecorder has no duration in its header; ffmpeg transcodes it fine.
    doc = mp4_doc()
    if duration is None:
        del doc["format"]["duration"]
    else:
        doc["format"]["duration"] = duration
    result = parse_probe(doc)
    assert result.duration == 0.0
    assert result.video is not None


def test_mjpeg_video_in_a_container_is_video() -> None:
    doc = mp4_doc(video={"codec_name": "mjpeg", "pix_fmt": "yuvj420p"})
    doc["format"]["format_name"] = "avi"
    result = parse_probe(doc)
    assert result.video is not None
    assert result.video.codec == "mjpeg"


def test_a_nonsense_rotate_tag_is_no_rotation() -> None:
    for value in ("nan", "inf", "-inf", "banana"):
        doc = mp4_doc(video={"tags": {"rotate": value}, "side_data_list": []})
        result = parse_probe(doc)
        assert result.video is not None
        assert result.video.rotation == 0


def test_public_probe_keeps_facts_and_drops_paths_and_tags() -> None:
    doc = mp4_doc()
    doc["format"]["tags"] = {"location": "+48.8584+002.2945/", "encoder": "Lavf"}
    doc["streams"][0]["tags"] = {"language": "eng", "handler_name": "Core Media Video"}
    public = public_probe(doc)
    assert "filename" not in public["format"]
    assert "tags" not in public["format"]
    assert public["streams"][0]["tags"] == {"language": "eng"}
    assert public["format"]["duration"] == doc["format"]["duration"]
    assert public["streams"][0]["codec_name"] == doc["streams"][0]["codec_name"]


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
    result = parse_probe(doc, still=True)
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
        parse_probe(doc)


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
    result = parse_probe(doc)
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
    "rate", ["N/A", "0/0", "30", "abc/def", "30/0", "-30/1", "", None, 30, "1/2/3"]
)
def test_garbage_frame_rates(rate: Any) -> None:
    doc = mp4_doc(video={"avg_frame_rate": rate, "r_frame_rate": rate})
    v = parse_probe(doc).video
    assert v is not None
    assert v.fps == 0.0


@pytest.mark.parametrize("size", [("N/A", 1080), (0, 1080), (1920, None), (-2, -2)])
def test_video_without_a_frame_size_is_invalid(size: tuple[Any, Any]) -> None:
    doc = mp4_doc(video={"width": size[0], "height": size[1]})
    with pytest.raises(InvalidMedia):
        parse_probe(doc)


# --------------------------------------------------------------------------- every stream


def test_every_stream_is_described_for_the_preflight() -> None:
    cover = {"index": 2, "codec_name": "png", "codec_type": "video", "width": 16000,
             "height": 9000, "disposition": {"attached_pic": 1}}  # fmt: skip
    subtitle = {"index": 3, "codec_name": "mov_text", "codec_type": "subtitle",
                "duration": "9.5"}  # fmt: skip
    timecode = {"index": 4, "codec_name": None, "codec_type": "data"}
    font = {"index": 5, "codec_name": "ttf", "codec_type": "attachment"}
    doc = mp4_doc()
    doc["streams"] += [cover, subtitle, timecode, font]
    result = parse_probe(doc)
    kinds = [(s.index, s.kind, s.codec) for s in result.streams]
    assert kinds == [(0, "video", "h264"), (1, "audio", "aac"), (2, "video", "png"),
                     (3, "subtitle", "mov_text"), (4, "data", "unknown"),
                     (5, "attachment", "ttf")]  # fmt: skip
    assert [result.count(k) for k in ("video", "audio", "subtitle", "data", "attachment")] == [
        2, 1, 1, 1, 1,
    ]  # fmt: skip
    art = result.streams[2]
    assert (art.width, art.height, art.attached) == (16000, 9000, True)
    assert result.video is not None
    assert result.video.index == 0
    assert result.video.fps == pytest.approx(30.0)


def test_the_stated_duration_is_the_longest_the_file_or_a_stream_claims() -> None:
    # A container may state one length and a stream another: ffmpeg is led by both.
    doc = mp4_doc(video={"duration": "36000.0"}, duration="10.0")
    result = parse_probe(doc)
    assert result.duration == pytest.approx(10.0)
    assert result.stated_duration == pytest.approx(36000.0)
    unknown = parse_probe(mp4_doc(video={"duration": "N/A"}, audio={"duration": None},
                                  duration="N/A"))  # fmt: skip
    assert unknown.stated_duration == 0.0


def test_stream_facts_survive_garbage() -> None:
    doc = mp4_doc()
    doc["streams"].append({"index": "x", "codec_type": 7, "width": -5, "duration": "nan"})
    doc["streams"].append("not a stream")
    facts = parse_probe(doc).streams
    assert len(facts) == 3
    assert (facts[2].index, facts[2].kind, facts[2].width, facts[2].duration) == (0, "7", 0, 0.0)
