"""core.diagnose: ffmpeg stderr (as ffmpeg 5.1 prints it) -> error code and retryable flag."""

from __future__ import annotations

import pytest

from core.diagnose import classify_ffmpeg_failure, stderr_tail
from core.errors import InvalidMedia, ResourceExhausted, TranscodeFailed

INPUT = "file:/tmp/ffapi/j-0123456789abcdef01234567/input"
OUTPUT = "file:/tmp/ffapi/j-0123456789abcdef01234567/out/video.mp4"

INVALID_DATA = f"{INPUT}: Invalid data found when processing input\n"

MOOV_MISSING = (
    "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c3a1e2c0] moov atom not found\n"
    f"{INPUT}: Invalid data found when processing input\n"
)

MOOV_ONLY = "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5601f2b3c4c0] moov atom not found\n"

DISK_FULL = (
    "[libx264 @ 0x5581a2b9e900] using cpu capabilities: MMX2 SSE2Fast SSSE3 SSE4.2 AVX FMA3"
    " BMI2 AVX2\n"
    "[mp4 @ 0x5581a2b9d1c0] Error writing trailer of "
    f"{OUTPUT}: No space left on device\n"
    "[aac @ 0x5581a2ba3c00] Qavg: 1021.347\n"
    "Conversion failed!\n"
)

DISK_FULL_MUXING = (
    "av_interleaved_write_frame(): No space left on device\n"
    f"[out#0/mp4 @ 0x55e4] Error muxing a packet\nError writing trailer of {OUTPUT}: "
    "No space left on device\nConversion failed!\n"
)

NO_MEMORY = (
    "[libx264 @ 0x55f3c8a2b440] malloc of size 4147200 failed\n"
    "Error initializing output stream 0:0 -- Error while opening encoder for output stream "
    "#0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n"
    "[aac @ 0x55f3c8a2d980] Qavg: nan\n"
    "Cannot allocate memory\n"
)

UNKNOWN = (
    "[libx264 @ 0x5628d9f3a640] broken ffmpeg default settings detected\n"
    "[libx264 @ 0x5628d9f3a640] use an encoding preset (e.g. -vpre medium)\n"
    "Error initializing output stream 0:0 -- Error while opening encoder for output stream "
    "#0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n"
    "Conversion failed!\n"
)

CORRUPT = (
    "[h264 @ 0x55b1e0c4f240] Invalid NAL unit size (1347183 > 24012).\n"
    "[h264 @ 0x55b1e0c4f240] Error splitting the input into NAL units.\n"
    "Error while decoding stream #0:0: Invalid data found when processing input\n"
)

WHITELIST = (
    f"[hls @ 0x55c7d0a3f700] Protocol 'http' not on whitelist 'file'!\n{INPUT}: Invalid argument\n"
)


@pytest.mark.parametrize(
    ("stderr", "error_type", "code", "retryable"),
    [
        (INVALID_DATA, InvalidMedia, "invalid_media", False),
        (MOOV_MISSING, InvalidMedia, "invalid_media", False),
        (MOOV_ONLY, InvalidMedia, "invalid_media", False),
        (CORRUPT, InvalidMedia, "invalid_media", False),
        (WHITELIST, InvalidMedia, "invalid_media", False),
        (DISK_FULL, ResourceExhausted, "resource_exhausted", True),
        (DISK_FULL_MUXING, ResourceExhausted, "resource_exhausted", True),
        (NO_MEMORY, ResourceExhausted, "resource_exhausted", True),
        (UNKNOWN, TranscodeFailed, "transcode_failed", True),
        ("", TranscodeFailed, "transcode_failed", True),
        ("Killed\n", TranscodeFailed, "transcode_failed", True),
    ],
    ids=[
        "invalid-data",
        "moov-missing",
        "moov-only",
        "corrupt-nal",
        "protocol-whitelist",
        "disk-full-trailer",
        "disk-full-muxing",
        "no-memory",
        "unknown",
        "empty",
        "killed",
    ],
)
def test_classify(stderr: str, error_type: type, code: str, retryable: bool) -> None:
    err = classify_ffmpeg_failure(stderr)
    assert type(err) is error_type
    assert err.code == code
    assert err.retryable is retryable
    body = err.to_dict()
    assert body["code"] == code
    assert body["retryable"] is retryable
    assert body["message"].startswith("ffmpeg failed")


def test_classification_ignores_case() -> None:
    assert classify_ffmpeg_failure("NO SPACE LEFT ON DEVICE").code == "resource_exhausted"


def test_resource_exhaustion_wins_over_media_errors() -> None:
    # Disk full while writing can surface alongside decoder noise; retry, don't fail the job.
    err = classify_ffmpeg_failure(CORRUPT + DISK_FULL)
    assert err.code == "resource_exhausted"
    assert err.retryable is True


def test_tool_name_appears_in_the_message() -> None:
    err = classify_ffmpeg_failure(MOOV_MISSING, tool="ffprobe")
    assert err.message.startswith("ffprobe failed")
    assert err.code == "invalid_media"


def test_error_carries_the_stderr_tail() -> None:
    err = classify_ffmpeg_failure(DISK_FULL)
    assert err.stderr_tail is not None
    assert err.stderr_tail.endswith("Conversion failed!")
    assert err.to_dict()["stderr_tail"] == err.stderr_tail


def test_cause_early_in_a_long_stderr_is_still_found() -> None:
    noise = "".join(f"frame={i} fps=30 q=28.0 size=  {i}kB time=00:00:01.00\n" for i in range(500))
    err = classify_ffmpeg_failure(MOOV_ONLY + noise + "Conversion failed!\n")
    assert err.code == "invalid_media"
    assert err.stderr_tail is not None
    assert "moov" not in err.stderr_tail  # the tail is bounded; the match used everything
    assert len(err.stderr_tail) <= 2000


def test_stderr_tail_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(100)) + "\n"
    tail = stderr_tail(text)
    lines = tail.splitlines()
    assert lines[-1] == "line 99"
    assert lines == [f"line {i}" for i in range(88, 100)]
    assert stderr_tail(text, lines=3) == "line 97\nline 98\nline 99"


def test_stderr_tail_of_short_text_is_the_stripped_text() -> None:
    assert stderr_tail("  \nonly line\n\n") == "only line"
    assert stderr_tail("") == ""


def test_stderr_tail_is_bounded_for_a_megabyte_of_lines() -> None:
    line = "x" * 1023 + "\n"
    text = line * 1023 + "the last line\n"
    assert len(text) >= 1_000_000
    tail = stderr_tail(text)
    assert len(tail) <= 2000
    assert tail.endswith("the last line")


def test_stderr_tail_is_bounded_for_a_megabyte_single_line() -> None:
    text = "y" * 1_000_000 + "END"
    tail = stderr_tail(text)
    assert len(tail) == 2000
    assert tail.endswith("END")


def test_a_refused_container_is_unsupported_not_retried() -> None:
    stderr = (
        "[hls @ 0x55d1] Format not on whitelist 'mov,matroska'\nfile:/x/source: Invalid argument\n"
    )
    error = classify_ffmpeg_failure(stderr, tool="ffprobe")
    assert error.code == "unsupported_format"
    assert error.retryable is False
