"""A steps job's audio tracks beyond the chain's one sound (docs/steps.md "Audio tracks").

A ladder keeps every audio track its preset's selection keeps, as a plain job's does
(:func:`core.streaming.audio_tracks.kept_tracks`). The chain carries the main input's other tracks
beside its sound, each with the same track-wise filters (:class:`core.steps.chain_pass.Track`);
the compiler hands each ladder its copy of the tracks it keeps. A ladder whose selection
leaves out the first track, or a chain that built one soundtrack, takes the one sound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from core.media.probe import AudioStream, ProbeResult
from core.presets import StepsPreset, StreamingPreset
from core.steps.outputs import Encode
from core.steps.stage import CHAIN_SAMPLE_RATE, Branch, Chain
from core.streaming.audio_tracks import kept_tracks


def wanted_tracks(preset: StepsPreset, probe: ProbeResult) -> tuple[AudioStream, ...]:
    """The tracks besides the first that the job's ladders keep, in the file's order."""
    wanted = {
        t.track
        for s in preset.steps
        if isinstance(s, Encode) and isinstance(spec := preset.encodes[s.preset], StreamingPreset)
        for t in _with_first(spec, probe)[1:]
    }
    return tuple(t for t in probe.audio_tracks if t.track in wanted)


def ladder_tracks(
    spec: StreamingPreset, probe: ProbeResult, chain: Chain, sound: str, index: int
) -> tuple[tuple[AudioStream, ...], tuple[str, ...]]:
    """The tracks a ladder of step ``index`` packages and their labels (``sound``: its copy
    of the chain's sound, the first track); none when it packages the one sound."""
    kept = _with_first(spec, probe)
    carried = {stream.track: stream for stream, _ in chain.tracks}
    if probe.audio is None or len(kept) < 2 or any(t.track not in carried for t in kept[1:]):
        return (), ()
    first = replace(probe.audio, channels=chain.shape.channels, sample_rate=CHAIN_SAMPLE_RATE)
    tracks = (first, *(carried[t.track] for t in kept[1:]))
    return tracks, (sound, *(track_label(index, t.track) for t in kept[1:]))


def track_splits(chain: Chain, branches: Mapping[int, Branch]) -> list[str]:
    """Each carried track, one copy per branch that takes it (none: sunk)."""
    statements = []
    for stream, label in chain.tracks:
        takes = [i for i, b in branches.items() if stream.track in b.tracks]
        names = "".join(track_label(i, stream.track) for i in takes)
        statements.append(f"{label}asplit={len(takes)}{names}" if takes else f"{label}anullsink")
    return statements


def track_label(index: int, track: int) -> str:
    """Step ``index``'s copy of audio track ``track``."""
    return f"[out{index}t{track}]"


def _with_first(spec: StreamingPreset, probe: ProbeResult) -> tuple[AudioStream, ...]:
    """The tracks the ladder keeps, when the first is among them (the chain's sound, which
    the loudness steps measure); else none: the ladder takes the one sound."""
    kept = kept_tracks(spec, probe)
    first = probe.audio
    return kept if first is not None and kept and kept[0].track == first.track else ()
