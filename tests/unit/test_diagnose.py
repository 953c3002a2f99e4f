"""core.media.diagnose: ffmpeg stderr (as ffmpeg 5.1 prints it) -> error code and retryable flag."""

from __future__ import annotations

import signal

import pytest

from core.errors import InvalidMedia, ResourceExhausted, TranscodeFailed, TranscodeTimeout
from core.media.diagnose import classify_ffmpeg_failure, limit_breach, stderr_tail
from core.media.hardening import NO_LIMITS, ResourceLimits

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

# A bit-flipped moov (security suite, seed 17): ffprobe reads the headers, ffmpeg 5.1 then
# decodes no frame at all.
NO_FRAME = (
    "Cannot determine format of input stream 0:0 after EOF\nError marking filters as finished\n"
)
BROKEN_HEADER = (
    "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5601f2b3c4c0] stream 0, missing mandatory atoms, broken header\n"
)
# A Matroska cut 7 KB in (the damaged-media bench, mkv/truncate/10, web-hls): the audio
# stream ends before a frame of it decodes, and the AAC encoder gets apad's 4096 samples.
AUDIO_ENDS_AT_ONCE = (
    "[matroska,webm @ 0x55f2b6978300] File ended prematurely\n"
    "[aac @ 0x55f2b6997a80] more samples than frame size\n"
    "Error submitting audio frame to the encoder\n"
)
# An MPEG-TS cut 14 KB in, before its audio's first frame (the bench, ts/truncate/37):
# ffprobe states the AAC stream at 0 Hz, and ffmpeg 5.1 cannot set its filter input up.
ZERO_RATE = (
    "[abuffer @ 0x562a1278d2c0] Value inf for parameter 'time_base' out of range "
    "[0 - 2.14748e+09]\n"
    "    Last message repeated 1 times\n"
    "[abuffer @ 0x562a1278d2c0] Error setting option time_base to value 1/0.\n"
    "[graph_1_in_0_1 @ 0x562a1278d180] Error applying options to the filter.\n"
    "Error reinitializing filters!\n"
    "Error while filtering: Numerical result out of range\n"
    "[abuffer @ 0x562a127dd5c0] Value inf for parameter 'time_base' out of range "
    "[0 - 2.14748e+09]\n"
    "    Last message repeated 1 times\n"
    "[abuffer @ 0x562a127dd5c0] Error setting option time_base to value 1/0.\n"
    "[graph_1_in_0_1 @ 0x562a127dd480] Error applying options to the filter.\n"
    "Error configuring filter graph\n"
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
        (NO_FRAME, InvalidMedia, "invalid_media", False),
        (BROKEN_HEADER, InvalidMedia, "invalid_media", False),
        (AUDIO_ENDS_AT_ONCE, InvalidMedia, "invalid_media", False),
        (ZERO_RATE, InvalidMedia, "invalid_media", False),
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
        "no-frame-decodes",
        "broken-header",
        "audio-ends-before-a-frame",
        "zero-rate",
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


# --------------------------------------------------------------------------- input guard and limits
# stderr as ffmpeg/ffprobe 5.1 printed it here, under the guard's flags and the kernel limits

CODEC_REFUSED = (
    "[aac @ 0x555ba666d540] Codec (aac) not on whitelist 'h264'\n"
    "    Last message repeated 1 times\n"
)
PIXELS_REFUSED = (
    "[png @ 0x562aa7a9ad00] [IMGUTILS @ 0x7ffda05cb0a0] Picture size 16000x16000 exceeds "
    "specified max pixel count 35389440, see the documentation if you wish to increase it\n"
)
STREAMS_REFUSED = (
    "[matroska,webm @ 0x5650cc594580] Number of streams exceeds max_streams parameter (10), "
    "see the documentation if you wish to increase it\n"
    f"{INPUT}: Cannot allocate memory\n"
)
FILE_TOO_LARGE = (
    "av_interleaved_write_frame(): File too large\n    Last message repeated 47 times\n"
    f"Error writing trailer of {OUTPUT}: File too large\n"
    f"Error closing file {OUTPUT}: File too large\n"
)
X264_NO_MEMORY = (
    "x264 [error]: malloc of size 7088768 failed\nError submitting video frame to the encoder\n"
)
LOADER_NO_MEMORY = (
    "ffmpeg: error while loading shared libraries: libgomp.so.1: failed to map segment from "
    "shared object\n"
)
DECODER_NO_MEMORY = (  # ffmpeg carries on past decode errors: this run exits 0
    "Error while decoding stream #0:0: Cannot allocate memory\n"
    "    Last message repeated 177 times\n"
)
ALL = ResourceLimits(cpu_seconds=60, memory_bytes=1 << 30, file_bytes=1 << 20)


@pytest.mark.parametrize(
    ("stderr", "code"),
    [
        (CODEC_REFUSED, "unsupported_codec"),
        (PIXELS_REFUSED, "frame_too_large"),
        (STREAMS_REFUSED, "too_many_streams"),  # not the host's memory
        (FILE_TOO_LARGE, "output_too_large"),
    ],
)
def test_the_input_guards_refusals_are_permanent(stderr: str, code: str) -> None:
    error = classify_ffmpeg_failure(stderr, tool="ffprobe")
    assert (error.code, error.retryable) == (code, False)
    breach = limit_breach(stderr, 1, ALL)  # the limits do not hide them
    assert breach is not None
    assert breach.code == code


def test_a_codec_refusal_names_the_decoder() -> None:
    # ffprobe names it on the line it refuses it; the rest of the line is the allowlist
    stderr = (
        "[libzvbi_teletextdec @ 0x5572] Codec (libzvbi_teletextdec) not on whitelist "
        "'h264,hevc,aac'\n    Last message repeated 1 times\n"
    )
    said = "ffprobe failed: a codec off the allowlist (decoder libzvbi_teletextdec)"
    assert classify_ffmpeg_failure(stderr, tool="ffprobe").message == said
    breach = limit_breach(stderr, 1, ALL, tool="ffprobe")
    assert breach is not None
    assert breach.message == said


def test_a_picture_over_the_cap_is_refused_even_when_ffprobe_succeeds() -> None:
    # ffprobe exits 0 having zeroed the stream's size: the text is the only evidence
    breach = limit_breach(PIXELS_REFUSED, 0, NO_LIMITS, tool="ffprobe")
    assert breach is not None
    assert breach.code == "frame_too_large"
    assert "16000x16000" in breach.message


@pytest.mark.parametrize("stderr", [X264_NO_MEMORY, LOADER_NO_MEMORY, NO_MEMORY])
def test_memory_refused_under_the_address_space_cap(stderr: str) -> None:
    breach = limit_breach(stderr, 1, ALL)
    assert breach is not None
    assert (breach.code, breach.retryable) == ("memory_limit", False)
    assert "1024 MiB" in breach.message


def test_the_memory_cap_explains_a_run_that_ended_well_but_lost_frames() -> None:
    breach = limit_breach(DECODER_NO_MEMORY, 0, ALL)
    assert breach is not None
    assert breach.code == "memory_limit"
    assert limit_breach(DECODER_NO_MEMORY, 0, NO_LIMITS) is None  # no cap: not ours to say


@pytest.mark.parametrize("signal_number", [signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS])
def test_a_crash_under_the_memory_cap_is_the_cap(signal_number: int) -> None:
    # an allocation a library did not check; without the cap it is left to the runner
    breach = limit_breach("", -signal_number, ALL)
    assert breach is not None
    assert breach.code == "memory_limit"
    assert limit_breach("", -signal_number, NO_LIMITS) is None


def test_without_a_memory_cap_no_memory_stays_transient() -> None:
    assert limit_breach(X264_NO_MEMORY, 1, ResourceLimits(cpu_seconds=60)) is None
    error = classify_ffmpeg_failure(X264_NO_MEMORY)
    assert (error.code, error.retryable) == ("resource_exhausted", True)


@pytest.mark.parametrize(
    ("stderr", "exit_code"),
    [
        ("", 255),  # ffmpeg caught SIGXCPU and stopped (it says so only at -loglevel info)
        ("", -signal.SIGXCPU),  # ffprobe does not catch it
        ("Received > 3 system signals, hard exiting\n", 123),
    ],
)
def test_the_cpu_time_cap(stderr: str, exit_code: int) -> None:
    breach = limit_breach(stderr, exit_code, ALL)
    assert breach is not None
    assert (breach.code, breach.retryable) == ("cpu_time_exceeded", True)
    assert isinstance(breach, TranscodeTimeout)  # retried like the timeout it backs up
    assert limit_breach(stderr, exit_code, NO_LIMITS) is None


def test_the_file_size_cap_names_its_size() -> None:
    breach = limit_breach(FILE_TOO_LARGE, 1, ALL)
    assert breach is not None
    assert breach.code == "output_too_large"
    assert str(1 << 20) in breach.message


def test_ordinary_failures_are_not_the_limits() -> None:
    for stderr in (INVALID_DATA, MOOV_MISSING, CORRUPT, UNKNOWN):
        assert limit_breach(stderr, 1, ALL) is None
    assert limit_breach("", 0, ALL) is None
