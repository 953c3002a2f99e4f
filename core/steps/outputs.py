"""The output steps of a job: each writes files under its own folder of the job's output.

``encode`` (any preset, ladders included), ``frames``, ``preview`` (GIF or WebP),
``scenes`` (``scenes.json`` and a picture per scene), ``quality`` (SSIM and PSNR of every
encoded rendition against the transformed source) and ``audio`` (the sound in a file).
The one union of every step, and the rules a list of them obeys, are here too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.steps.model import (
    MAX_STEPS,
    TRANSFORM_OPS,
    Concat,
    Crop,
    Flip,
    Fps,
    Loudness,
    Mix,
    Overlay,
    ReplaceAudio,
    Rotate,
    Scale,
    Seconds,
    Speed,
    StepName,
    Subtitles,
    Text,
    Trim,
    _Step,
)

PresetRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9.\-]*$")]
MAX_FRAMES = 500  # pictures one frames step may write, whatever the input's length
MAX_AT = 100
ImageFormat = Literal["jpg", "png", "webp"]


class _Output(_Step):
    op: str
    name: StepName | None = None  # the folder; default the op, numbered when repeated


class Encode(_Output):
    """Encode with a preset of the catalog: an MP4 or a streaming package (a ladder)."""

    op: Literal["encode"]
    preset: PresetRef


class Frames(_Output):
    """Pictures: one ``every`` N seconds from the first frame, ``at`` these times, or
    ``count`` spread evenly over the picture."""

    op: Literal["frames"]
    every: Annotated[float, Field(ge=0.1, le=3600.0)] | None = None
    at: (
        Annotated[tuple[Seconds, ...], Field(strict=False, min_length=1, max_length=MAX_AT)] | None
    ) = None
    count: Annotated[int, Field(ge=1, le=MAX_FRAMES)] | None = None
    format: ImageFormat = "jpg"
    width: Annotated[int, Field(ge=16, le=3840)] = 320

    @model_validator(mode="after")
    def _one_rule(self) -> Frames:
        if sum(v is not None for v in (self.every, self.at, self.count)) != 1:
            raise ValueError("give exactly one of every, at or count")
        return self


class Preview(_Output):
    """A short animated picture: a GIF (with a palette made from its own frames) or WebP."""

    op: Literal["preview"]
    format: Literal["gif", "webp"] = "gif"
    start: Seconds = 0.0
    duration: Annotated[float, Field(gt=0.0, le=30.0)] = 3.0
    fps: Annotated[float, Field(ge=1.0, le=30.0)] = 10.0
    width: Annotated[int, Field(ge=16, le=1280)] = 320


class Scenes(_Output):
    """Hard cuts (``scene`` score over ``threshold``) into ``scenes.json``, and a picture of
    each scene's first frame."""

    op: Literal["scenes"]
    threshold: Annotated[float, Field(ge=0.05, le=1.0)] = 0.3
    thumbnails: bool = True
    width: Annotated[int, Field(ge=16, le=1920)] = 320


class Quality(_Output):
    """SSIM and PSNR of every rendition the job's encodes made, against the transformed
    source, compared at one resolution (VMAF only where the build has libvmaf)."""

    op: Literal["quality"]


AudioFormat = Literal["mp3", "aac", "m4a", "opus", "flac", "wav"]
LOSSLESS = frozenset({"flac", "wav"})
SampleRate = Literal[8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000]
# libopus encodes at these rates only; MP3 (MPEG-1/2/2.5 layer III) tops out at 48 kHz
_OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})


class Audio(_Output):
    """The sound alone, in a file of its own: MP3, AAC (in an ``.m4a``; ``aac`` is the
    same), Opus (in Ogg), FLAC or WAV; ``bitrate_kbps`` for the lossy ones, ``channels``
    and ``sample_rate`` for any (None: the transformed sound's, 48 kHz)."""

    op: Literal["audio"]
    format: AudioFormat = "m4a"
    bitrate_kbps: Annotated[int, Field(ge=8, le=512)] | None = None
    channels: Annotated[int, Field(ge=1, le=8)] | None = None
    sample_rate: SampleRate | None = None

    @model_validator(mode="after")
    def _fits_the_format(self) -> Audio:
        if self.bitrate_kbps is not None and self.format in LOSSLESS:
            raise ValueError(f"bitrate_kbps: {self.format} is lossless; give no bitrate")
        if self.format == "mp3" and (self.channels or 0) > 2:
            raise ValueError("channels: MP3 holds at most 2")
        if self.format == "mp3" and (self.sample_rate or 0) > 48000:
            raise ValueError("sample_rate: MP3 goes up to 48000")
        if self.format == "opus" and self.sample_rate and self.sample_rate not in _OPUS_RATES:
            raise ValueError("sample_rate: Opus takes 8000, 12000, 16000, 24000 or 48000")
        return self


OutputStep = Encode | Frames | Preview | Scenes | Quality | Audio
Step = Annotated[
    Trim | Concat | Crop | Scale | Rotate | Flip | Fps | Speed | Overlay | Text | ReplaceAudio
    | Mix | Subtitles | Loudness | Encode | Frames | Preview | Scenes | Quality | Audio,
    Field(discriminator="op"),
]  # fmt: skip
StepList = Annotated[tuple[Step, ...], Field(strict=False, min_length=1, max_length=MAX_STEPS)]


def steps_problem(steps: tuple[object, ...]) -> str | None:
    """What makes a list of steps unusable as a whole (each step is valid on its own)."""
    ops = [getattr(s, "op", "") for s in steps]
    outputs = [i for i, op in enumerate(ops) if op not in TRANSFORM_OPS]
    if not outputs and not (len(steps) == 1 and _copies(steps[0])):
        return (
            "steps: at least one output step (encode, frames, preview, scenes, quality, "
            "audio; a keyframe trim alone writes its stream copy)"
        )
    first = outputs[0] if outputs else len(ops)
    late = [i for i, op in enumerate(ops) if op in TRANSFORM_OPS and i > first]
    if late:
        return f"steps[{late[0]}] ({ops[late[0]]}): transforms come before every output step"
    if "quality" in ops and "encode" not in ops:
        return "steps: quality compares what encode steps make, and there is none"
    if ops.count("loudness") > 1:
        return "steps: one loudness step a job (it measures and sets the whole sound)"
    names = step_folders(steps)
    if len(set(names.values())) != len(names):
        return "steps: two output steps have the same name"
    return _sidecars_problem(steps)


def _sidecars_problem(steps: tuple[object, ...]) -> str | None:
    """Sidecar tracks keep the input's times, are one per language, and go into a package."""
    sidecars = [
        (i, s) for i, s in enumerate(steps) if isinstance(s, Subtitles) and s.mode == "sidecar"
    ]
    if not sidecars:
        return None
    first = sidecars[0][0]
    # an accurate trim moves the times by its start; these change them in ways cues do not
    retimed = [
        i
        for i, s in enumerate(steps)
        if isinstance(s, Speed | Concat) or (isinstance(s, Trim) and s.mode != "accurate")
    ]
    if retimed:
        return (
            f"steps[{first}] (subtitles).mode: a sidecar track keeps the input's times; "
            f"steps[{retimed[0]}] changes them (burn it in instead)"
        )
    if (problem := _one_each(sidecars)) is not None:
        return problem
    if not any(isinstance(s, Encode) for s in steps):
        return f"steps[{first}] (subtitles): a sidecar track goes into an encode step's package"
    return None


def _one_each(sidecars: list[tuple[int, Subtitles]]) -> str | None:
    """A track per language (the tracks' files are named by it), a CEA-708 service read once."""
    languages: set[str] = set()
    services: set[int] = set()
    for i, step in sidecars:
        if step.language in languages:
            return f"steps[{i}] (subtitles).language: a second sidecar track of that language"
        languages.add(step.language)
        if step.captions == "cea-708":
            if step.service_number in services:
                return f"steps[{i}] (subtitles).service: a second step for that service"
            services.add(step.service_number)
    return None


def _copies(step: object) -> bool:
    return isinstance(step, Trim) and step.mode == "keyframe"


def step_folders(steps: tuple[object, ...]) -> dict[int, str]:
    """Each output step's folder, by its index: its name, else its op (``frames``), numbered
    from the second of the same op on (``encode``, ``encode-2``)."""
    seen: dict[str, int] = {}
    folders: dict[int, str] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, _Output):
            continue
        op = str(step.op)
        seen[op] = seen.get(op, 0) + 1
        folders[i] = step.name or (op if seen[op] == 1 else f"{op}-{seen[op]}")
    return folders
