"""Synthetic sources for the ladder's integration tests, each made on the spot by the real ffmpeg.

Every kind lasts ``seconds`` (video and audio alike), moves (lavfi ``testsrc2`` at 30 fps) and is
encoded as fast as libx264 allows, so a test can afford to make the ones it needs. Checked against
Debian's ffmpeg 5.1; the notes below say where that version matters.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_KINDS: tuple[str, ...] = (
    "landscape-1080p",
    "hd-720p",
    "portrait-rotated",
    "odd-1279x719",
    "ten-bit",
    "no-audio",
    "audio-only",
)

FPS = 30
SAMPLE_RATE = 48_000
TIMEOUT = 120.0

_FFMPEG = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")
_X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS))
_AAC = ("-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", str(SAMPLE_RATE))
# HDR10-style signalling: BT.2020 primaries and matrix, PQ transfer, limited range.
_PQ = ("-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc")
_PQ_RANGE = ("-color_range", "tv")
# ffmpeg 5.1 has no -display_rotation, and on an encode it drops `-metadata:s:v rotate=N`
# without a word. On a stream copy it turns the tag into a display matrix set to -N degrees,
# so rotate=-90 writes the matrix a phone writes for a portrait clip shot in landscape: ffprobe
# shows "rotation": -90 and players turn the 1280x720 samples 90 degrees clockwise, to 720x1280.
# (rotate=90 gives "rotation": 90, the same size turned the other way.)
_PORTRAIT_ROTATE = "-90"


@dataclass(frozen=True)
class _Spec:
    size: str | None  # None: no video stream
    pix_fmt: str = "yuv420p"
    audio: bool = True
    extra: tuple[str, ...] = ()
    rotate: str | None = None
    suffix: str = ".mp4"


_SPECS: dict[str, _Spec] = {
    "landscape-1080p": _Spec("1920x1080"),
    "hd-720p": _Spec("1280x720"),
    "portrait-rotated": _Spec("1280x720", rotate=_PORTRAIT_ROTATE),
    # libx264 wants even sizes for 4:2:0 but not for 4:4:4 (High 4:4:4 Predictive). testsrc2
    # rounds its size down to its pixel format's chroma grid, hence the format filter in the graph.
    "odd-1279x719": _Spec("1279x719", pix_fmt="yuv444p"),
    # 1080p, like the top rung; libx264 encodes High 10 without complaint.
    "ten-bit": _Spec(
        "1920x1080", pix_fmt="yuv420p10le", extra=("-profile:v", "high10", *_PQ, *_PQ_RANGE)
    ),
    "no-audio": _Spec("1280x720", audio=False),
    # No video input at all, so there is nothing that could become cover art.
    "audio-only": _Spec(None, suffix=".m4a"),
}
assert tuple(_SPECS) == SOURCE_KINDS


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=TIMEOUT)


def _ffmpeg(*args: str) -> None:
    _run([*_FFMPEG, *args])


def _video_input(size: str, pix_fmt: str, seconds: float) -> list[str]:
    graph = f"testsrc2=size={size}:rate={FPS}:duration={seconds},format={pix_fmt}"
    return ["-f", "lavfi", "-i", graph]


def _audio_input(seconds: float) -> list[str]:
    graph = f"sine=frequency=440:sample_rate={SAMPLE_RATE}:duration={seconds}"
    return ["-f", "lavfi", "-i", graph]


def make_source(kind: str, dest_dir: Path, seconds: float = 6.0) -> Path:
    """Generate the named synthetic source into ``dest_dir`` and return its path.

    The file is named after the kind (``{kind}.mp4``, or ``audio-only.m4a``) and overwritten
    if it exists.
    """
    spec = _SPECS.get(kind)
    if spec is None:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {SOURCE_KINDS}")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"{kind}{spec.suffix}"

    inputs: list[str] = []
    codecs: list[str] = []
    if spec.size is not None:
        inputs += _video_input(spec.size, spec.pix_fmt, seconds)
        codecs += ["-map", "0:v:0", *_X264, "-pix_fmt", spec.pix_fmt, *spec.extra]
    else:
        codecs += ["-vn"]
    if spec.audio:
        audio_index = 0 if spec.size is None else 1
        inputs += _audio_input(seconds)
        codecs += ["-map", f"{audio_index}:a:0", *_AAC]
    else:
        codecs += ["-an"]

    if spec.rotate is None:
        _ffmpeg(*inputs, *codecs, str(out))
        return out
    # The rotation can only be set on a stream copy (see _PORTRAIT_ROTATE): encode, then remux.
    unrotated = dest_dir / f".{kind}.unrotated{spec.suffix}"
    try:
        _ffmpeg(*inputs, *codecs, str(unrotated))
        rotate = f"rotate={spec.rotate}"
        _ffmpeg(
            "-i", str(unrotated), "-map", "0", "-c", "copy", "-metadata:s:v:0", rotate, str(out)
        )
    finally:
        unrotated.unlink(missing_ok=True)
    return out


def probe_streams(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for ``path``: ``{"streams": [...], "format": {...}}``."""
    argv = ["ffprobe", "-hide_banner", "-v", "error", "-show_format", "-show_streams"]
    proc = subprocess.run(
        [*argv, "-print_format", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
