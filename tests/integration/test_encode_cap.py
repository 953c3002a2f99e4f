"""A 2 s MPEG-TS whose middle frame is stamped three hours late (one damaged byte does it):
the real ffmpeg, run with the worker's own argv, stops where the file says it ends instead
of filling three hours with copies of a frame (it did, until the timeout)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from core.media.plan import encode_cap, plan_mp4
from core.media.probe import ProbeResult, parse_probe
from core.presets import Mp4Preset, StreamingPreset, builtin_catalog
from core.streaming.playlists import read_master, read_media
from core.streaming.renditions import plan_streaming
from infra.ffmpeg import FfmpegMedia
from tests.security.hostile import FFMPEG, jump_pts

pytestmark = pytest.mark.integration

CATALOG = builtin_catalog().presets
TIMEOUT = 120  # it finishes in under a second; unbounded, it would run for this long


@pytest.fixture(scope="module")
def late_frame(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ProbeResult]:
    root = tmp_path_factory.mktemp("late")
    clip = root / "clip.ts"
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-f", "mpegts", f"file:{clip}"], check=True)  # fmt: skip
    source = root / "late.ts"
    source.write_bytes(jump_pts(clip.read_bytes(), 3 * 3600))
    probe = parse_probe(asyncio.run(FfmpegMedia().probe(source)))
    assert probe.stated_duration < 3  # the damage is invisible to the probe and the preflight
    return source, probe


def seconds_of(path: Path) -> dict[str, float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_type,duration", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(out)["streams"]}


def test_the_mp4_stops_at_the_cap(late_frame: tuple[Path, ProbeResult], tmp_path: Path) -> None:
    source, probe = late_frame
    preset = CATALOG["mp4-480p"]
    assert isinstance(preset, Mp4Preset)
    plan = plan_mp4(preset, probe, PurePosixPath(source), PurePosixPath(tmp_path))
    asyncio.run(FfmpegMedia().transcode(plan.argv, tmp_path, TIMEOUT, None))
    lengths = seconds_of(tmp_path / "video.mp4")
    assert set(lengths) == {"video", "audio"}
    assert max(lengths.values()) <= encode_cap(probe)  # 5 s at most, not three hours
    assert (tmp_path / "poster.jpg").stat().st_size > 0


def test_the_ladder_stops_where_the_video_does(
    late_frame: tuple[Path, ProbeResult], tmp_path: Path
) -> None:
    source, probe = late_frame
    preset = CATALOG["web-hls"]
    assert isinstance(preset, StreamingPreset)
    plan = plan_streaming(preset, probe, PurePosixPath(source), PurePosixPath(tmp_path))
    for name in plan.directories:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    asyncio.run(FfmpegMedia().transcode(plan.argv, tmp_path, TIMEOUT, None))
    package = tmp_path / plan.package_dir
    master = read_master((tmp_path / plan.master).read_text())
    lengths = [read_media(uri, (package / uri).read_text()).duration for uri in master.media_uris]
    assert len(lengths) == len(plan.video) + len(plan.audio)
    assert probe.video is not None
    assert max(lengths) <= probe.video.start + probe.video.duration + 0.1
    assert len(list((tmp_path / "thumbnails").glob("thumb-*.jpg"))) == 1  # one per 10 s of picture
