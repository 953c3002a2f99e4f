"""What the manifests say of each audio rendition: the master playlist's EXT-X-MEDIA entries
(group, name, language, DEFAULT, AUTOSELECT, CHANNELS) and the variants paired with each
group, and the MPD's ``@lang`` and ``Role`` per audio AdaptationSet. ffmpeg 5.1's muxers
write none of this (one ``group_A1`` of ``audio_<n>``); the plan knows it, and
:mod:`core.streaming.playlists` calls these while it finishes the manifests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from xml.dom import minidom

import m3u8

_DASH_URI = "urn:mpeg:dash:schema:mpd:2011"


@dataclass(frozen=True, slots=True)
class AudioLabel:
    """What the master playlist says of one audio rendition (its EXT-X-MEDIA), and its
    measured rate, which every variant paired with its group adds to its own."""

    name: str  # NAME: unique in its group
    group: str  # GROUP-ID: one per codec, bitrate and layout
    channels: int
    language: str | None
    default: bool
    autoselect: bool
    characteristics: str | None
    rate: tuple[int, int]  # (peak, average) bits per second


@dataclass(frozen=True, slots=True)
class AudioSet:
    """What an audio AdaptationSet says of its track: ``lang`` and ``Role``."""

    language: str | None
    role: str  # urn:mpeg:dash:role:2011: main, commentary, description


def _group_rates(labels: Mapping[str, AudioLabel]) -> dict[str, tuple[int, int]]:
    """Each group's loudest (peak, average), in the groups' order of first appearance."""
    groups: dict[str, tuple[int, int]] = {}
    for label in labels.values():
        peak, average = groups.get(label.group, (0, 0))
        groups[label.group] = (max(peak, label.rate[0]), max(average, label.rate[1]))
    return groups


def several_tracks_alone(doc: m3u8.M3U8, labels: Mapping[str, AudioLabel]) -> bool:
    """Audio only (the muxer lists each rendition as a variant), of several tracks."""
    uris = {p.uri for p in doc.playlists}
    if not uris or not uris <= set(labels) or any(p.stream_info.audio for p in doc.playlists):
        return False
    return len({_track(label) for label in labels.values()}) > 1


def _track(label: AudioLabel) -> tuple[str | None, str]:
    return label.language, label.name.removesuffix(" 5.1")


def audio_alternatives(doc: m3u8.M3U8, labels: Mapping[str, AudioLabel]) -> None:
    """Several tracks without a picture: each rendition an EXT-X-MEDIA alternative and one
    variant per group (its default rendition's playlist), so that a player lists languages
    to choose from instead of taking them for bitrates to switch between."""
    variants = {p.uri: p for p in doc.playlists}
    for uri in labels:
        doc.add_media(m3u8.Media(uri=uri, type="AUDIO", group_id="", name=""))
    label_audio(doc, labels)
    groups = _group_rates(labels)
    chosen: dict[str, tuple[str, AudioLabel]] = {}
    for uri, label in labels.items():
        if label.group not in chosen or label.default:
            chosen[label.group] = (uri, label)
    paired = []
    for group, (uri, _) in chosen.items():
        variant = copy.deepcopy(variants[uri])
        variant.stream_info.audio = group
        variant.media = _with_group(variant, doc, group)
        variant.stream_info.bandwidth, variant.stream_info.average_bandwidth = groups[group]
        paired.append(variant)
    doc.playlists[:] = paired


def _with_group(variant: m3u8.Playlist, doc: m3u8.M3U8, group: str) -> m3u8.model.MediaList:
    """The variant's media (what the m3u8 library writes its group attributes from): its
    other kinds (subtitles) as they are, and the audio of ``group``."""
    others = [m for m in variant.media if m.type != "AUDIO"]
    audio = [m for m in doc.media if m.type == "AUDIO" and m.group_id == group]
    return m3u8.model.MediaList(others + audio)


def label_audio(doc: m3u8.M3U8, labels: Mapping[str, AudioLabel]) -> None:
    for media in doc.media:
        label = labels.get(media.uri or "") if media.type == "AUDIO" else None
        if label is None:
            continue
        media.group_id, media.name = label.group, label.name
        media.language = label.language
        media.default = "YES" if label.default else "NO"
        media.autoselect = "YES" if label.autoselect else "NO"
        media.channels = str(label.channels)
        media.characteristics = label.characteristics


def pair_audio_groups(doc: m3u8.M3U8, labels: Mapping[str, AudioLabel]) -> None:
    """Every variant with audio once per audio group (in the groups' order of first
    appearance), naming that group; a variant without audio (its own muxed) as it is."""
    groups = _group_rates(labels)
    paired, seen = [], set()
    for playlist in doc.playlists:
        if not playlist.stream_info.audio:
            paired.append(playlist)
            continue
        if playlist.uri in labels:  # audio alone, already given its group
            playlist.stream_info.bandwidth, playlist.stream_info.average_bandwidth = groups[
                playlist.stream_info.audio
            ]
            paired.append(playlist)
            continue
        if playlist.uri in seen:  # already paired: a master finished before
            continue
        seen.add(playlist.uri)
        for group, (peak, average) in groups.items():
            variant = copy.deepcopy(playlist)
            variant.stream_info.audio = group
            variant.media = _with_group(variant, doc, group)
            variant.stream_info.bandwidth = (variant.stream_info.bandwidth or 0) + peak
            if variant.stream_info.average_bandwidth:
                variant.stream_info.average_bandwidth += average
            paired.append(variant)
    doc.playlists[:] = paired


def label_audio_sets(
    doc: minidom.Document, root: minidom.Element, audio: Mapping[str, AudioSet]
) -> None:
    """``@lang`` and a ``Role`` on each audio set, placed before its first Representation
    (the schema's order); an audio description also says so in DVB's ``Accessibility``."""
    for aset in root.getElementsByTagNameNS(_DASH_URI, "AdaptationSet"):
        reps = aset.getElementsByTagNameNS(_DASH_URI, "Representation")
        found = next(
            (audio[r.getAttribute("id")] for r in reps if r.getAttribute("id") in audio), None
        )
        if found is None or not reps:
            continue
        if found.language:
            aset.setAttribute("lang", found.language)
        ours = ("Role", "Accessibility")
        for old in [n for n in aset.childNodes if getattr(n, "localName", None) in ours]:
            aset.removeChild(old)
        descriptors = [("Role", "urn:mpeg:dash:role:2011", found.role)]
        if found.role == "description":
            descriptors.append(("Accessibility", "urn:tva:metadata:cs:AudioPurposeCS:2007", "1"))
        for name, scheme, value in sorted(descriptors):  # Accessibility comes before Role
            element = doc.createElementNS(_DASH_URI, name)
            element.setAttribute("schemeIdUri", scheme)
            element.setAttribute("value", value)
            aset.insertBefore(element, reps[0])


def shared_bandwidths(peaks: Mapping[str, int], groups: Mapping[str, str]) -> dict[str, int]:
    """Each audio representation's ``@bandwidth`` the largest of its group's (one preset
    rendition in every language: ``groups`` maps representation id -> group); others as
    measured. The larger figure is still a bound the representation keeps to, and dash.js
    5.2.1 does not switch to a language whose figure is lower than the one playing."""
    largest: dict[str, int] = {}
    for rep, group in groups.items():
        largest[group] = max(largest.get(group, 0), peaks[rep])
    return {rep: largest[groups[rep]] if rep in groups else peak for rep, peak in peaks.items()}
