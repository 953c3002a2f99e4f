"""Named output presets: what a job produces, chosen by name, never by free-form arguments.

A preset is data: the shipped ``presets.toml`` beside this module, read over by a user's file
(``FFAPI_PRESETS_FILE``). :mod:`core.streaming.ladder` fits a preset's ladder to a source and
:mod:`core.media.plan` / :mod:`core.streaming.renditions` turn it into an ffmpeg argv.

Kinds: :class:`StreamingPreset` (``cmaf`` or ``hls-ts``), :class:`Mp4Preset`, and
:class:`StepsPreset` (a saved list of steps; the encode presets it names are pinned when
it is resolved, :func:`core.jobs.results.resolve_preset`). :func:`parse_catalog` reads TOML over a
base catalog; each preset's ``spec_hash`` is part of the job id.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from core.steps.model import Loudness
from core.steps.outputs import StepList, steps_problem

PresetName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9.\-]*$")
]
RungName = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][\w.\-]*$")
]
X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
]
MAX_RUNGS = 8
# Per-preset admission limits: the stricter of these and the deployment's wins. They decide
# which inputs a preset takes, not what it makes, so they are no part of its spec hash.
_LIMIT_FIELDS = frozenset({"max_duration_seconds", "max_input_bytes"})


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Limited(_Spec):
    """An output preset's own caps on its inputs (None: the deployment's alone)."""

    max_duration_seconds: float | None = Field(default=None, gt=0)
    max_input_bytes: int | None = Field(default=None, ge=1)


class Rung(_Spec):
    """One video rendition of a ladder, named by its short side (a ``720p`` rung of a portrait
    source is 720 pixels wide)."""

    name: RungName
    short_side: int = Field(ge=144, le=4320)
    video_kbps: int = Field(ge=100, le=100_000)
    maxrate_kbps: int = Field(ge=100, le=150_000)
    bufsize_kbps: int = Field(ge=100, le=300_000)

    @model_validator(mode="after")
    def _rates_are_ordered(self) -> Rung:
        if self.maxrate_kbps < self.video_kbps:
            raise ValueError("maxrate_kbps is below video_kbps")
        return self


class AudioRendition(_Spec):
    name: RungName = "aac"
    bitrate_kbps: int = Field(default=128, ge=32, le=512)
    # mono, stereo, or 6 (AAC 5.1: made only from a 5.1 source track, beside the stereo ones)
    channels: Literal[1, 2, 6] = 2


MAX_TRACKS = 8  # audio tracks kept at most: each is a full set of renditions
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
TrackNumber = Annotated[int, Field(ge=0, lt=32)]


class AudioSelection(BaseModel):
    """The audio tracks a ladder keeps: every one (the default), those in ``languages``
    (ISO 639-2 codes as the file tags them, "eng"), or ``tracks`` by their place among the
    file's audio streams (0: the first)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    languages: (
        Annotated[tuple[Language, ...], Field(strict=False, min_length=1, max_length=MAX_TRACKS)]
        | None
    ) = None
    tracks: (
        Annotated[tuple[TrackNumber, ...], Field(strict=False, min_length=1, max_length=MAX_TRACKS)]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_rule(self) -> AudioSelection:
        if self.languages is not None and self.tracks is not None:
            raise ValueError("give languages or tracks, not both")
        if self.tracks is not None and len(set(self.tracks)) != len(self.tracks):
            raise ValueError("tracks are listed more than once")
        return self


class LoudnessTarget(_Spec):
    """A streaming preset's loudness: every audio rendition made from one normalized sound
    (measured first, then one linear gain; see :mod:`core.steps.loudness`). The defaults are the
    streaming figures most services publish (-16 LUFS, -1.5 dBTP), not broadcast's -23."""

    target_lufs: float = Field(default=-16.0, ge=-70.0, le=-5.0)
    true_peak_db: float = Field(default=-1.5, ge=-9.0, le=0.0)
    lra: float = Field(default=11.0, ge=1.0, le=50.0)

    def step(self) -> Loudness:
        return Loudness(
            op="loudness",
            target_lufs=self.target_lufs,
            true_peak_db=self.true_peak_db,
            lra=self.lra,
        )


class Thumbnails(_Spec):
    """A poster plus one picture every ``every_seconds``."""

    every_seconds: float = Field(default=10.0, ge=1.0, le=600.0)
    width: int = Field(default=320, ge=32, le=1920)


class Storyboard(_Spec):
    """Sprite sheets of small tiles plus a WebVTT track of each tile's coordinates."""

    every_seconds: float = Field(default=5.0, ge=1.0, le=600.0)
    tile_width: int = Field(default=160, ge=32, le=640)
    columns: int = Field(default=10, ge=1, le=20)
    rows: int = Field(default=10, ge=1, le=20)


class StreamingPreset(_Limited):
    """An adaptive-streaming package: ``cmaf`` (fMP4 segments shared by HLS and DASH) or
    ``hls-ts`` (HLS with MPEG-TS segments). An empty ladder makes an audio-only package."""

    kind: Literal["cmaf", "hls-ts"]
    name: PresetName = "unnamed"
    ladder: tuple[Rung, ...] = Field(default=(), max_length=MAX_RUNGS)
    audio: tuple[AudioRendition, ...] = Field(default=(AudioRendition(),), max_length=4)
    segment_seconds: float = Field(default=4.0, ge=1.0, le=30.0)
    video_codec: Literal["libx264", "libx265", "libsvtav1"] = "libx264"
    encoder_preset: X264Preset = "veryfast"
    max_fps: float = Field(default=60.0, ge=1.0, le=240.0)
    # 10-bit and HDR sources become 8-bit SDR unless the preset keeps them (HEVC Main 10 only).
    hdr: Literal["tonemap", "keep"] = "tonemap"
    thumbnails: Thumbnails | None = None
    storyboard: Storyboard | None = None
    loudness: LoudnessTarget | None = None  # off: the sound as the source has it
    audio_tracks: AudioSelection = AudioSelection()  # every source audio track by default
    # Published as a growing stream while it encodes, announced by job.playable
    # (core/attempt/progressive_run.py); the finished package is the same either way.
    progressive: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> StreamingPreset:
        sides = [r.short_side for r in self.ladder]
        if sides != sorted(set(sides), reverse=True):
            raise ValueError("ladder rungs must be in strictly descending short_side order")
        if len({r.name for r in self.ladder}) != len(self.ladder):
            raise ValueError("ladder rung names must be unique")
        if not self.ladder and not self.audio:
            raise ValueError("a preset needs a ladder, audio renditions, or both")
        if self.loudness is not None and not self.audio:
            raise ValueError("loudness: the preset has no audio renditions to normalize")
        if self.hdr == "keep" and self.video_codec != "libx265":
            raise ValueError('hdr = "keep" needs video_codec = "libx265" (HEVC Main 10)')
        if self.kind == "hls-ts" and (self.video_codec != "libx264" or len(self.audio) > 1):
            raise ValueError("hls-ts carries H.264 video with one muxed audio rendition")
        if len({a.name for a in self.audio}) != len(self.audio):
            raise ValueError("audio rendition names must be unique")
        if self.audio and all(a.channels == 6 for a in self.audio):
            raise ValueError("a 5.1 audio rendition needs a mono or stereo one beside it")
        return self

    def spec_hash(self) -> str:
        return _hash(self)


class Mp4Preset(_Limited):
    """One progressive H.264/AAC MP4 plus a poster frame."""

    kind: Literal["mp4"] = "mp4"
    name: PresetName = "unnamed"
    # The cap of the short side: a landscape picture's height, a portrait one's width (as the
    # ladders' rungs); the name is kept for the preset files that use it.
    max_height: int = Field(ge=144, le=4320)
    video_codec: Literal["libx264"] = "libx264"
    x264_preset: X264Preset = "veryfast"
    # 0 is lossless, which x264's High profile (the one we ask for) refuses: every such job
    # would fail as a retried transcode_failed.
    crf: int = Field(default=23, ge=1, le=51)
    max_fps: float = Field(default=60.0, ge=1.0, le=240.0)
    audio_codec: Literal["aac"] = "aac"
    audio_bitrate_kbps: int = Field(default=128, ge=32, le=512)
    audio_channels: int = Field(default=2, ge=1, le=2)
    # The poster's long side (its width beside a landscape video, its height beside a
    # portrait one); the poster has the video's shape.
    poster_width: int = Field(default=640, ge=32, le=1920)

    def spec_hash(self) -> str:
        return _hash(self)


EncodePreset = Mp4Preset | StreamingPreset


class StepsPreset(_Limited):
    """A saved pipeline: a named list of steps (what a version 2 request's ``steps`` says),
    such as trim + crop 9:16 + text + encode. A request's own ``steps`` run as one of these,
    named ``steps``."""

    kind: Literal["steps"] = "steps"
    name: PresetName = "unnamed"
    steps: StepList
    # The presets its encode steps name, as they are when a job resolves it (part of the
    # spec hash: a changed encode preset makes a new job). Filled in by resolve_preset.
    encodes: dict[PresetName, Annotated[EncodePreset, Field(discriminator="kind")]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _coherent(self) -> StepsPreset:
        if (problem := steps_problem(self.steps)) is not None:
            raise ValueError(problem)
        return self

    def spec_hash(self) -> str:
        return _hash(self)


OutputPreset = Mp4Preset | StreamingPreset | StepsPreset
Preset = Annotated[OutputPreset, Field(discriminator="kind")]


class PresetCatalog(_Spec):
    default: PresetName
    presets: dict[PresetName, Preset]

    @model_validator(mode="after")
    def _default_exists(self) -> PresetCatalog:
        if self.default not in self.presets:
            raise ValueError(f"default preset {self.default!r} is not defined")
        return self

    def get(self, name: str) -> OutputPreset | None:
        return self.presets.get(name)


class PresetFileError(ValueError):
    """A presets file that cannot be used; the worker refuses to start with it."""


def parse_catalog(text: str, base: PresetCatalog | None = None) -> PresetCatalog:
    """Read a presets TOML document, over ``base`` when given (same name: replaced)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetFileError(f"presets file is not TOML: {exc}") from exc
    tables = doc.get("presets") or {}
    if not isinstance(tables, dict):
        raise PresetFileError("invalid presets file: `presets` must be a table of presets")
    try:
        return build_catalog(doc.get("default"), tables, base)
    except ValidationError as exc:
        raise PresetFileError(f"invalid presets file: {exc}") from exc


def build_catalog(
    default: object, tables: dict[str, Any], base: PresetCatalog | None = None
) -> PresetCatalog:
    """A catalog of preset tables (TOML's, by name) over ``base``; raises ValidationError
    (its locations name the preset and field: ``presets.web.ladder.0.short_side``)."""
    presets: dict[str, Any] = dict(base.presets) if base else {}
    for name, body in tables.items():
        presets[name] = {**body, "name": name} if isinstance(body, dict) else body
    if default is None and base is not None:
        default = base.default
    return PresetCatalog.model_validate({"default": default, "presets": presets})


@cache
def builtin_catalog() -> PresetCatalog:
    """The presets shipped in the package (package data, read once)."""
    return parse_catalog(resources.files("core").joinpath("presets.toml").read_text("utf-8"))


def _hash(spec: BaseModel) -> str:
    """Identity of what a preset produces; part of the idempotency key."""
    doc = spec.model_dump(mode="json", exclude=set(_LIMIT_FIELDS))
    if doc.get("loudness", True) is None:  # off, as before it existed: the same jobs
        del doc["loudness"]
    doc.pop("progressive", None)  # how the package is published, not what it is
    body = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:16]
