"""The kernel limits on one ffmpeg run, hit for real with small values: each stops ffmpeg
and is reported with its own code; a real 4K HEVC ladder encode fits the default limits."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from core.errors import CpuTimeExceeded, MemoryLimitExceeded, OutputTooLarge
from core.media.hardening import ResourceLimits
from core.media.probe import parse_probe
from core.presets import StreamingPreset
from core.streaming.renditions import plan_streaming
from infra.ffmpeg import FfmpegMedia, run_argv
from infra.settings import Settings
from tests.shipped_presets import shipped

pytestmark = pytest.mark.integration

QUIET = ("ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error")


def test_the_cpu_time_limit_stops_ffmpeg_as_cpu_time_exceeded(tmp_path: Path) -> None:
    # an encode without end: only the limit (1 s of CPU) can stop it before the deadline
    endless = [*QUIET, "-f", "lavfi", "-i", "testsrc2=size=1280x720", "-c:v", "libx264",
               "-f", "null", "-"]  # fmt: skip
    with pytest.raises(CpuTimeExceeded) as info:
        asyncio.run(run_argv(endless, tmp_path, timeout=120, limits=ResourceLimits(1)))
    assert (info.value.code, info.value.retryable) == ("cpu_time_exceeded", True)


def test_the_memory_limit_stops_a_4k_encode_as_memory_limit(tmp_path: Path) -> None:
    # 700 MiB of address space: ffmpeg starts, x264 cannot get its 4K frame buffers
    encode = [*QUIET, "-f", "lavfi", "-i", "testsrc2=size=3840x2160:duration=1",
              "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-"]  # fmt: skip
    limits = ResourceLimits(memory_bytes=700 * 1024**2)
    with pytest.raises(MemoryLimitExceeded) as info:
        asyncio.run(FfmpegMedia().transcode(encode, tmp_path, 120, None, limits))
    assert (info.value.code, info.value.retryable) == ("memory_limit", False)
    assert "700 MiB" in info.value.message


def test_the_file_size_limit_stops_ffmpeg_as_output_too_large(tmp_path: Path) -> None:
    out = tmp_path / "big.mkv"
    encode = [*QUIET, "-f", "lavfi", "-i", "testsrc2=size=640x360:duration=20",
              "-c:v", "libx264", "-preset", "ultrafast", f"file:{out}"]  # fmt: skip
    limits = ResourceLimits(file_bytes=1_000_000)
    with pytest.raises(OutputTooLarge) as info:
        asyncio.run(FfmpegMedia().transcode(encode, tmp_path, 120, None, limits))
    assert (info.value.code, info.value.retryable) == ("output_too_large", False)
    assert out.stat().st_size <= 1_000_000  # a write past the limit failed; none got through


def test_the_limits_leave_an_ordinary_encode_alone(tmp_path: Path) -> None:
    out = tmp_path / "small.mp4"
    encode = [*QUIET, "-f", "lavfi", "-i", "testsrc2=size=320x240:duration=1",
              "-c:v", "libx264", "-preset", "ultrafast", f"file:{out}"]  # fmt: skip
    limits = ResourceLimits(cpu_seconds=60, memory_bytes=1024**3, file_bytes=10_000_000)
    asyncio.run(FfmpegMedia().transcode(encode, tmp_path, 120, None, limits))
    assert out.stat().st_size > 0


def test_a_4k_hevc_ladder_encode_fits_the_default_limits(tmp_path: Path) -> None:
    """The heaviest shipped job (web-hls: four x264 rungs, thumbnails, storyboard) from a
    10-bit 4K HEVC source, on the CPU tier under the limits the settings give by default."""
    source = tmp_path / "uhd.mp4"
    subprocess.run([*QUIET, "-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=30:duration=1",
                    "-f", "lavfi", "-i", "sine=duration=1:sample_rate=48000",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                    "-pix_fmt", "yuv420p10le", "-c:a", "aac", str(source)], check=True)  # fmt: skip
    media = FfmpegMedia()
    probe = parse_probe(asyncio.run(media.probe(source)))
    preset = shipped("web-hls", StreamingPreset)
    out = tmp_path / "out"
    plan = plan_streaming(preset, probe, PurePosixPath(source), PurePosixPath(out))
    for name in plan.directories:
        (out / name).mkdir(parents=True)
    limits = Settings().ffmpeg_limits()
    assert limits.memory_bytes is not None  # the CPU tier's address-space cap is on
    asyncio.run(media.transcode(plan.argv, tmp_path, 600, None, limits))
    assert (out / "cmaf" / "manifest.mpd").stat().st_size > 0
