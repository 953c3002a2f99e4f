"""The transforms of the sound alone: ``replace_audio`` and ``mix``, in a steps job's chain.

Each object's sound comes in as an input of the pass of its own, is brought to the chain's
rate and layout, and is cut or padded with silence to the picture's length, so that the
sound never outlasts the picture nor stops before it. Gains are plain ``volume`` in dB;
``mix`` adds the tracks without scaling them down (``normalize=0``: a gain means what it
says); a ducked track is lowered while the job's own sound is loud, by a sidechain
compressor keyed on it. Every number comes from a validated field or a probe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from core.errors import InvalidMedia
from core.media.hardening import InputGuard
from core.steps.chain_pass import Pass, refuse
from core.steps.model import Mix, MixTrack, ReplaceAudio
from core.steps.stage import Attached, chain_channels

# Lowered 10:1 above -40 dBFS RMS of the job's sound (speech at -27 dBFS takes the music down
# by about 12 dB; room noise in a pause, below the threshold, does not); let go in 0.3 s, so
# that the music comes back between sentences, not between words.
DUCK = "sidechaincompress=threshold=0.01:ratio=10:attack=20:release=300"
_INPUT_STREAM = re.compile(r"^\[\d+:\d+\]$")


def replace_audio(
    p: Pass, i: int, step: ReplaceAudio, attached: Mapping[str, Attached], guard: InputGuard
) -> None:
    length = _length(p, i, "replace_audio")
    _drop_sound(p)
    obj = attached[f"steps[{i}].audio"]
    p.audio, p.af = _sound_input(p, obj, guard), []
    if obj.probe.audio is not None:  # the soundtrack in its own layout (mono, stereo, 5.1)
        p.shape = replace(p.shape, channels=chain_channels(obj.probe.audio.channels))
    p.af += _fitted(p, step.gain_db, 0.0, length)


def mix(p: Pass, i: int, step: Mix, attached: Mapping[str, Attached], guard: InputGuard) -> None:
    length = _length(p, i, "mix")
    ducked = [j for j, t in enumerate(step.tracks) if t.duck]
    if ducked and p.audio is None:
        refuse(f"steps[{i}] (mix).tracks[{ducked[0]}].duck: the input has no sound to duck under")
    keys: list[str] = []
    mains: list[str] = []
    if p.audio is not None:
        p.af += [f"apad=whole_dur={length:.3f}", f"atrim=end={length:.3f}"]
        copies = [p.label("a") for _ in range(1 + len(ducked))]
        p.graph.append(f"{p.emit_audio()}asplit={len(copies)}{''.join(copies)}")
        mains, keys = copies[:1], copies[1:]
    tracks = [
        _track(
            p,
            track,
            attached[f"steps[{i}].tracks[{j}].audio"],
            guard,
            length,
            keys.pop(0) if track.duck else None,
        )
        for j, track in enumerate(step.tracks)
    ]
    inputs = [*mains, *tracks]
    if len(inputs) == 1:
        p.audio, p.af = inputs[0], []
        return
    out = p.label("a")
    p.graph.append(
        f"{''.join(inputs)}amix=inputs={len(inputs)}:duration=longest:"
        f"dropout_transition=0:normalize=0{out}"
    )
    p.audio, p.af = out, []


def _track(
    p: Pass, track: MixTrack, obj: Attached, guard: InputGuard, length: float, key: str | None
) -> str:
    label = p.label("a")
    chain = _fitted(p, track.gain_db, track.delay, length)
    p.graph.append(f"{_sound_input(p, obj, guard)}{','.join(chain)}{label}")
    if key is None:
        return label
    out = p.label("a")
    p.graph.append(f"{label}{key}{DUCK}{out}")
    return out


def _sound_input(p: Pass, obj: Attached, guard: InputGuard) -> str:
    sound = obj.probe.audio
    if sound is None:
        raise InvalidMedia(f"{obj.where}: the object has no sound")
    k = p.add_input([*guard.flags(guard.demuxer(obj.probe.format_name)), "-i", f"file:{obj.path}"])
    return f"[{k}:{sound.index}]"


def _fitted(p: Pass, gain_db: float, delay: float, length: float) -> list[str]:
    """A sound in the chain's format, from ``delay`` on, exactly ``length`` seconds long."""
    return [
        *p.sound_format(),
        "asetpts=PTS-STARTPTS",
        *([f"volume={gain_db:g}dB"] if gain_db else []),
        *([f"adelay={round(delay * 1000)}:all=1"] if delay else []),
        f"apad=whole_dur={length:.3f}",
        f"atrim=end={length:.3f}",
    ]


def _drop_sound(p: Pass) -> None:
    """The sound so far, let go: an input's stream is simply not used; a sound the graph
    made must still be consumed (ffmpeg refuses a graph with an unconnected output)."""
    if p.audio is None:
        return
    if _INPUT_STREAM.match(p.audio):
        p.audio, p.af = None, []
        return
    p.graph.append(f"{p.emit_audio()}anullsink")
    p.audio = None


def _length(p: Pass, i: int, op: str) -> float:
    if p.shape.duration <= 0:
        raise InvalidMedia(f"steps[{i}] ({op}): the input states no length to fit the sound to")
    return p.shape.duration
