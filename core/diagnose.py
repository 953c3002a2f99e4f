"""Classify an ffmpeg/ffprobe failure by its stderr text, never by its exit code.

Exit codes differ between ffmpeg builds (Debian's 5.1 and newer static builds disagree);
the messages are stable. Unknown causes are retryable: the DLQ bounds them, nothing is lost.
"""

from __future__ import annotations

import re

from core.errors import (
    AcceleratorFailed,
    FfapiError,
    InvalidMedia,
    ResourceExhausted,
    TranscodeFailed,
    UnsupportedFormat,
)

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

_RULES: tuple[tuple[str, type[FfapiError], str], ...] = (
    (r"No space left on device", ResourceExhausted, "the job directory ran out of disk"),
    (r"Cannot allocate memory|Out of memory", ResourceExhausted, "out of memory"),
    (r"Format not on whitelist", UnsupportedFormat, "container format not accepted"),
    (r"Invalid data found when processing input", InvalidMedia, "not a readable media file"),
    (r"moov atom not found", InvalidMedia, "truncated or incomplete MP4/MOV"),
    (r"could not find codec parameters", InvalidMedia, "stream parameters unreadable"),
    (r"Unknown input format", InvalidMedia, "unknown input format"),
    (r"does not contain any stream", InvalidMedia, "no usable stream"),
    (r"Protocol '\w+' not on whitelist", InvalidMedia, "input references other resources"),
    (r"Error while decoding|corrupt decoded frame|Invalid NAL unit", InvalidMedia, "corrupt media"),
)
_PATTERNS = tuple((re.compile(p, re.IGNORECASE), err, why) for p, err, why in _RULES)


def classify_ffmpeg_failure(stderr: str, *, tool: str = "ffmpeg") -> FfapiError:
    tail = stderr_tail(stderr)
    for pattern, reason, why in _GPU_PATTERNS:
        if match := pattern.search(stderr):
            # the line that said so, which the tail may have scrolled past
            line = _line_of(stderr, match.start())
            return AcceleratorFailed(f"{tool} failed: {why}: {line}", reason=reason,
                                     stderr_tail=tail)  # fmt: skip
    for pattern, error, why in _PATTERNS:
        if pattern.search(stderr):
            return error(f"{tool} failed: {why}", stderr_tail=tail)
    return TranscodeFailed(f"{tool} failed for an unrecognised reason", stderr_tail=tail)


def _line_of(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end >= 0 else len(text)].strip()[:300]


def stderr_tail(stderr: str, lines: int = 12, limit: int = 2000) -> str:
    return "\n".join(stderr.strip().splitlines()[-lines:])[-limit:]
