"""The pieces a steps job's pass is assembled from (:mod:`core.steps.compile`).

:mod:`core.steps.transforms` compiles the transform steps into a :class:`Chain`: every input of
the pass, and graph statements that end in one picture label and one sound label, with the
:class:`Shape` of what comes out. Each output step becomes a :class:`Branch`: statements
that take their own copy of that picture and sound (the compiler ``split``\\ s them) and the
output arguments that write its files. Planners fit outputs to the shape through
:func:`shaped_probe`, exactly as they fit a plain job to its source's probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import PurePosixPath

from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream

# The labels a Chain ends in, and the pixel format its picture has there.
VIDEO_OUT = "[vmain]"
AUDIO_OUT = "[amain]"
CHAIN_PIX_FMT = "yuv420p"
CHAIN_SAMPLE_RATE = 48000
# The layouts the chain keeps a sound in, by channel count; any other count is made stereo.
# Mono and 5.1 stay as they are: a ladder makes its 5.1 rendition of a 5.1 sound (and its
# stereo downmix), as a plain job does from the source.
CHAIN_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def chain_channels(channels: int) -> int:
    """How many channels the chain keeps of a sound of ``channels``."""
    return channels if channels in CHAIN_LAYOUTS else 2


@dataclass(frozen=True, slots=True)
class Shape:
    """The picture and sound after every transform: square pixels, progressive, SDR 8-bit,
    a constant frame rate; the sound resampled to 48 kHz, mono, stereo or 5.1."""

    width: int
    height: int
    fps: float
    duration: float  # seconds (0.0: unknown)
    has_video: bool = True
    has_audio: bool = True
    channels: int = 2


@dataclass(frozen=True, slots=True)
class Attached:
    """An object a step names, downloaded into the job directory and probed."""

    where: str  # the request's path to it: "steps[1].image"
    path: PurePosixPath  # in the job directory
    probe: ProbeResult


@dataclass(frozen=True, slots=True)
class CaptionFile:
    """A file to write into the job directory before the pass runs (a caption's words)."""

    name: str  # relative to the job directory
    text: str


@dataclass(frozen=True, slots=True)
class Chain:
    """The transforms, compiled."""

    inputs: tuple[str, ...]  # argv: every input with its own flags, the main input first
    graph: tuple[str, ...]  # filter_complex statements, ending in VIDEO_OUT / AUDIO_OUT
    shape: Shape
    files: tuple[CaptionFile, ...] = ()
    notes: tuple[str, ...] = ()  # what a reader of the plan and job.json should know
    # the main input's other audio tracks, each ending in a label of its own
    tracks: tuple[tuple[AudioStream, str], ...] = ()

    @property
    def video(self) -> str | None:
        return VIDEO_OUT if self.shape.has_video else None

    @property
    def audio(self) -> str | None:
        return AUDIO_OUT if self.shape.has_audio else None

    @property
    def sounds(self) -> tuple[str, ...]:
        """Every sound label it ends in: the sound's and each track's (what a pass that
        takes no sound sinks)."""
        return (*((AUDIO_OUT,) if self.shape.has_audio else ()), *(t for _, t in self.tracks))


def branch_tag(index: int) -> str:
    """What every graph label (and named filter) of output step ``index``'s branch starts
    with: several branches live in one graph."""
    return f"s{index}"


@dataclass(frozen=True, slots=True)
class Branch:
    """One output step's part of a pass."""

    graph: tuple[str, ...]  # statements that consume the branch's picture/sound labels
    args: tuple[str, ...]  # its output options and ``file:`` targets
    dirs: tuple[str, ...] = ()  # folders under the job's output directory to make first
    takes_video: bool = True
    takes_audio: bool = False
    tracks: tuple[int, ...] = ()  # the chain's other audio tracks it takes (by track number)


def shaped_probe(shape: Shape) -> ProbeResult:
    """A probe of the chain's output, as the planners of a plain job read a source's: the
    picture is stream 0 and the sound stream 1 of what they are handed (by label)."""
    video = (
        VideoStream(
            codec="rawvideo",
            width=shape.width,
            height=shape.height,
            fps=shape.fps,
            rotation=0,
            sample_aspect=Fraction(1),
            pix_fmt=CHAIN_PIX_FMT,
            duration=shape.duration,
            index=0,
            field_order="progressive",
        )
        if shape.has_video
        else None
    )
    audio = (
        AudioStream(
            codec="pcm_s16le", channels=shape.channels, sample_rate=CHAIN_SAMPLE_RATE, index=1
        )
        if shape.has_audio
        else None
    )
    streams = tuple(
        StreamFacts(index=i, kind=kind, codec=codec, duration=shape.duration)
        for i, kind, codec in ((0, "video", "rawvideo"), (1, "audio", "pcm_s16le"))
        if (kind == "video" and shape.has_video) or (kind == "audio" and shape.has_audio)
    )
    return ProbeResult(
        format_name="lavfi",
        duration=shape.duration,
        size=None,
        video=video,
        audio=audio,
        streams=streams,
    )
