"""NTSC sources whole, through the worker (S3 -> ffmpeg -> packager -> QC -> S3): every segment
but the last lasts one GOP of whole frames, ``ceil(4 s * rate)`` frames (4.004 s at 29.97 and
at 23.976), so the dash muxer cuts at every keyframe and QC passes.

Forced at multiples of 4 s instead, the keyframes at 30000/1001 were 119 frames apart once
(960 -> 1079), the muxer skipped that one and wrote a 7.97 s segment, and QC rejected every
NTSC source over ~36 s: these clips (44 s, 320x180 so that they are quick) are past that.
"""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from .conftest import Stack
from .test_streaming import dash_files, hls_files, publish

pytestmark = pytest.mark.integration
SECONDS = 44
RATES = {"30000/1001": 120, "24000/1001": 96}  # the GOP of 4 s segments, in frames


def ntsc_clip(folder: Path, rate: str) -> Path:
    out = folder / f"ntsc-{rate.replace('/', '-')}.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={rate}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-shortest", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


def check_gops(durations: list[float], gop_seconds: float, what: str) -> None:
    """Whole GOPs, then a short last one (44 s: ten of 4.004 s, or seven of 6.006 s)."""
    assert len(durations) == math.ceil(SECONDS / gop_seconds), (what, durations)
    assert all(abs(d - gop_seconds) < 1e-3 for d in durations[:-1]), (what, durations)
    assert 0 < durations[-1] <= gop_seconds, what


@pytest.mark.parametrize("rate", sorted(RATES))
def test_a_long_ntsc_cmaf_package_is_cut_at_every_gop_and_passes_qc(
    stack: Stack, tmp_path: Path, rate: str
) -> None:
    gop_seconds = float(RATES[rate] / Fraction(rate))
    pub = publish(stack, ntsc_clip(tmp_path, rate), "web-hls", tmp_path)
    assert pub.data["qc"]["passed"], pub.data["qc"]
    master, medias = hls_files(pub, "cmaf/master.m3u8")
    for playlist in master.playlists:
        video = medias[playlist.uri]
        check_gops([s.duration for s in video.segments], gop_seconds, playlist.uri)
        assert video.target_duration >= max(round(s.duration) for s in video.segments)
    for rep, (_, seconds, info) in dash_files(pub.local / "cmaf" / "manifest.mpd").items():
        if info.width:  # the video's; the audio is cut there too, on AAC frames
            check_gops(seconds, gop_seconds, f"representation {rep}")


def test_a_long_ntsc_hls_ts_package_is_cut_at_every_gop_and_passes_qc(
    stack: Stack, tmp_path: Path
) -> None:
    """The hls muxer cuts at a keyframe once the stream has run ``number * hls_time``: every
    GOP passes it (hls-ts has 6 s segments: 180 frames, 6.006 s)."""
    pub = publish(stack, ntsc_clip(tmp_path, "30000/1001"), "hls-ts", tmp_path)
    assert pub.data["qc"]["passed"], pub.data["qc"]
    master, medias = hls_files(pub, "hls/master.m3u8")
    for playlist in master.playlists:
        check_gops([s.duration for s in medias[playlist.uri].segments], 180 * 1001 / 30000,
                   playlist.uri)  # fmt: skip
