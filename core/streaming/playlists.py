"""Reading and finishing the manifests ffmpeg's muxers wrote, with real parsers.

ffmpeg 5.1's ``dash`` muxer writes HLS media playlists without ``#EXT-X-PLAYLIST-TYPE:VOD``
or ``#EXT-X-INDEPENDENT-SEGMENTS``, with a program-date-time line on every segment (stamped
with the encode's wall clock, meaningless for VOD), and no muxer option changes that; its
master playlist (like the ``hls`` muxer's) lacks ``#EXT-X-INDEPENDENT-SEGMENTS`` and states
nominal bitrates where HLS wants the measured peak. Those tags are rewritten here through the
``m3u8`` library's model, never by editing text. Its MPD states the encoders' targets as
bandwidths, the target as the longest segment, and bitstream switching where each
representation has its own initialization segment: :func:`finish_mpd` rewrites those
attributes through a DOM (ElementTree reads it; minidom keeps the rest as ffmpeg wrote it).
"""

from __future__ import annotations

import math
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.dom import minidom

import m3u8

from core.streaming.audio_manifests import (
    AudioLabel,
    AudioSet,
    audio_alternatives,
    label_audio,
    label_audio_sets,
    pair_audio_groups,
    several_tracks_alone,
)

_DASH_URI = "urn:mpeg:dash:schema:mpd:2011"
_DASH_NS = f"{{{_DASH_URI}}}"


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
    audio: Mapping[str, AudioLabel] | None = None,
) -> str:
    """Independent segments, and each variant's BANDWIDTH / AVERAGE-BANDWIDTH from
    ``rates`` (media playlist URI -> (peak, average) bits per second of that playlist).
    ``audio`` (media URI -> label) describes the audio renditions the muxer left as
    ``audio_<n>`` in one group: each gets its group, name, language, DEFAULT, AUTOSELECT and
    CHANNELS, and each variant that takes audio is listed once per group, its rates with the
    group's loudest rendition added (a player switches languages inside a group)."""
    doc = m3u8.loads(text)
    doc.is_independent_segments = True
    for playlist in doc.playlists:
        if playlist.uri and playlist.uri in rates:
            peak, average = rates[playlist.uri]
            playlist.stream_info.bandwidth = peak
            playlist.stream_info.average_bandwidth = average
        if fps and playlist.stream_info.resolution:
            playlist.stream_info.frame_rate = round(fps, 3)
    if audio and several_tracks_alone(doc, audio):
        audio_alternatives(doc, audio)
    elif audio:
        label_audio(doc, audio)
        pair_audio_groups(doc, audio)
    return str(doc.dumps())


def measured_rate(media: MediaPlaylist, sizes: Mapping[str, int]) -> tuple[int, int]:
    """(peak, average) bits per second over a playlist's segments, as HLS defines them
    (RFC 8216, 4.3.4.2): the peak is the largest rate of any run of consecutive segments
    lasting between half and one and a half target durations, so a runt of a few
    milliseconds, whose own rate means nothing, counts only together with its neighbour;
    the init segment counts toward the average."""
    bits = [8 * sizes.get(uri, 0) for uri, _ in media.segments]
    seconds = [length for _, length in media.segments]
    target = media.target_duration or math.ceil(max(seconds, default=0.0))
    total_bits, total_seconds = 8 * sizes.get(media.init or "", 0) + sum(bits), sum(seconds)
    average = total_bits / total_seconds if total_seconds else 0.0
    return math.ceil(peak_rate(bits, seconds, target)), math.ceil(average)


def peak_rate(bits: Sequence[int], seconds: Sequence[float], target: float) -> float:
    """The largest rate of a run of segments lasting 0.5 to 1.5 targets; where no run does
    (a playlist shorter than half its target), the largest rate of one segment."""
    peak, shortest, longest = 0.0, 0.5 * target, 1.5 * target
    for start in range(len(seconds)):
        run_bits, run_seconds = 0, 0.0
        for end in range(start, len(seconds)):
            run_bits, run_seconds = run_bits + bits[end], run_seconds + seconds[end]
            if run_seconds > longest:
                break
            if run_seconds >= shortest:
                peak = max(peak, run_bits / run_seconds)
    if peak == 0.0:
        peak = max((b / s for b, s in zip(bits, seconds, strict=True) if s > 0), default=0.0)
    return peak


@dataclass(frozen=True, slots=True)
class DashRepresentation:
    id: str
    adaptation_set: int  # the set's place in the MPD, from 0
    init: str | None
    content_type: str
    width: int | None
    height: int | None
    files: tuple[str, ...]  # init first, then media segments in order
    durations: tuple[float, ...]  # seconds per media segment


def read_mpd(text: str) -> tuple[DashRepresentation, ...]:
    """Every representation with the files its SegmentTemplate/SegmentTimeline names."""
    root = ET.fromstring(text)  # noqa: S314 - written by our ffmpeg in our job directory
    reps = []
    for index, aset in enumerate(root.iter(f"{_DASH_NS}AdaptationSet")):
        for rep in aset.iter(f"{_DASH_NS}Representation"):
            template = rep.find(f"{_DASH_NS}SegmentTemplate")
            if template is None:
                template = aset.find(f"{_DASH_NS}SegmentTemplate")
            if template is None:
                continue
            reps.append(_representation(index, aset, rep, template))
    return tuple(reps)


def finish_mpd(
    text: str, bandwidths: Mapping[str, int], audio: Mapping[str, AudioSet] | None = None
) -> str:
    """The MPD with what ffmpeg's muxer states wrongly made right: each Representation's
    ``@bandwidth`` the measured figure in ``bandwidths`` (id -> bits per second), not the
    encoder's target; ``@maxSegmentDuration`` the longest segment of any representation
    (AAC frames and NTSC frame times make segments a little longer than the target the
    muxer states) and ``@mediaPresentationDuration`` the longest representation (the muxer
    cuts it to a tenth of a second); and no ``@bitstreamSwitching`` on a set whose
    representations each have their own initialization segment (one decoder set up once
    cannot take their segments in turn). ``audio`` (representation id -> set) gives each
    audio set its language and role."""
    reps = read_mpd(text)
    doc = minidom.parseString(text)  # noqa: S318 - written by our ffmpeg in our job directory
    root = doc.documentElement
    assert root is not None  # a parsed document has its root element
    if any(rep.durations for rep in reps):
        longest = max(d for rep in reps for d in rep.durations)
        root.setAttribute("maxSegmentDuration", _iso_seconds(longest))
        total = max(sum(rep.durations) for rep in reps)
        root.setAttribute("mediaPresentationDuration", _iso_seconds(total))
    for index, aset in enumerate(root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet")):
        inits = {rep.init for rep in reps if rep.adaptation_set == index}
        if len(inits) > 1 and aset.hasAttribute("bitstreamSwitching"):
            aset.removeAttribute("bitstreamSwitching")
    for rep in root.getElementsByTagNameNS(_DASH_URI, "Representation"):
        if rep.getAttribute("id") in bandwidths:
            rep.setAttribute("bandwidth", str(bandwidths[rep.getAttribute("id")]))
    label_audio_sets(doc, root, audio or {})
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def _iso_seconds(seconds: float) -> str:
    """An xs:duration rounded up to the millisecond: never below the time it states."""
    millis = math.ceil(round(seconds * 1000, 6))
    return f"PT{millis // 1000}.{millis % 1000:03d}S"


def _representation(
    index: int, aset: ET.Element, rep: ET.Element, template: ET.Element
) -> DashRepresentation:
    rep_id = rep.get("id", "")
    timescale = int(template.get("timescale", "1"))
    number = int(template.get("startNumber", "1"))
    durations: list[float] = []
    timeline = template.find(f"{_DASH_NS}SegmentTimeline")
    for entry in timeline if timeline is not None else ():
        repeat = int(entry.get("r", "0"))
        durations += [int(entry.get("d", "0")) / timescale] * (repeat + 1)
    media = template.get("media", "")
    init = _expand(template.get("initialization", ""), rep_id, None)
    files = [init]
    files += [_expand(media, rep_id, number + i) for i in range(len(durations))]
    width, height = rep.get("width"), rep.get("height")
    return DashRepresentation(
        id=rep_id,
        adaptation_set=index,
        init=init or None,
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
