"""A streaming package's media playlists, described as the renditions they are.

Each media playlist the muxer wrote is matched to its planned rendition (``media_<n>.m3u8``,
video rungs first); from them come the master's measured rates and audio labels, the
renditions as ``job.json`` describes them, and the files to upload by publishing tier.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from core.attempt.upload import Upload
from core.jobs.results import Rendition
from core.streaming.audio_manifests import AudioLabel
from core.streaming.audio_tracks import PlannedAudio
from core.streaming.pictures import THUMBNAILS_DIR
from core.streaming.playlists import MasterPlaylist, MediaPlaylist, measured_rate
from core.streaming.qc import RenditionFacts
from core.streaming.renditions import StreamingPlan

# Publishing tiers: a reader who finds a manifest finds everything it names.
SEGMENTS, MEDIA_PLAYLISTS, MANIFESTS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class PackageMedia:
    name: str
    kind: Literal["video", "audio"]
    bitrate_kbps: int
    playlist: MediaPlaylist  # paths resolved against the output directory
    width: int | None = None
    height: int | None = None
    audio: PlannedAudio | None = None  # what an audio rendition is (its track and role)


def describe(plan: StreamingPlan, index: int, uri: str, playlist: MediaPlaylist) -> PackageMedia:
    """Which planned rendition a media playlist is. Both muxers name them in stream order:
    ``media_<n>.m3u8``, video rungs first."""
    match = re.search(r"media_(\d+)\.m3u8$", uri)
    n = int(match.group(1)) if match else index
    if n < len(plan.video):
        rung = plan.video[n]
        return PackageMedia(rung.name, "video", rung.video_kbps, playlist, rung.width, rung.height)
    audio = plan.audio[min(n - len(plan.video), len(plan.audio) - 1)]
    return PackageMedia(audio.name, "audio", audio.bitrate_kbps, playlist, audio=audio)


def variant_rates(
    master: MasterPlaylist, medias: list[PackageMedia], sizes: dict[str, int]
) -> dict[str, tuple[int, int]]:
    """Each variant's own measured rates (finish_master adds its audio group's)."""
    by_uri = {posixpath.basename(m.playlist.uri): measured_rate(m.playlist, sizes) for m in medias}
    return {v.uri: by_uri.get(posixpath.basename(v.uri), (v.bandwidth, 0)) for v in master.variants}


def audio_labels(medias: list[PackageMedia], sizes: dict[str, int]) -> dict[str, AudioLabel]:
    return {
        posixpath.basename(m.playlist.uri): AudioLabel(
            name=a.label,
            group=a.group,
            channels=a.channels,
            language=a.language,
            default=a.default,
            autoselect=a.autoselect,
            characteristics=a.characteristics,
            rate=measured_rate(m.playlist, sizes),
        )
        for m in medias
        if (a := m.audio) is not None
    }


def facts_by_media(
    facts: list[RenditionFacts], medias: list[PackageMedia]
) -> list[RenditionFacts | None]:
    found = {f.name: f for f in facts}
    return [found.get(m.name) for m in medias]


def as_rendition(
    media: PackageMedia, facts: RenditionFacts | None, sizes: dict[str, int], encoder: str
) -> Rendition:
    peak, average = measured_rate(media.playlist, sizes)
    return Rendition(
        name=media.name,
        kind=media.kind,
        playlist=media.playlist.uri,
        width=media.width,
        height=media.height,
        bitrate_kbps=media.bitrate_kbps,
        peak_bandwidth=peak,
        average_bandwidth=average,
        segments=len(media.playlist.segments),
        duration=round(facts.duration if facts else media.playlist.duration, 3),
        size=sum(sizes.get(f, 0) for f in media.playlist.files),
        encoder=encoder,
        track=media.audio.track if media.audio else None,
        language=media.audio.language if media.audio else None,
        role=media.audio.role if media.audio else None,
        channels=media.audio.channels if media.audio else None,
    )


def upload_tiers(
    plan: StreamingPlan, medias: list[PackageMedia], sizes: dict[str, int]
) -> list[Upload]:
    files = [Upload(f, SEGMENTS) for m in medias for f in m.playlist.files]
    files += [Upload(p, SEGMENTS) for p in sorted(sizes) if p.startswith(f"{THUMBNAILS_DIR}/")]
    files += [Upload(m.playlist.uri, MEDIA_PLAYLISTS) for m in medias]
    files += [Upload(p, MANIFESTS) for p in (plan.master, plan.mpd) if p]
    return files
