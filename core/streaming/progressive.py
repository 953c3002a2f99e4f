"""The manifests of a package published while it encodes (``progressive``), rendered from
the segments that are already in the bucket.

HLS: each media playlist is an ``EVENT`` playlist (no ``#EXT-X-ENDLIST``: a player keeps
reloading it) naming exactly the segments uploaded so far, its ``#EXT-X-TARGETDURATION``
fixed from the preset's segment length (an ``EVENT`` playlist's may never change). The
master is ffmpeg's own, as it writes it once the first segment is out. DASH: ffmpeg's MPD is
already ``type="dynamic"`` while it encodes (with ``availabilityStartTime``,
``minimumUpdatePeriod``), but names every segment the muxer closed, uploaded or not: each
representation's ``SegmentTimeline`` is cut back to the segments in the bucket, and
``publishTime`` is the moment of publication. When the encode is over the finish path
(:mod:`core.streaming.packaging`) writes the VOD playlists and the static MPD as before.

A job that fails after its package was announced playable leaves it as a stalled live
stream: the playlists stay ``EVENT`` without ``ENDLIST`` (no player takes them for whole),
and the master and MPD carry a comment that says why (:func:`failed_master`,
:func:`failed_mpd`).
"""

from __future__ import annotations

import math
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from xml.dom import minidom

from core.streaming.playlists import read_mpd, resolve
from core.streaming.segment_watch import LandedSegment

# Growing manifests change every few seconds: players must not cache them.
CACHE_GROWING = "no-cache"
FAILED_NOTE = "ffapi: this package is incomplete: its job failed while it encoded"

_DASH_URI = "urn:mpeg:dash:schema:mpd:2011"


def target_duration(segment_seconds: float, segments: Sequence[LandedSegment] = ()) -> int:
    """The preset's segment length rounded up: known before any segment, so it never
    changes; a segment longer than that (never, with keyframes forced on the grid) raises it,
    as HLS wants every EXTINF, rounded, at most the target."""
    longest = max((round(s.duration) for s in segments), default=0)
    return max(math.ceil(segment_seconds), longest, 1)


def event_playlist(
    playlist: str, segments: Sequence[LandedSegment], target: int, media_sequence: int
) -> str:
    """An ``EVENT`` media playlist naming ``segments`` (in order, from the first), relative
    to ``playlist`` as the muxer names them. ``media_sequence``: the muxer's first number (the
    VOD playlist that replaces this one keeps it, so a player's positions stay true)."""
    base = posixpath.dirname(playlist)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if segments and segments[0].init is not None:
        lines.append(f'#EXT-X-MAP:URI="{posixpath.relpath(segments[0].init, base)}"')
    for segment in segments:
        lines += [f"#EXTINF:{segment.duration:.6f},", posixpath.relpath(segment.path, base)]
    return "\n".join(lines) + "\n"


def growing_mpd(
    raw: str, mpd: str, uploaded: Collection[str], now: datetime, start: str | None = None
) -> str:
    """ffmpeg's MPD of the encode so far (``raw``, at ``mpd`` in the output directory) with
    each representation's timeline cut to its leading segments in ``uploaded`` (paths from
    the output directory), stamped ``publishTime`` ``now``; dynamic, and without a duration.
    ``start``: the ``availabilityStartTime`` first published, which a player's clock counts
    from and which never changes (ffmpeg's, else ``now``)."""
    counts = [
        _leading(tuple(resolve(mpd, f) for f in rep.files if f != rep.init), uploaded)
        for rep in read_mpd(raw)
    ]
    doc = minidom.parseString(raw)  # noqa: S318 - written by our ffmpeg in our job directory
    root = doc.documentElement
    assert root is not None  # a parsed document has its root element
    root.setAttribute("type", "dynamic")
    root.setAttribute("publishTime", xs_time(now))
    if root.hasAttribute("mediaPresentationDuration"):
        root.removeAttribute("mediaPresentationDuration")
    if start or not root.hasAttribute("availabilityStartTime"):
        root.setAttribute("availabilityStartTime", start or xs_time(now))
    if not root.hasAttribute("minimumUpdatePeriod"):
        root.setAttribute("minimumUpdatePeriod", "PT2S")
    for timeline, count in zip(_timelines(root), counts, strict=True):
        _cut(doc, timeline, count)
    for aset in root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet"):
        # each representation has its own init (finish_mpd says so of the static MPD too):
        # a player must not switch between them without it
        several = len(aset.getElementsByTagNameNS(_DASH_URI, "Representation")) > 1
        if several and aset.hasAttribute("bitstreamSwitching"):
            aset.removeAttribute("bitstreamSwitching")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def availability_start(mpd: str) -> str | None:
    """An MPD's ``availabilityStartTime`` (a dynamic one's, as ffmpeg writes it while it
    encodes; None in a static one)."""
    root = ET.fromstring(mpd)  # noqa: S314 - written by our ffmpeg in our job directory
    return root.get("availabilityStartTime")


def failed_master(text: str) -> str:
    """The master as it was, with a comment that its package is incomplete."""
    head, _, rest = text.partition("\n")
    return f"{head}\n# {FAILED_NOTE}\n{rest}"


def failed_mpd(text: str) -> str:
    """The MPD as it was, with a comment that its package is incomplete."""
    doc = minidom.parseString(text)  # noqa: S318 - our own, as published
    root = doc.documentElement
    assert root is not None
    root.insertBefore(doc.createComment(f" {FAILED_NOTE} "), root.firstChild)
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def _leading(files: Sequence[str], uploaded: Collection[str]) -> int:
    count = 0
    for path in files:
        if path not in uploaded:
            break
        count += 1
    return count


def _timelines(root: minidom.Element) -> list[minidom.Element]:
    """Each Representation's SegmentTimeline, in the order :func:`read_mpd` lists them."""
    found = []
    for aset in root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet"):
        shared = _child(aset, "SegmentTemplate")
        for rep in aset.getElementsByTagNameNS(_DASH_URI, "Representation"):
            template = _child(rep, "SegmentTemplate") or shared
            if template is not None and (timeline := _child(template, "SegmentTimeline")):
                found.append(timeline)
    return found


def _child(parent: minidom.Element, name: str) -> minidom.Element | None:
    for node in parent.childNodes:
        if isinstance(node, minidom.Element) and node.localName == name:
            return node
    return None


def _cut(doc: minidom.Document, timeline: minidom.Element, count: int) -> None:
    """Keep the timeline's first ``count`` segments, written again as runs of ``S``."""
    spans: list[tuple[int, int]] = []  # (start, duration) per segment, in the timescale
    at = 0
    for entry in timeline.getElementsByTagNameNS(_DASH_URI, "S"):
        at = int(entry.getAttribute("t") or at)
        for _ in range(int(entry.getAttribute("r") or 0) + 1):
            spans.append((at, int(entry.getAttribute("d"))))
            at += spans[-1][1]
    while timeline.firstChild is not None:
        timeline.removeChild(timeline.firstChild)
    runs: list[list[int]] = []  # [start, duration, repeats]
    for start, duration in spans[:count]:
        if runs and runs[-1][1] == duration and runs[-1][0] + duration * (runs[-1][2] + 1) == start:
            runs[-1][2] += 1
        else:
            runs.append([start, duration, 0])
    for start, duration, repeats in runs:
        entry = doc.createElementNS(_DASH_URI, "S")
        entry.setAttribute("t", str(start))
        entry.setAttribute("d", str(duration))
        if repeats:
            entry.setAttribute("r", str(repeats))
        timeline.appendChild(entry)


def xs_time(moment: datetime) -> str:
    """An xs:dateTime in UTC, to the millisecond, as ffmpeg writes its own."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
