"""What ffprobe said about a file, reduced to the facts planning needs.

``parse_probe`` takes ffprobe's ``-show_format -show_streams`` JSON, as the typed
:class:`core.media.probe_doc.ProbeDoc` the MediaTool port returns, and raises
:class:`InvalidMedia` when the file has nothing a media job can use. A duration of 0.0 means
unknown: live-muxed WebM/MKV carry none in their header, and ffmpeg transcodes them.

The facts: the picture's size, rotation, sample aspect, frame rate, pixel format, HDR
transfer and field order; every stream's kind, codec, size and duration; every audio
track's language, title, layout and dispositions (default, commentary, description).
:func:`public_probe` is what ``probe.json`` publishes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from core.errors import InvalidMedia
from core.media.probe_doc import Disposition, ProbeDoc, ProbeStream

_FIELDS = ("tt", "bb", "tb", "bt")  # top or bottom field first, coded and shown
# Demuxers of single images: a picture is not a video source (MJPEG inside AVI/MOV is).
_IMAGE_FORMATS = ("image2", "_pipe")


@dataclass(frozen=True, slots=True)
class VideoStream:
    codec: str
    width: int
    height: int
    fps: float
    rotation: int  # degrees clockwise the player rotates the picture: 0, 90, 180 or 270
    sample_aspect: Fraction
    pix_fmt: str | None
    duration: float = 0.0  # the stream's own, when known; it may end before the file does
    index: int = 0  # ffprobe's stream index: the planner maps exactly this stream
    color_transfer: str | None = None  # smpte2084 (PQ) and arib-std-b67 (HLG) are HDR
    frames: int = 0  # nb_frames when the container states it
    start: float = 0.0  # seconds after the file's start (ffmpeg times frames from the file's)
    field_order: str | None = None  # ffprobe's: progressive, tt, bb, tb, bt (interlaced), unknown

    @property
    def hdr(self) -> bool:
        return self.color_transfer in ("smpte2084", "arib-std-b67")

    @property
    def interlaced(self) -> bool:
        """Fields, not frames: broadcast, DVD, DV and tape captures. DV states no field order
        at probe time and is interlaced by its standard (its progressive modes flag their
        frames as such, and the deinterlacer leaves those alone)."""
        if self.field_order in _FIELDS:
            return True
        return self.codec == "dvvideo" and self.field_order in (None, "unknown")

    @property
    def high_bit_depth(self) -> bool:
        return bool(self.pix_fmt) and any(d in str(self.pix_fmt) for d in ("10", "12", "16"))

    @property
    def display_size(self) -> tuple[float, float]:
        """Width and height as shown: square pixels, rotation applied. Kept exact (720x480 at
        32:27 is 853.33 wide) so that rounding happens once, when the output size is fitted."""
        width = float(self.width * self.sample_aspect)
        height = float(self.height)
        return (height, width) if self.rotation in (90, 270) else (width, height)


Role = Literal["main", "commentary", "description"]
# Tags are the uploader's text: a language is kept only as an ISO 639 code, a title only when
# it is short plain text (it becomes an HLS NAME, a quoted attribute).
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_TITLE = re.compile(r"[\w .()'&+\-]{1,48}")


@dataclass(frozen=True, slots=True)
class AudioStream:
    codec: str
    channels: int
    sample_rate: int
    index: int = 0
    track: int = 0  # its place among the file's audio streams (0: the first)
    language: str | None = None  # ISO 639-2/B as tagged ("eng"); None when absent or "und"
    title: str | None = None
    channel_layout: str | None = None  # ffprobe's name: mono, stereo, 5.1, 5.1(side), ...
    default: bool = False  # the dispositions the file states
    commentary: bool = False
    visual_impaired: bool = False  # an audio description of the picture

    @property
    def role(self) -> Role:
        if self.visual_impaired:
            return "description"
        return "commentary" if self.commentary else "main"


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """Any stream of the file, used or not: what the preflight checks count and cap."""

    index: int
    kind: str  # ffprobe's codec_type: video, audio, subtitle, data, attachment (or unknown)
    codec: str
    width: int = 0
    height: int = 0
    duration: float = 0.0
    attached: bool = False  # cover art: a picture, not the video


@dataclass(frozen=True, slots=True)
class ProbeResult:
    format_name: str
    duration: float
    size: int | None
    video: VideoStream | None
    audio: AudioStream | None  # the first track: what one-track plans (MP4, steps, TS) use
    streams: tuple[StreamFacts, ...] = ()  # every stream, in the file's order
    audio_tracks: tuple[AudioStream, ...] = ()  # every audio stream, in the file's order

    def __post_init__(self) -> None:
        if self.audio is not None and not self.audio_tracks:  # built by hand with one sound
            object.__setattr__(self, "audio_tracks", (self.audio,))

    def count(self, kind: str) -> int:
        return sum(1 for s in self.streams if s.kind == kind)

    @property
    def stated_duration(self) -> float:
        """The longest duration the container states, for the file or any stream: what
        ffmpeg would be led to produce (0.0: none stated)."""
        return max([self.duration, *(s.duration for s in self.streams)])


def parse_probe(doc: ProbeDoc, *, still: bool = False) -> ProbeResult:
    """``still=True`` accepts a single image (a poster we wrote) as the picture stream."""
    fmt = doc.format
    image = (fmt.format_name or "").endswith(_IMAGE_FORMATS)
    origin = _float(fmt.start_time)
    video = next(
        (_video(s, origin) for s in doc.streams if _is_video(s) and (still or not image)), None
    )
    tracks = tuple(
        _audio(s, n) for n, s in enumerate(s for s in doc.streams if s.codec_type == "audio")
    )
    audio = tracks[0] if tracks else None
    if video is None and audio is None:
        raise InvalidMedia("no audio or video stream found")
    return ProbeResult(
        format_name=fmt.format_name or "",
        duration=_seconds(fmt.duration),
        size=_int(fmt.size),
        video=video,
        audio=audio,
        streams=tuple(_facts(s) for s in doc.streams),
        audio_tracks=tracks,
    )


def _facts(stream: ProbeStream) -> StreamFacts:
    return StreamFacts(
        index=stream.index or 0,
        kind=stream.codec_type or "unknown",
        codec=stream.codec_name or "unknown",
        width=max(0, stream.width or 0),
        height=max(0, stream.height or 0),
        duration=_seconds(stream.duration),
        attached=_attached(stream),
    )


def _attached(stream: ProbeStream) -> bool:
    """Cover art: a picture stream that is no video."""
    return stream.disposition is not None and stream.disposition.attached_pic == 1


def _is_video(stream: ProbeStream) -> bool:
    return stream.codec_type == "video" and not _attached(stream)


def _video(stream: ProbeStream, origin: float | None = None) -> VideoStream:
    width, height = stream.width, stream.height
    if not width or not height or width <= 0 or height <= 0:
        raise InvalidMedia("video stream has no frame size")
    return VideoStream(
        index=stream.index or 0,
        codec=stream.codec_name or "unknown",
        width=width,
        height=height,
        fps=_rate(stream.avg_frame_rate) or _rate(stream.r_frame_rate) or 0.0,
        rotation=_rotation(stream),
        sample_aspect=_ratio(stream.sample_aspect_ratio) or Fraction(1),
        pix_fmt=stream.pix_fmt,
        duration=_seconds(stream.duration),
        color_transfer=stream.color_transfer,
        frames=_int(stream.nb_frames) or 0,
        start=_offset(_float(stream.start_time), origin),
        field_order=stream.field_order,
    )


def _offset(start: float | None, origin: float | None) -> float:
    """How long after the file's start a stream starts (0.0 when either is unknown)."""
    if start is None or origin is None:
        return 0.0
    return _seconds(start - origin)


def _audio(stream: ProbeStream, track: int) -> AudioStream:
    tags = stream.tags or {}
    disposition = stream.disposition or Disposition()
    language = (tags.get("language") or "").lower()
    title = (tags.get("title") or "").strip()
    layout = stream.channel_layout or ""
    return AudioStream(
        codec=stream.codec_name or "unknown",
        index=stream.index or 0,
        channels=stream.channels or 0,
        sample_rate=_int(stream.sample_rate) or 0,
        track=track,
        language=language if _LANGUAGE.fullmatch(language) and language != "und" else None,
        title=title if _TITLE.fullmatch(title) else None,
        channel_layout=layout if re.fullmatch(r"[\w.()+\-]{1,32}", layout) else None,
        default=disposition.default == 1,
        commentary=disposition.comment == 1,
        visual_impaired=disposition.visual_impaired == 1,
    )


def _rotation(stream: ProbeStream) -> int:
    """Rotation from the display matrix (ffmpeg >= 5) or the legacy ``rotate`` tag."""
    angle: float | None = None
    for side in stream.side_data_list or []:
        if (turned := _float(side.rotation)) is not None:
            # The display matrix rotation is counter-clockwise; players turn it clockwise.
            angle = -turned
    if angle is None:
        angle = _float((stream.tags or {}).get("rotate")) or 0.0
    if not math.isfinite(angle):
        return 0
    return round(angle / 90.0) * 90 % 360


def _rate(value: str | None) -> float | None:
    ratio = _ratio(value, sep="/")
    return float(ratio) if ratio else None


def _ratio(value: str | None, sep: str = ":") -> Fraction | None:
    if value is None or sep not in value:
        return None
    num, _, den = value.partition(sep)
    try:
        n, d = int(num), int(den)
    except ValueError:
        return None
    return Fraction(n, d) if n > 0 and d > 0 else None


def _seconds(value: str | float | None) -> float:
    """A duration in seconds, 0.0 when absent, "N/A", negative or not finite."""
    seconds = _float(value)
    return seconds if seconds is not None and math.isfinite(seconds) and seconds > 0 else 0.0


def public_probe(doc: ProbeDoc) -> dict[str, object]:
    """ffprobe's JSON fit to publish as ``probe.json``: without our local path, and without
    metadata tags (GPS position, device, names), except each stream's language."""
    fmt = doc.format.model_dump(exclude_unset=True, exclude={"filename", "tags"})
    streams = []
    for stream in doc.streams:
        kept = stream.model_dump(exclude_unset=True, exclude={"tags"})
        language = (stream.tags or {}).get("language")
        if language:
            kept["tags"] = {"language": language}
        streams.append(kept)
    return {"streams": streams, "format": fmt}


def _float(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):  # "N/A"; an integer past a float's range
        return None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
