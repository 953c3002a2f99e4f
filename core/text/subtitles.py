"""Subtitle cues as data: read from the WebVTT ffmpeg writes, cut into segments, written back.

A sidecar track is converted to WebVTT by ffmpeg (``-c:s webvtt``) from whatever the sender
gave (SRT, WebVTT, ASS/SSA, a subtitle stream of the input); what ffmpeg writes is read
here into :class:`Cue` objects. The cue text is the sender's: it is kept as WebVTT text and
nothing more, so every ``&``, ``<`` and ``>`` is escaped except the bold, italic and
underline tags ffmpeg itself writes (a ``-->`` in the text cannot end a timing line; a
``<script>`` is characters). Segmenting is ours rather than the hls muxer's: the cues go to
the package's own segment boundaries (the video playlist's), a cue that spans a boundary is
repeated in both segments, and each segment carries the ``X-TIMESTAMP-MAP`` that ties its
times to the media's first presentation time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidMedia

MAX_CUES = 20_000
MAX_CUE_CHARS = 2_000
MPEGTS_HZ = 90_000
_TIMING = re.compile(
    r"^(?:(\d{1,3}):)?(\d{2}):(\d{2})\.(\d{3})\s+-->\s+(?:(\d{1,3}):)?(\d{2}):(\d{2})\.(\d{3})"
)
_KEPT_TAG = re.compile(r"</?[biu]>")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float  # seconds on the package's timeline
    end: float
    text: str  # WebVTT cue text, already escaped: lines joined by "\n", none empty


@dataclass(frozen=True, slots=True)
class VttSegment:
    name: str  # the segment's file name, beside its playlist
    start: float
    duration: float
    cues: tuple[Cue, ...]


def parse_vtt(text: str) -> tuple[Cue, ...]:
    """The cues of a WebVTT document written by ffmpeg's webvtt encoder (no cue ids, no
    settings it did not make). Lines that belong to no timing line (an empty line inside an
    ASS event splits it) are joined to the cue before them."""
    cues: list[Cue] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line for line in block.split("\n") if line.strip()]
        timed = next((k for k, line in enumerate(lines) if _TIMING.match(line)), None)
        if timed is None:
            if cues and lines and not lines[0].startswith(("WEBVTT", "NOTE", "STYLE")):
                cues[-1] = _joined(cues[-1], lines)
            continue
        cues.append(_cue(lines[timed], lines[timed + 1 :]))
        if len(cues) > MAX_CUES:
            raise InvalidMedia(f"has more than {MAX_CUES} cues")
    return tuple(c for c in cues if c.end > c.start and c.text)


def _cue(timing: str, lines: list[str]) -> Cue:
    match = _TIMING.match(timing)
    assert match is not None  # the caller found it so
    g = match.groups()
    start = _seconds(g[0], g[1], g[2], g[3])
    end = _seconds(g[4], g[5], g[6], g[7])
    return Cue(start, end, _text(lines))


def _joined(cue: Cue, lines: list[str]) -> Cue:
    more = _text(lines)
    return Cue(cue.start, cue.end, f"{cue.text}\n{more}" if cue.text else more)


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _text(lines: Sequence[str]) -> str:
    text = "\n".join(escape_text(line.strip()) for line in lines if line.strip())
    if len(text) > MAX_CUE_CHARS:
        raise InvalidMedia(f"has a cue of more than {MAX_CUE_CHARS} characters")
    return text


def escape_text(line: str) -> str:
    """One line of cue text as WebVTT characters: only ``<b>``, ``<i>``, ``<u>`` (and their
    ends) stay markup."""
    out: list[str] = []
    at = 0
    for tag in _KEPT_TAG.finditer(line):
        out += [_escape(line[at : tag.start()]), tag.group(0)]
        at = tag.end()
    out.append(_escape(line[at:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def shifted(cues: Sequence[Cue], offset: float) -> tuple[Cue, ...]:
    """The cues ``offset`` seconds earlier (a trim's start): what ends before 0 is gone, what
    spans 0 starts there."""
    if offset <= 0:
        return tuple(cues)
    return tuple(
        Cue(max(0.0, c.start - offset), c.end - offset, c.text) for c in cues if c.end > offset
    )


def clipped(cues: Sequence[Cue], length: float) -> tuple[Cue, ...]:
    """The cues that show within ``length`` seconds, their ends cut there."""
    return tuple(Cue(c.start, min(c.end, length), c.text) for c in cues if c.start < length)


def vtt_document(cues: Sequence[Cue], mpegts: int | None = None) -> str:
    """A WebVTT file; ``mpegts``: the media's first presentation time (90 kHz) for an HLS
    segment's ``X-TIMESTAMP-MAP``."""
    header = "WEBVTT\n"
    if mpegts is not None:
        header += f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n"
    body = "".join(f"\n{timestamp(c.start)} --> {timestamp(c.end)}\n{c.text}\n" for c in cues)
    return header + body


def segment_cues(cues: Sequence[Cue], durations: Sequence[float], stem: str) -> list[VttSegment]:
    """One segment per media segment (``durations``, in order from 0): the cues that show
    during it. A cue over a boundary is in both, whole: a player that starts at either
    segment shows it, and one that plays both shows it once (same times, same text)."""
    segments: list[VttSegment] = []
    start = 0.0
    for n, duration in enumerate(durations, start=1):
        end = start + duration
        # the last segment also takes what starts after the media's end (clipped before)
        last = n == len(durations)
        inside = tuple(c for c in cues if c.end > start and (c.start < end or last))
        segments.append(VttSegment(f"{stem}.{n:05d}.vtt", start, duration, inside))
        start = end
    return segments


def subtitle_playlist(segments: Sequence[VttSegment]) -> str:
    """The VOD media playlist of a track's segments."""
    target = max((math.ceil(s.duration) for s in segments), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for s in segments:
        lines += [f"#EXTINF:{s.duration:.6f},", s.name]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])
