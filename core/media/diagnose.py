"""Classify an ffmpeg/ffprobe failure by its stderr text, never by its exit code.

Exit codes differ between ffmpeg builds (Debian's 5.1 and newer static builds disagree);
the messages are stable. Unknown causes are retryable: the DLQ bounds them, nothing is lost.
"""

from __future__ import annotations

import re
import signal

from core.errors import (
    AcceleratorFailed,
    CpuTimeExceeded,
    FfapiError,
    FrameTooLarge,
    InvalidMedia,
    MemoryLimitExceeded,
    OutputTooLarge,
    ResourceExhausted,
    TooManyStreams,
    TranscodeFailed,
    UnsupportedCodec,
    UnsupportedFormat,
)
from core.media.hardening import ResourceLimits

# GPU-class causes come first: a CUDA out-of-memory must not read as the host's, and a GPU
# failure must not read as a corrupt input. Each names the reason a fallback records.
_GPU_RULES: tuple[tuple[str, str, str], ...] = (
    (r"OpenEncodeSessionEx failed", "nvenc_session_failed",
     "no NVENC session (the card's session limit, or its memory)"),
    (r"No (NVENC )?capable devices found|Unknown encoder '\w+_nvenc'", "nvenc_unavailable",
     "no NVENC encoder on this device or build"),
    (r"Cannot load libcuda|Could not dynamically load CUDA", "cuda_unavailable",
     "the CUDA driver cannot be loaded (no GPU visible)"),
    (r"CUDA_ERROR_OUT_OF_MEMORY|(cuda|nvenc|cuvid|nvdec).*out of memory", "gpu_out_of_memory",
     "the GPU ran out of memory"),
    (r"CUDA_ERROR_\w+", "cuda_error", "a CUDA call failed"),
    (r"hwaccel initialisation returned error|Hardware is lacking required capabilities",
     "nvdec_unsupported", "NVDEC cannot decode this stream"),
    (r"Device creation failed|Device setup failed|No device available for decoder",
     "gpu_device_failed", "the CUDA device could not be set up"),
    (r"Impossible to convert between the formats supported by the filter '[^']*"
     r"(cuda|hwupload|hwdownload)", "gpu_filter_failed", "a CUDA filter refused the frames"),
)  # fmt: skip
_GPU_PATTERNS = tuple((re.compile(p, re.IGNORECASE), r, why) for p, r, why in _GPU_RULES)

# What the input guard (core/media/hardening.py) refused, first: "max_streams" comes with a
# "Cannot allocate memory" that must not read as the host's.
_PIXELS = r"exceeds specified max pixel count"
_GUARD_RULES: tuple[tuple[str, type[FfapiError], str], ...] = (
    (
        r"Codec \((?P<decoder>[\w-]+)\) not on whitelist",
        UnsupportedCodec,
        "a codec off the allowlist",
    ),
    (_PIXELS, FrameTooLarge, "a picture larger than the pixel cap"),
    (r"exceeds max_streams parameter", TooManyStreams, "more streams than the cap"),
)
_RULES: tuple[tuple[str, type[FfapiError], str], ...] = (
    *_GUARD_RULES,
    (r"File too large", OutputTooLarge, "an output file reached the file-size cap"),
    (r"No space left on device", ResourceExhausted, "the job directory ran out of disk"),
    (
        r"Cannot allocate memory|Out of memory|malloc of size \d+ failed",
        ResourceExhausted,
        "out of memory",
    ),
    (r"Format not on whitelist", UnsupportedFormat, "container format not accepted"),
    (r"Invalid data found when processing input", InvalidMedia, "not a readable media file"),
    (r"moov atom not found", InvalidMedia, "truncated or incomplete MP4/MOV"),
    (r"missing mandatory atoms, broken header", InvalidMedia, "a broken MP4/MOV header"),
    # ffprobe read the headers, but not one frame of the stream decodes (a damaged index)
    (r"Cannot determine format of input stream", InvalidMedia, "no frame of a stream decodes"),
    (r"could not find codec parameters", InvalidMedia, "stream parameters unreadable"),
    (r"Unknown input format", InvalidMedia, "unknown input format"),
    (r"does not contain any stream", InvalidMedia, "no usable stream"),
    (r"Protocol '\w+' not on whitelist", InvalidMedia, "input references other resources"),
    (r"Error while decoding|corrupt decoded frame|Invalid NAL unit", InvalidMedia, "corrupt media"),
    # ffmpeg 5.1 sets a filter graph up once each input has a frame; when a stream decodes
    # to nothing, that is at the end, and the audio encoder is handed frames longer than its
    # own before their size is set. The same input does it again.
    (r"more samples than frame size", InvalidMedia, "a stream of which no frame decodes"),
    # A stream whose rate reads as zero (an MPEG-TS cut before its audio's first frame): the
    # filter graph's input cannot take the time base 1/0.
    (r"Error setting option time_base to value \d+/0\b", InvalidMedia, "a stream rated zero"),
)
_PATTERNS = tuple((re.compile(p, re.IGNORECASE), err, why) for p, err, why in _RULES)
_GUARD_PATTERNS = _PATTERNS[: len(_GUARD_RULES)]


def classify_ffmpeg_failure(stderr: str, *, tool: str = "ffmpeg") -> FfapiError:
    tail = stderr_tail(stderr)
    for pattern, reason, why in _GPU_PATTERNS:
        if match := pattern.search(stderr):
            # the line that said so, which the tail may have scrolled past
            line = _line_of(stderr, match.start())
            return AcceleratorFailed(
                f"{tool} failed: {why}: {line}", reason=reason, stderr_tail=tail
            )
    for pattern, error, why in _PATTERNS:
        if match := pattern.search(stderr):
            return error(f"{tool} failed: {_named(why, match)}", stderr_tail=tail)
    return TranscodeFailed(f"{tool} failed for an unrecognised reason", stderr_tail=tail)


def _named(why: str, match: re.Match[str]) -> str:
    """``why``, and the decoder the stderr named (the tail is mostly the allowlist itself)."""
    decoder = match.groupdict().get("decoder")
    return f"{why} (decoder {decoder})" if decoder else why


_PIXELS_PATTERN = re.compile(_PIXELS, re.IGNORECASE)
# How a process reports that RLIMIT_AS refused it memory: libav* (ENOMEM), x264, the dynamic
# loader (a library that no longer fits), a C++ library (std::bad_alloc).
_NO_MEMORY = re.compile(
    r"Cannot allocate memory|Out of memory|malloc of size \d+ failed|"
    r"failed to map segment from shared object|std::bad_alloc",
    re.IGNORECASE,
)
# ffmpeg catches SIGXCPU, stops, and exits 255 (saying why only at -loglevel info); after a
# fourth signal it writes this, whatever the log level. ffprobe dies of SIGXCPU itself.
_CPU_SIGNALS = re.compile(r"received signal 24|Received > 3 system signals", re.IGNORECASE)
_FFMPEG_SIGNAL_EXIT = 255
_CRASHES = frozenset({-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS})


def limit_breach(
    stderr: str, code: int, limits: ResourceLimits, *, tool: str = "ffmpeg"
) -> FfapiError | None:
    """The failure a process's own limits explain, or None. Asked for every exit, 0 too:
    ffmpeg carries on past decode errors, so a picture over the pixel cap, or frames the
    memory cap refused, can end in a "successful" run that is missing them."""
    tail = stderr_tail(stderr)
    if match := _PIXELS_PATTERN.search(stderr):
        return FrameTooLarge(
            f"{tool} refused a picture: {_line_of(stderr, match.start())}", stderr_tail=tail
        )
    if code == 0:
        return _memory(stderr, code, limits, tool)
    for pattern, error, why in _GUARD_PATTERNS:  # the guard's refusals, not the limits'
        if match := pattern.search(stderr):
            return error(f"{tool} failed: {_named(why, match)}", stderr_tail=tail)
    cpu_exit = code in (_FFMPEG_SIGNAL_EXIT, -signal.SIGXCPU) or _CPU_SIGNALS.search(stderr)
    if limits.cpu_seconds is not None and code != 0 and cpu_exit:
        return CpuTimeExceeded(
            f"{tool} used its {limits.cpu_seconds} s of CPU time and was stopped",
            stderr_tail=tail,
        )
    if (memory := _memory(stderr, code, limits, tool)) is not None:
        return memory
    if limits.file_bytes is not None and "File too large" in stderr:
        return OutputTooLarge(
            f"{tool} wrote a file up to its {limits.file_bytes} byte cap", stderr_tail=tail
        )
    return None


def _memory(stderr: str, code: int, limits: ResourceLimits, tool: str) -> FfapiError | None:
    if limits.memory_bytes is None:
        return None
    if not (_NO_MEMORY.search(stderr) or code in _CRASHES):
        return None
    return MemoryLimitExceeded(
        f"{tool} needed more than its {limits.memory_bytes // 1024**2} MiB of address space",
        stderr_tail=stderr_tail(stderr),
    )


def _line_of(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end >= 0 else len(text)].strip()[:300]


def stderr_tail(stderr: str, lines: int = 12, limit: int = 2000) -> str:
    return "\n".join(stderr.strip().splitlines()[-lines:])[-limit:]
