"""The FFAPI_ settings of the media limits: read from the environment into the limits the
pipeline and the runner apply."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from infra.settings import Settings


def test_the_defaults_make_the_shipped_limits() -> None:
    limits = Settings().media_limits()
    assert (limits.max_width, limits.max_height, limits.max_pixels) == (8192, 8192, 8192 * 4320)
    assert (limits.max_streams, limits.max_attachments, limits.max_data_streams) == (32, 16, 8)
    assert limits.max_duration_seconds == 6 * 3600
    assert {"h264", "hevc", "aac", "opus", "mov_text"} <= set(limits.codecs)


def test_every_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "FFAPI_MAX_DURATION_SECONDS": "60", "FFAPI_MAX_FRAME_WIDTH": "1920",
        "FFAPI_MAX_FRAME_HEIGHT": "1080", "FFAPI_MAX_FRAME_PIXELS": "2073600",
        "FFAPI_MAX_FRAME_RATE": "60", "FFAPI_MAX_STREAMS": "4",
        "FFAPI_MAX_ATTACHMENT_STREAMS": "0", "FFAPI_MAX_DATA_STREAMS": "1",
        "FFAPI_ALLOWED_CODECS": '["h264", "aac"]', "FFAPI_MAX_INPUT_BYTES": "1000",
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    limits = Settings().media_limits()
    assert (limits.max_duration_seconds, limits.max_width, limits.max_height) == (60, 1920, 1080)
    assert (limits.max_pixels, limits.max_fps, limits.max_streams) == (2073600, 60, 4)
    assert (limits.max_attachments, limits.max_data_streams) == (0, 1)
    assert (limits.codecs, limits.max_input_bytes) == (("h264", "aac"), 1000)
    flags = limits.guard.flags()
    assert flags[flags.index("-codec_whitelist") + 1] == "h264,aac,aac_fixed"


@pytest.mark.parametrize("codecs", ['["h264,concat"]', '["H264"]', "[]", '["a b"]'])
def test_codec_names_cannot_smuggle_anything_into_the_whitelist(
    monkeypatch: pytest.MonkeyPatch, codecs: str
) -> None:
    monkeypatch.setenv("FFAPI_ALLOWED_CODECS", codecs)
    with pytest.raises(ValidationError):
        Settings()


def test_the_ffmpeg_limits_follow_the_timeout_and_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("FFAPI_TRANSCODE_TIMEOUT", "100")
    limits = Settings().ffmpeg_limits()
    assert limits.cpu_seconds == 100 * cores  # never before the wall clock would stop it
    assert limits.memory_bytes == (2048 + 512 * cores) * 1024**2
    assert limits.file_bytes == 16384 * 1024**2
    monkeypatch.setenv("FFAPI_FFMPEG_MEMORY_MB", "3000")
    monkeypatch.setenv("FFAPI_FFMPEG_MAX_FILE_MB", "10")
    limits = Settings().ffmpeg_limits()
    assert (limits.memory_bytes, limits.file_bytes) == (3000 * 1024**2, 10 * 1024**2)
    probe = Settings().probe_limits()
    assert (probe.cpu_seconds, probe.memory_bytes, probe.file_bytes) == (
        60 * cores,
        3000 * 1024**2,
        None,
    )
