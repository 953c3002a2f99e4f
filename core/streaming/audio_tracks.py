"""Which of a source's audio tracks a ladder keeps, and the audio renditions made of them.

Every audio track is kept by default, each as its own rendition per preset audio rendition
(a language a player lists and switches to); ``AudioSelection`` narrows that down by
language or by track number. A preset rendition of 6 channels (AAC 5.1) is made only from a
track that has them; the stereo renditions are made from every track, a 5.1 one downmixed.
Each rendition knows what the manifests say of it: its language, name, role, whether it is
the default, and its HLS group (one per preset rendition: one codec, bitrate and layout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.errors import UnsupportedMedia
from core.media.probe import AudioStream, ProbeResult, Role
from core.presets import MAX_TRACKS, AudioRendition, AudioSelection, StreamingPreset

SURROUND = 6  # AAC 5.1
# HLS CHARACTERISTICS of an audio description (Apple's authoring spec)
DESCRIBES_VIDEO = "public.accessibility.describes-video"


@dataclass(frozen=True, slots=True)
class PlannedAudio:
    """One audio rendition of the package: a preset rendition of one source track."""

    name: str  # unique in the package: the preset rendition's, with the track's language
    bitrate_kbps: int
    channels: int
    track: int  # the source track's place among its audio streams
    index: int  # the source stream's index (what the graph maps)
    group: str  # the HLS GROUP-ID: the preset rendition's name
    label: str  # the HLS NAME: unique in its group
    language: str | None
    role: Role
    default: bool  # the one a player starts with (in every group)

    @property
    def autoselect(self) -> bool:
        """A player may pick it by the user's language; a commentary only when asked for."""
        return self.default or self.role != "commentary"

    @property
    def characteristics(self) -> str | None:
        return DESCRIBES_VIDEO if self.role == "description" else None


def kept_tracks(preset: StreamingPreset, probe: ProbeResult) -> tuple[AudioStream, ...]:
    """The source tracks a ladder encodes: those its selection keeps (hls-ts without a
    picture: the first of them); none when it makes no audio."""
    if not preset.audio:
        return ()
    tracks = select_tracks(preset.audio_tracks, probe.audio_tracks)
    # an hls-ts master without a picture has no variant to hang alternatives on
    alone = not (preset.ladder and probe.video)
    return tracks[:1] if preset.kind == "hls-ts" and alone else tracks


def select_tracks(
    selection: AudioSelection, tracks: Sequence[AudioStream]
) -> tuple[AudioStream, ...]:
    """The tracks the selection keeps, in the file's order (at most :data:`MAX_TRACKS`); a
    selection that matches none of them is refused (permanent: the input lacks them)."""
    if selection.tracks is not None:
        missing = [n for n in selection.tracks if n >= len(tracks)]
        if missing:
            raise UnsupportedMedia(
                f"audio_tracks.tracks: track {missing[0]} asked for; "
                f"the input has {len(tracks)} audio tracks"
            )
        chosen = tuple(t for t in tracks if t.track in selection.tracks)
        if silent := [t for t in chosen if not _readable(t) and t.track != 0]:
            raise UnsupportedMedia(
                f"audio_tracks.tracks: track {silent[0].track} has no sound format ffprobe "
                "can read (an empty stream)"
            )
        return chosen
    # beside the first, a track ffprobe found no sound format in (an empty broadcast
    # stream) is left out: it would hold the whole pass back waiting for its first frame
    readable = [t for i, t in enumerate(tracks) if i == 0 or _readable(t)]
    if selection.languages is not None:
        kept = tuple(t for t in readable if t.language in selection.languages)
        if tracks and not kept:
            raise UnsupportedMedia("audio_tracks.languages: no audio track of those languages")
        return kept[:MAX_TRACKS]
    return tuple(readable[:MAX_TRACKS])


def _readable(track: AudioStream) -> bool:
    return bool(track.channels and track.sample_rate)


def plan_audio(
    renditions: Sequence[AudioRendition], tracks: Sequence[AudioStream]
) -> tuple[PlannedAudio, ...]:
    """Every (track, preset rendition) pair the track can fill, tracks first. One track
    keeps the preset's rendition names (the packages of one-track sources do not change)."""
    several = len(tracks) > 1
    default = _default_track(tracks)
    planned: list[PlannedAudio] = []
    for track in tracks:
        for spec in renditions:
            if spec.channels > 2 and track.channels < SURROUND:
                continue  # no 5.1 made up from fewer channels
            suffix = f"-{track.language or track.track}" if several else ""
            planned.append(
                PlannedAudio(
                    name=f"{spec.name}{suffix}",
                    bitrate_kbps=spec.bitrate_kbps,
                    channels=spec.channels,
                    track=track.track,
                    index=track.index,
                    group=spec.name,
                    label=_label(track, spec),
                    language=track.language,
                    role=track.role,
                    default=track is default,
                )
            )
    return _unique(planned)


def _default_track(tracks: Sequence[AudioStream]) -> AudioStream | None:
    """The file's default track when it states one (of the main role), else the first main
    one, else the first."""
    mains = [t for t in tracks if t.role == "main"]
    stated = [t for t in mains if t.default]
    first = stated or mains or list(tracks)
    return first[0] if first else None


def _label(track: AudioStream, spec: AudioRendition) -> str:
    name = track.title or track.language or f"track {track.track}"
    if track.title is None and track.role != "main":
        name = f"{name} {track.role}"
    return f"{name} 5.1" if spec.channels == SURROUND else name


def _unique(planned: list[PlannedAudio]) -> tuple[PlannedAudio, ...]:
    """Two tracks of one language (and title) apart: the later ones take their number."""
    seen_names: set[str] = set()
    seen_labels: set[tuple[str, str]] = set()
    out = []
    for p in planned:
        name, label = p.name, p.label
        if name in seen_names:
            name = f"{name}-{p.track}"
        if (p.group, label) in seen_labels:
            label = f"{label} ({p.track})"
        seen_names.add(name)
        seen_labels.add((p.group, label))
        out.append(
            PlannedAudio(
                name,
                p.bitrate_kbps,
                p.channels,
                p.track,
                p.index,
                p.group,
                label,
                p.language,
                p.role,
                p.default,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AudioArgs:
    """What the audio adds to a pass: filter statements, maps, per-stream codec options."""

    graph: tuple[str, ...]
    maps: tuple[str, ...]
    codecs: tuple[str, ...]


def audio_args(
    sources: Mapping[int, str],
    outs: Sequence[PlannedAudio],
    ends: str,
    tag: str = "",
    filters: Mapping[int, Sequence[str]] | None = None,
) -> AudioArgs:
    """One resampled chain per source track (``sources``: track -> graph label), ``asplit``
    to each of its renditions; output audio stream ``j`` is ``outs[j]``, AAC at its rate and
    channels (a 5.1 track downmixed to its stereo ones), tagged with the track's language.
    ``filters``: more on a track's chain before its split (the loudness normalizer)."""
    graph, maps, codecs = [], [], []
    for track, source in sources.items():
        mine = [j for j, out in enumerate(outs) if out.track == track]
        labels = "".join(f"[{tag}a{j}]" for j in mine)
        chain = ",".join([f"aresample=async=1:first_pts=0{ends}", *(filters or {}).get(track, ())])
        graph.append(f"{source}{chain},asplit={len(mine)}{labels}")
    for j, out in enumerate(outs):
        maps += ["-map", f"[{tag}a{j}]"]
        codecs += [f"-c:a:{j}", "aac", f"-b:a:{j}", f"{out.bitrate_kbps}k",
                   f"-ac:a:{j}", str(out.channels), f"-ar:a:{j}", "48000"]  # fmt: skip
        if out.language:  # dashenc writes it as the AdaptationSet's @lang
            codecs += [f"-metadata:s:a:{j}", f"language={out.language}"]
    return AudioArgs(tuple(graph), tuple(maps), tuple(codecs))


def adaptation_streams(outs: Sequence[PlannedAudio], first: int) -> tuple[str, ...]:
    """The dash muxer's ``streams=`` of each audio AdaptationSet: one per source track (its
    language and role), listing its renditions' output stream indices (after ``first``);
    one track's set simply takes every audio stream."""
    if len({out.track for out in outs}) == 1:
        return ("a",)
    by_track: dict[int, list[str]] = {}
    for j, out in enumerate(outs):
        by_track.setdefault(out.track, []).append(str(first + j))
    return tuple(",".join(streams) for streams in by_track.values())


def several_tracks(outs: Sequence[PlannedAudio]) -> bool:
    return len({out.track for out in outs}) > 1


def ts_alternatives(outs: Sequence[PlannedAudio], n_video: int) -> list[str]:
    """The hls muxer's ``-var_stream_map`` for hls-ts of several tracks: video-only
    variants naming one audio group, each track an audio-only rendition in it (the
    master is relabelled from the plan afterwards, as the CMAF one is)."""
    group = outs[0].group
    variants = [f"v:{i},agroup:{group},name:{i}" for i in range(n_video)]
    for j, out in enumerate(outs):
        language = f",language:{out.language}" if out.language else ""
        default = ",default:yes" if out.default else ""
        variants.append(f"a:{j},agroup:{group}{language}{default},name:{n_video + j}")
    return variants
