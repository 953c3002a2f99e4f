"""The graph a steps job's transforms are compiled into, as it is built
(:mod:`core.steps.transforms`).

A :class:`Pass` holds the inputs so far, the statements written, and the current picture and
sound: a label and the filters pending on it. Single-input filters queue on the label; a
step that joins inputs (concat, overlay) writes the queue out first. The input's other audio
tracks a ladder keeps ride along (:class:`Track`): each takes the same track-wise filters as
the sound (:meth:`Pass.sound`) until a step builds one soundtrack, which drops them
(:meth:`Pass.one_sound`). The numbers given to it are computed from validated fields and
probes; no request text ever reaches a statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from core.errors import InvalidMessage
from core.media.probe import AudioStream
from core.steps.stage import CHAIN_LAYOUTS, CHAIN_SAMPLE_RATE, CaptionFile, Shape, chain_channels


def refuse(message: str) -> NoReturn:
    """A step this input cannot take: the request is at fault, not the media."""
    raise InvalidMessage(message, code="invalid_request")


def even(value: float) -> int:
    """The nearest even number, at least 2 (4:2:0 pictures have even sides)."""
    return max(2, round(value / 2.0) * 2)


def seconds(value: float) -> str:
    return f"{value:g}"


@dataclass
class Track:
    """One more audio track of the main input: the stream as the chain makes it (48 kHz,
    mono or stereo), its input label and the filters pending on it."""

    stream: AudioStream
    label: str  # "[0:3]"
    af: list[str]


@dataclass
class Pass:
    font: str | None = None
    inputs: list[str] = field(default_factory=list)
    graph: list[str] = field(default_factory=list)
    files: list[CaptionFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shape: Shape = field(default_factory=lambda: Shape(0, 0, 0.0, 0.0, has_video=False))
    video: str | None = None  # the picture's label ("[0:0]", "[v3]")
    audio: str | None = None  # the sound's (None: no input has any, so far)
    vf: list[str] = field(default_factory=list)  # filters pending on the picture
    af: list[str] = field(default_factory=list)  # on the sound
    tracks: list[Track] = field(default_factory=list)  # the other audio tracks kept
    count: int = 0  # inputs so far
    labels: int = 0  # labels made so far

    def add_input(self, argv: list[str]) -> int:
        """Add an input (its flags and ``-i``); its index in the pass."""
        self.inputs += argv
        self.count += 1
        return self.count - 1

    def label(self, kind: str) -> str:
        self.labels += 1
        return f"[{kind}{self.labels}]"

    def sound_format(self, channels: int | None = None) -> list[str]:
        """48 kHz in the chain's layout (``channels``: a carried track's own)."""
        layout = CHAIN_LAYOUTS[chain_channels(channels or self.shape.channels)]
        return [f"aresample={CHAIN_SAMPLE_RATE}", f"aformat=channel_layouts={layout}"]

    def sound(self, filters: list[str], first: bool = False) -> None:
        """Track-wise filters (a trim, a tempo): on the sound and on every track kept."""
        for af in (self.af, *(t.af for t in self.tracks)):
            at = 0 if first else len(af)
            af[at:at] = filters

    def one_sound(self, i: int, op: str) -> None:
        """A step that builds one soundtrack from the sound: the other tracks are left out."""
        if self.tracks:
            self.notes.append(
                f"steps[{i}] ({op}): one soundtrack; the package keeps only the first audio track"
            )
        self.tracks = []

    def emit_tracks(self) -> tuple[tuple[AudioStream, str], ...]:
        """Every track kept, its filters written out to a label of its own."""
        out = []
        for t in self.tracks:
            target = f"[atrack{t.stream.track}]"
            held = self.sound_format(t.stream.channels)[-1]  # its layout, held (as the sound's)
            af = t.af if t.af[-1:] == [held] else [*t.af, held]
            self.graph.append(f"{t.label}{','.join(af)}{target}")
            out.append((t.stream, target))
        return tuple(out)

    def emit_video(self, out: str | None = None) -> str:
        """Write the pending picture filters out (to ``out``, or a new label); the label."""
        assert self.video is not None
        if not self.vf and out is None:
            return self.video
        target = out or self.label("v")
        self.graph.append(f"{self.video}{','.join(self.vf) or 'null'}{target}")
        self.video, self.vf = target, []
        return target

    def emit_audio(self, out: str | None = None) -> str:
        assert self.audio is not None
        if not self.af and out is None:
            return self.audio
        target = out or self.label("a")
        self.graph.append(f"{self.audio}{','.join(self.af) or 'anull'}{target}")
        self.audio, self.af = target, []
        return target

    def silence(self, duration: float, channels: int | None = None) -> str:
        """A silent sound of ``duration`` seconds, made in the graph; its label."""
        layout = CHAIN_LAYOUTS[chain_channels(channels or self.shape.channels)]
        target = self.label("s")
        self.graph.append(f"anullsrc=r={CHAIN_SAMPLE_RATE}:cl={layout}:d={duration:.3f}{target}")
        return target
