"""One package's manifests from range encodes: the whole package as one encode would have
written it, so that :meth:`core.streaming.packaging.StreamingPackager.finish` and its QC take it
unchanged.

The skeleton is the audio part's output (:func:`core.streaming.ranges.plan_audio_part`): the
whole plan's muxer wrote its ``master.m3u8``, audio playlists and ``manifest.mpd`` with every
representation id and name of the whole encode, its video a tiny black stand-in on the same
grid. Here each video representation's timeline (the MPD's ``SegmentTimeline``, in the
track's ticks, and its HLS media playlist) is rebuilt from the ranges' own MPDs, in the
muxer's format, and its description (sizes, codecs: the MPD's attributes, the master's
RESOLUTION and CODECS) taken from the first range, the real encoder's. The
ranges must tile the picture: each starts at the tick where the one before ends, with the
number of segments its chunk says; anything else is refused (``qc_failed``), never glossed.
Ranges that start after segment 1 (a resumed encode) continue the segments already kept,
timed as the skeleton's stand-in, on the same grid, times them.
:func:`landed_files` says which of a range's files become which of the package's, and the tick
each segment moves by (:func:`core.streaming.fragment_time.retime`).
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from xml.dom import minidom

import m3u8

from core.errors import QcFailed
from core.streaming.ranges import SegmentRange

_DASH_URI = "urn:mpeg:dash:schema:mpd:2011"
_NS = f"{{{_DASH_URI}}}"


@dataclass(frozen=True, slots=True)
class Timeline:
    """One representation's segments in an MPD: its timescale, the first segment's tick,
    and every segment's length in ticks."""

    timescale: int
    start: int
    durations: tuple[int, ...]

    @property
    def end(self) -> int:
        return self.start + sum(self.durations)


@dataclass(frozen=True, slots=True)
class RangeListing:
    """A range encode's result: its chunk, the MPD its muxer wrote, and how many segments
    it encoded before the chunk's (its warm-up, :attr:`core.streaming.ranges.RangePlan.warmup`)."""

    chunk: SegmentRange
    mpd: str
    warmup: int = 0

    def timeline(self, rep: str) -> Timeline | None:
        """``rep``'s segments of the chunk (the warm-up left out)."""
        found = timelines(self.mpd).get(rep)
        if found is None:
            return None
        skipped = found.durations[: self.warmup]
        return Timeline(found.timescale, found.start + sum(skipped), found.durations[self.warmup :])


@dataclass(frozen=True, slots=True)
class LandedFile:
    local: str  # in the range's package directory: "seg-0-00001.m4s"
    final: str  # in the whole package's: "seg-0-00004.m4s"
    ticks: int  # to add to its decode times
    number: int  # its fragment sequence number in the whole package


def timelines(mpd: str) -> dict[str, Timeline]:
    """Every representation's timeline (by id) in an MPD the dash muxer wrote."""
    root = ET.fromstring(mpd)  # noqa: S314 - written by our ffmpeg in our job directory
    found = {}
    for rep in root.iter(f"{_NS}Representation"):
        template = rep.find(f"{_NS}SegmentTemplate")
        timeline = template.find(f"{_NS}SegmentTimeline") if template is not None else None
        if template is None or timeline is None:
            continue
        durations: list[int] = []
        start = None
        for entry in timeline:
            if start is None:
                start = int(entry.get("t", "0"))
            durations += [int(entry.get("d", "0"))] * (int(entry.get("r", "0")) + 1)
        scale = int(template.get("timescale", "1"))
        found[rep.get("id", "")] = Timeline(scale, start or 0, tuple(durations))
    return found


def joined(ranges: Sequence[RangeListing], rep: str) -> Timeline:
    """``rep``'s whole timeline from the ranges in order; refused unless they tile."""
    parts = [r.timeline(rep) for r in ranges]
    if any(p is None for p in parts):
        raise QcFailed(f"a range has no representation {rep}")
    whole = [p for p in parts if p is not None]
    for listing, part in zip(ranges, whole, strict=True):
        # the last runs to the picture's end, as many segments as it has (the grid's count
        # of frames is the probe's estimate); the others tile exactly
        if len(part.durations) != listing.chunk.count and not (
            listing.chunk.last and part.durations
        ):
            raise QcFailed(
                f"representation {rep}: range from segment {listing.chunk.first + 1} has "
                f"{len(part.durations)} segments, its chunk {listing.chunk.count}"
            )
    for before, after in itertools.pairwise(whole):
        if after.start != before.end:
            raise QcFailed(f"representation {rep}: a range starts at {after.start}, "
                           f"the one before ends at {before.end}")  # fmt: skip
    durations = tuple(d for part in whole for d in part.durations)
    return Timeline(whole[0].timescale, whole[0].start, durations)


def whole_timeline(skeleton: str, ranges: Sequence[RangeListing], rep: str) -> Timeline:
    """``rep``'s timeline in the package: the segments before the first range (a resumed
    encode's kept ones) as the skeleton's stand-in has them on the same grid, then the
    ranges'; refused unless they meet."""
    tail = joined(ranges, rep)
    kept = ranges[0].chunk.first
    if kept == 0:
        return tail
    own = timelines(skeleton).get(rep)
    if own is None or len(own.durations) < kept or own.timescale != tail.timescale:
        raise QcFailed(f"representation {rep}: the package's timeline has no {kept} segments")
    before = own.durations[:kept]
    if own.start + sum(before) != tail.start:
        raise QcFailed(f"representation {rep}: the kept segments end at "
                       f"{own.start + sum(before)}, the ranges start at {tail.start}")  # fmt: skip
    return Timeline(tail.timescale, own.start, before + tail.durations)


def landed_files(listing: RangeListing, rep: str) -> tuple[LandedFile, ...]:
    """Which of a range's media segments of ``rep`` become which of the package's (the
    warm-up's none)."""
    encoded = timelines(listing.mpd)[rep]
    count = len(encoded.durations) - listing.warmup if listing.chunk.last else listing.chunk.count
    first = listing.chunk.first + 1  # the muxer's $Number$ of the chunk's first segment
    return tuple(
        LandedFile(f"seg-{rep}-{listing.warmup + i + 1:05d}.m4s", f"seg-{rep}-{first + i:05d}.m4s",
                   encoded.start, first + i)  # its encode starts at tfdt 0
        for i in range(count)
    )  # fmt: skip


def stitch_media(skeleton: str, rep: str, timeline: Timeline) -> str:
    """A video representation's HLS media playlist as the muxer writes it (without the
    program-date-time lines, which :func:`core.streaming.playlists.finish_media` drops)."""
    seconds = [d / timeline.timescale for d in timeline.durations]
    head = [line for line in skeleton.splitlines() if line.startswith("#EXT-X-MAP")]
    lines = [
        "#EXTM3U", "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{round(max(seconds, default=0.0))}",
        "#EXT-X-MEDIA-SEQUENCE:1", *head,
    ]  # fmt: skip
    for number, length in enumerate(seconds, start=1):
        lines += [f"#EXTINF:{length:f},", f"seg-{rep}-{number:05d}.m4s"]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def stitch_mpd(skeleton: str, ranges: Sequence[RangeListing], reps: Sequence[str]) -> str:
    """The skeleton's MPD with each of ``reps`` (the video representations) timed by the
    ranges, and described (sizes, codecs; its adaptation set's too) as the first range's."""
    doc = minidom.parseString(skeleton)  # noqa: S318 - written by our ffmpeg
    first = ET.fromstring(ranges[0].mpd)  # noqa: S314 - written by our ffmpeg
    real = {r.get("id"): r for r in first.iter(f"{_NS}Representation")}
    sets = {r.get("id"): s for s in first.iter(f"{_NS}AdaptationSet") for r in s}
    for rep in doc.getElementsByTagNameNS(_DASH_URI, "Representation"):
        rep_id = rep.getAttribute("id")
        if rep_id not in reps or rep_id not in real:
            continue
        _describe(rep, real[rep_id])
        parent = rep.parentNode
        if isinstance(parent, minidom.Element) and rep_id in sets:
            _describe(parent, sets[rep_id])
        for timeline in rep.getElementsByTagNameNS(_DASH_URI, "SegmentTimeline"):
            _retime(doc, timeline, whole_timeline(skeleton, ranges, rep_id))
    root = doc.documentElement
    assert root is not None  # a parsed document has its root element
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def stitch_master(skeleton: str, first: RangeListing, reps: Sequence[str]) -> str:
    """The skeleton's master playlist with each video variant's RESOLUTION and video codec
    the first range's (the audio part's picture was a stand-in)."""
    doc = m3u8.loads(skeleton)
    root = ET.fromstring(first.mpd)  # noqa: S314 - written by our ffmpeg
    real = {r.get("id"): r for r in root.iter(f"{_NS}Representation")}
    for variant in doc.playlists:
        rep_id = (variant.uri or "").removeprefix("media_").removesuffix(".m3u8")
        if rep_id not in reps or rep_id not in real:
            continue
        rep = real[rep_id]
        variant.stream_info.resolution = (int(rep.get("width", "0")), int(rep.get("height", "0")))
        codecs = (variant.stream_info.codecs or "").split(",")
        variant.stream_info.codecs = ",".join([rep.get("codecs", ""), *codecs[1:]])
    return str(doc.dumps())


def _describe(element: minidom.Element, real: ET.Element) -> None:
    """``element``'s attributes made ``real``'s (in its order)."""
    for name in list(element.attributes.keys()):
        element.removeAttribute(name)
    for name, value in real.attrib.items():
        element.setAttribute(name, value)


def _retime(doc: minidom.Document, element: minidom.Element, timeline: Timeline) -> None:
    """``element``'s ``S`` entries: runs of equal lengths, the first with its tick, laid
    out as the muxer did (its indentation kept)."""
    spaces = [c.data for c in element.childNodes if isinstance(c, minidom.Text)]
    inner, outer = (spaces[0], spaces[-1]) if spaces else ("", "")
    for child in list(element.childNodes):
        element.removeChild(child)
    runs: list[list[int]] = []
    for d in timeline.durations:
        if runs and runs[-1][0] == d:
            runs[-1][1] += 1
        else:
            runs.append([d, 0])
    for i, (d, repeat) in enumerate(runs):
        entry = doc.createElementNS(_DASH_URI, "S")
        if i == 0:
            entry.setAttribute("t", str(timeline.start))
        entry.setAttribute("d", str(d))
        if repeat:
            entry.setAttribute("r", str(repeat))
        element.appendChild(doc.createTextNode(inner))
        element.appendChild(entry)
    element.appendChild(doc.createTextNode(outer))
