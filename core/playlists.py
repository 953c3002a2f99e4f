"""Reading and finishing the manifests ffmpeg's muxers wrote, with real parsers.

ffmpeg 5.1's ``dash`` muxer writes HLS media playlists without ``#EXT-X-PLAYLIST-TYPE:VOD``
or ``#EXT-X-INDEPENDENT-SEGMENTS``, with a program-date-time line on every segment (stamped
with the encode's wall clock, meaningless for VOD), and no muxer option changes that; its
master playlist (like the ``hls`` muxer's) lacks ``#EXT-X-INDEPENDENT-SEGMENTS`` and states
nominal bitrates where HLS wants the measured peak. Those tags are rewritten here through the
``m3u8`` library's model, never by editing text. The MPD is only read (ElementTree).
"""

from __future__ import annotations

import math
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

import m3u8

_DASH_NS = "{urn:mpeg:dash:schema:mpd:2011}"


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    uri: str  # relative to the package directory
    init: str | None
    segments: tuple[tuple[str, float], ...]  # (uri, EXTINF seconds)
    target_duration: int

    @property
    def duration(self) -> float:
        return sum(seconds for _, seconds in self.segments)

    @property
    def files(self) -> tuple[str, ...]:
        return ((self.init,) if self.init else ()) + tuple(uri for uri, _ in self.segments)


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    width: int | None
    height: int | None
    bandwidth: int
    audio_group: str | None


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]
    audio: tuple[str, ...]  # URIs of the EXT-X-MEDIA audio renditions

    @property
    def media_uris(self) -> tuple[str, ...]:
        return tuple(v.uri for v in self.variants) + tuple(
            uri for uri in self.audio if uri not in {v.uri for v in self.variants}
        )


def read_master(text: str) -> MasterPlaylist:
    doc = m3u8.loads(text)
    variants = tuple(
        Variant(
            uri=p.uri or "",
            width=p.stream_info.resolution[0] if p.stream_info.resolution else None,
            height=p.stream_info.resolution[1] if p.stream_info.resolution else None,
            bandwidth=int(p.stream_info.bandwidth or 0),
            audio_group=p.stream_info.audio,
        )
        for p in doc.playlists
    )
    audio = tuple(m.uri for m in doc.media if m.type == "AUDIO" and m.uri)
    return MasterPlaylist(variants, audio)


def read_media(uri: str, text: str) -> MediaPlaylist:
    doc = m3u8.loads(text)
    init = doc.segment_map[0].uri if doc.segment_map else None
    return MediaPlaylist(
        uri=uri,
        init=init,
        segments=tuple((s.uri or "", float(s.duration or 0.0)) for s in doc.segments),
        target_duration=int(doc.target_duration or 0),
    )


def finish_media(text: str) -> str:
    """A VOD media playlist: typed VOD, independent segments, no program-date-time."""
    doc = m3u8.loads(text)
    doc.playlist_type = "vod"
    doc.is_independent_segments = True
    for segment in doc.segments:
        segment.program_date_time = None
        segment.current_program_date_time = None
    return str(doc.dumps())


def finish_master(
    text: str,
    rates: Mapping[str, tuple[int, int]],
    fps: float | None,
    audio: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    """Independent segments, and each variant's BANDWIDTH / AVERAGE-BANDWIDTH from
    ``rates`` (media playlist URI -> (peak, average) bits per second, its audio included).
    ``audio`` (media URI -> (name, channels)) names the audio renditions and states their
    CHANNELS, which the muxer leaves out (it names them ``audio_<n>``)."""
    doc = m3u8.loads(text)
    doc.is_independent_segments = True
    for media in doc.media:
        if media.type == "AUDIO" and media.uri and audio and media.uri in audio:
            media.name, channels = audio[media.uri]
            media.channels = str(channels)
    for playlist in doc.playlists:
        if playlist.uri and playlist.uri in rates:
            peak, average = rates[playlist.uri]
            playlist.stream_info.bandwidth = peak
            playlist.stream_info.average_bandwidth = average
        if fps and playlist.stream_info.resolution:
            playlist.stream_info.frame_rate = round(fps, 3)
    return str(doc.dumps())


def measured_rate(media: MediaPlaylist, sizes: Mapping[str, int]) -> tuple[int, int]:
    """(peak, average) bits per second over a playlist's segments, as HLS defines them:
    the peak is the largest segment bitrate; the init segment counts toward the average."""
    peak, total_bits, total_seconds = 0.0, 8 * sizes.get(media.init or "", 0), 0.0
    for uri, seconds in media.segments:
        bits = 8 * sizes.get(uri, 0)
        if seconds > 0:
            peak = max(peak, bits / seconds)
        total_bits, total_seconds = total_bits + bits, total_seconds + seconds
    average = total_bits / total_seconds if total_seconds else 0.0
    return math.ceil(peak), math.ceil(average)


@dataclass(frozen=True, slots=True)
class DashRepresentation:
    id: str
    content_type: str
    width: int | None
    height: int | None
    files: tuple[str, ...]  # init first, then media segments in order
    durations: tuple[float, ...]  # seconds per media segment


def read_mpd(text: str) -> tuple[DashRepresentation, ...]:
    """Every representation with the files its SegmentTemplate/SegmentTimeline names."""
    root = ET.fromstring(text)  # noqa: S314 - written by our ffmpeg in our job directory
    reps = []
    for aset in root.iter(f"{_DASH_NS}AdaptationSet"):
        for rep in aset.iter(f"{_DASH_NS}Representation"):
            template = rep.find(f"{_DASH_NS}SegmentTemplate")
            if template is None:
                template = aset.find(f"{_DASH_NS}SegmentTemplate")
            if template is None:
                continue
            reps.append(_representation(aset, rep, template))
    return tuple(reps)


def _representation(aset: ET.Element, rep: ET.Element, template: ET.Element) -> DashRepresentation:
    rep_id = rep.get("id", "")
    timescale = int(template.get("timescale", "1"))
    number = int(template.get("startNumber", "1"))
    durations: list[float] = []
    timeline = template.find(f"{_DASH_NS}SegmentTimeline")
    for entry in timeline if timeline is not None else ():
        repeat = int(entry.get("r", "0"))
        durations += [int(entry.get("d", "0")) / timescale] * (repeat + 1)
    media = template.get("media", "")
    files = [_expand(template.get("initialization", ""), rep_id, None)]
    files += [_expand(media, rep_id, number + i) for i in range(len(durations))]
    width, height = rep.get("width"), rep.get("height")
    return DashRepresentation(
        id=rep_id,
        content_type=aset.get("contentType")
        or (rep.get("mimeType") or aset.get("mimeType") or "").split("/")[0],
        width=int(width) if width else None,
        height=int(height) if height else None,
        files=tuple(f for f in files if f),
        durations=tuple(durations),
    )


_TEMPLATE = re.compile(r"\$(RepresentationID|Number)(%0(\d+)d)?\$")


def _expand(template: str, rep_id: str, number: int | None) -> str:
    def field(match: re.Match[str]) -> str:
        if match.group(1) == "RepresentationID":
            return rep_id
        width = int(match.group(3) or 0)
        return str(number).zfill(width)

    return _TEMPLATE.sub(field, template)


def resolve(base: str, uri: str) -> str:
    """A playlist's URI relative to the package directory; refuses anything that leaves it
    (the muxer writes plain names, so this never fires unless something is very wrong)."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), uri))
    if path.startswith("../") or path == ".." or path.startswith("/") or "://" in uri:
        raise ValueError(f"manifest reference {uri!r} leaves the package")
    return path
