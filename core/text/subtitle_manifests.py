"""Sidecar subtitle tracks named in a package's manifests.

HLS: one ``EXT-X-MEDIA:TYPE=SUBTITLES`` per track in group ``subs`` (``AUTOSELECT=YES``,
none ``DEFAULT``: a viewer turns subtitles on) and ``SUBTITLES="subs"`` on every variant.
DASH: one ``AdaptationSet contentType="text"`` per track, ``mimeType="text/vtt"``, ``lang``,
a subtitle role, and one Representation whose ``BaseURL`` is the whole ``.vtt`` file (what
dash.js and Shaka play for a side-loaded text track). The manifests are the ones our
muxer wrote and the packager finished; a track's language is the step's validated tag.
Captions the video itself carries (CEA-608 CC1, CEA-708 services) are declared as
``CLOSED-CAPTIONS`` renditions and DASH ``Accessibility`` descriptors, only where found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.dom import minidom

import m3u8

SUBTITLE_GROUP = "subs"
CAPTION_GROUP = "cc"
_CC_SCHEMES = {
    "cea-608": "urn:scte:dash:cc:cea-608:2015",
    "cea-708": "urn:scte:dash:cc:cea-708:2015",
}
_DASH_URI = "urn:mpeg:dash:schema:mpd:2011"
_ROLE_SCHEME = "urn:mpeg:dash:role:2011"
# what a text Representation's @bandwidth states (a required attribute; a VTT is tiny)
_TEXT_BANDWIDTH = "256"


@dataclass(frozen=True, slots=True)
class SidecarTrack:
    language: str  # BCP 47, as the step gave it
    playlist: str  # the track's media playlist, relative to the master
    whole: str  # the whole .vtt, relative to the MPD


@dataclass(frozen=True, slots=True)
class InBandCaption:
    """Captions the video carries, as the manifests name them."""

    standard: Literal["cea-608", "cea-708"]
    number: int  # the CEA-608 channel (1: CC1), or the CEA-708 service (1..63)
    language: str  # BCP 47, as the step gave it

    @property
    def instream_id(self) -> str:
        return f"CC{self.number}" if self.standard == "cea-608" else f"SERVICE{self.number}"

    @property
    def dash_value(self) -> str:
        """Its part of the DASH descriptor's value (SCTE 214-1, DASH-IF IOP)."""
        if self.standard == "cea-608":
            return f"CC{self.number}={self.language}"
        return f"{self.number}=lang:{self.language}"


def master_with_subtitles(text: str, tracks: Sequence[SidecarTrack]) -> str:
    doc = m3u8.loads(text)
    entries = [
        m3u8.Media(
            uri=t.playlist,
            type="SUBTITLES",
            group_id=SUBTITLE_GROUP,
            language=t.language,
            name=t.language,
            default="NO",
            autoselect="YES",
        )
        for t in tracks
    ]
    for entry in entries:
        doc.add_media(entry)
    for variant in doc.playlists:
        variant.stream_info.subtitles = SUBTITLE_GROUP
        variant.media.append(entries[0])  # the variant names the group once
    return str(doc.dumps())


def master_with_captions(text: str, captions: Sequence[InBandCaption]) -> str:
    """Captions in the video, declared: a CLOSED-CAPTIONS rendition each in group ``cc``
    (``INSTREAM-ID`` CC1 or SERVICEn) and ``CLOSED-CAPTIONS="cc"`` on every variant. Only
    for captions found there."""
    doc = m3u8.loads(text)
    entries = [
        m3u8.Media(
            type="CLOSED-CAPTIONS",
            group_id=CAPTION_GROUP,
            language=c.language,
            name=f"{c.instream_id} ({c.language})",
            default="NO",
            autoselect="YES",
            instream_id=c.instream_id,
        )
        for c in captions
    ]
    for entry in entries:
        doc.add_media(entry)
    for variant in doc.playlists:
        variant.media.append(entries[0])  # the variant names the group once
    return str(doc.dumps())


def mpd_with_captions(text: str, captions: Sequence[InBandCaption]) -> str:
    """The same for DASH: an ``Accessibility`` descriptor per standard on every video set,
    its value every channel or service found (``CC1=eng``, ``1=lang:eng;2=lang:fra``)."""
    doc = minidom.parseString(text)  # noqa: S318 - written by our ffmpeg in our job directory
    root = doc.documentElement
    assert root is not None  # a parsed document has its root element
    marks = [
        (scheme, ";".join(c.dash_value for c in captions if c.standard == standard))
        for standard, scheme in _CC_SCHEMES.items()
    ]
    for aset in root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet"):
        if aset.getAttribute("contentType") != "video":
            continue
        for scheme, value in reversed(marks):
            if value:
                mark = _element(doc, "Accessibility", schemeIdUri=scheme, value=value)
                aset.insertBefore(mark, aset.firstChild)
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def mpd_with_subtitles(text: str, tracks: Sequence[SidecarTrack]) -> str:
    doc = minidom.parseString(text)  # noqa: S318 - written by our ffmpeg in our job directory
    root = doc.documentElement
    assert root is not None  # a parsed document has its root element
    period = root.getElementsByTagNameNS(_DASH_URI, "Period")[0]
    taken = {a.getAttribute("id") for a in root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet")}
    next_id = 1 + max((int(i) for i in taken if i.isdigit()), default=-1)
    for n, track in enumerate(tracks):
        period.appendChild(_text_set(doc, str(next_id + n), track))
    return f'<?xml version="1.0" encoding="utf-8"?>\n{root.toxml()}\n'


def _text_set(doc: minidom.Document, set_id: str, track: SidecarTrack) -> minidom.Element:
    aset = _element(
        doc,
        "AdaptationSet",
        id=set_id,
        contentType="text",
        mimeType="text/vtt",
        lang=track.language,
    )
    aset.appendChild(_element(doc, "Role", schemeIdUri=_ROLE_SCHEME, value="subtitle"))
    rep = _element(
        doc, "Representation", id=f"subtitles-{track.language}", bandwidth=_TEXT_BANDWIDTH
    )
    base = _element(doc, "BaseURL")
    base.appendChild(doc.createTextNode(track.whole))
    rep.appendChild(base)
    aset.appendChild(rep)
    return aset


def _element(doc: minidom.Document, name: str, **attributes: str) -> minidom.Element:
    element = doc.createElementNS(_DASH_URI, name)
    for key, value in attributes.items():
        element.setAttribute(key, value)
    return element
