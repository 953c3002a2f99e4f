"""Classify an ffmpeg/ffprobe failure by its stderr text, never by its exit code.

Exit codes differ between ffmpeg builds (Debian's 5.1 and newer static builds disagree);
the messages are stable. Unknown causes are retryable: the DLQ bounds them, nothing is lost.
"""

from __future__ import annotations

import re

from core.errors import (
    FfapiError,
    InvalidMedia,
    ResourceExhausted,
    TranscodeFailed,
    UnsupportedFormat,
)

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
    for pattern, error, why in _PATTERNS:
        if pattern.search(stderr):
            return error(f"{tool} failed: {why}", stderr_tail=tail)
    return TranscodeFailed(f"{tool} failed for an unrecognised reason", stderr_tail=tail)


def stderr_tail(stderr: str, lines: int = 12, limit: int = 2000) -> str:
    return "\n".join(stderr.strip().splitlines()[-lines:])[-limit:]
