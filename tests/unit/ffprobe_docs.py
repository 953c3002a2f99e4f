"""ffprobe documents shaped like the real thing, for the core.media.probe tests.

The documents below follow ``ffprobe -print_format json -show_format -show_streams`` output
(ffmpeg 5.1) for an H.264/AAC MP4, trimmed of fields the parser ignores only where noted;
`mp4_doc` builds one with a test's overrides.
"""

from __future__ import annotations

import copy
from typing import Any

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
