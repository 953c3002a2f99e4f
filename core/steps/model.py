"""The steps of a job (request version 2): typed, bounded, discriminated by ``op``.

Transforms change the picture or sound before any output (trim, concat, crop, scale,
rotate, flip, fps, speed, overlay, text, subtitles (burnt in, or a sidecar track),
replace_audio, mix, loudness); outputs write files (:mod:`core.steps.outputs`).
A step never carries ffmpeg syntax: every field is a number within bounds, a choice from a
closed set, an object in a bucket, or (``text``) words that reach ffmpeg through a file.
:mod:`core.steps.transforms` and :mod:`core.steps.compile` turn a list of them into passes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# A step's own name: the folder its files go under ({prefix}/{job}/{name}/...).
StepName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{0,31}$")]
BucketName = Annotated[
    str, StringConstraints(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
]
ObjectKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")]
# Seconds on the input's (or the transformed picture's) timeline: up to the longest input.
Seconds = Annotated[float, Field(ge=0.0, le=24 * 3600.0)]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]
Place = Literal["top-left", "top", "top-right", "center", "bottom-left", "bottom", "bottom-right"]
MAX_STEPS = 32
MAX_CONCAT_INPUTS = 8
MAX_MIX_TRACKS = 8
MAX_CAPTION_CHARS = 2000


class _Step(BaseModel):
    # strict: "1.0" is not a number here; but ints are accepted where floats are
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StepObject(_Step):
    """An object a step names (an overlay image, a clip to append). ``bucket`` defaults to
    the input's; it is held to the same bucket allowlist and key rules as the input."""

    bucket: BucketName | None = None
    key: ObjectKey
    version_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None
    # The object's ETag: pinned by the worker when it takes the job (a replaced overlay is a
    # job of its own, and the object downloaded is the one seen then); a sender may give it.
    etag: (
        Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None
    # Its size as the same HEAD saw it: the disk reserved for the job counts it.
    size: Annotated[int, Field(ge=0)] | None = None


class _Span(_Step):
    """When a drawn step shows: from ``start`` to ``end`` seconds (None: from the first or
    to the last frame)."""

    start: Seconds | None = None
    end: Seconds | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Trim(_Step):
    """Keep ``start``..``end`` (or ``duration`` from ``start``). ``accurate`` cuts at the
    exact frame; ``keyframe`` snaps the start to the keyframe at or before it, decodes less,
    and writes a stream copy of the cut as well (``clip``)."""

    op: Literal["trim"]
    start: Seconds = 0.0
    end: Seconds | None = None
    duration: Annotated[float, Field(gt=0.0, le=24 * 3600.0)] | None = None
    mode: Literal["accurate", "keyframe"] = "accurate"

    @model_validator(mode="after")
    def _one_end(self) -> Trim:
        if self.end is not None and self.duration is not None:
            raise ValueError("give end or duration, not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end is None and self.duration is None and self.start == 0:
            raise ValueError("a trim needs start, end or duration")
        return self

    @property
    def stop(self) -> float | None:
        """Where the kept part ends on the input's timeline (None: at its end)."""
        return (
            self.end
            if self.end is not None
            else (self.start + self.duration if self.duration is not None else None)
        )


class Concat(_Step):
    """Append these objects after the main input, normalized to its picture and sound."""

    op: Literal["concat"]
    inputs: Annotated[
        tuple[StepObject, ...], Field(strict=False, min_length=1, max_length=MAX_CONCAT_INPUTS)
    ]


class Crop(_Step):
    """A ``width`` x ``height`` window at ``x``, ``y`` (centred when not given), or the
    largest centred window of ``aspect`` (``"9:16"``)."""

    op: Literal["crop"]
    width: Annotated[int, Field(ge=16, le=8192)] | None = None
    height: Annotated[int, Field(ge=16, le=8192)] | None = None
    x: Annotated[int, Field(ge=0, le=8192)] | None = None
    y: Annotated[int, Field(ge=0, le=8192)] | None = None
    aspect: (
        Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,2}:[1-9][0-9]{0,2}$")] | None
    ) = None

    @model_validator(mode="after")
    def _window(self) -> Crop:
        sized = self.width is not None and self.height is not None
        if self.aspect is not None and (self.width or self.height or self.x or self.y):
            raise ValueError("give aspect, or width and height (and x, y), not both")
        if self.aspect is None and not sized:
            raise ValueError("a crop needs width and height, or aspect")
        return self


class Scale(_Step):
    """Resize to ``width`` x ``height``; with one of them, the other keeps the aspect."""

    op: Literal["scale"]
    width: Annotated[int, Field(ge=16, le=7680)] | None = None
    height: Annotated[int, Field(ge=16, le=7680)] | None = None

    @model_validator(mode="after")
    def _some(self) -> Scale:
        if self.width is None and self.height is None:
            raise ValueError("a scale needs width, height or both")
        return self


class Rotate(_Step):
    op: Literal["rotate"]
    degrees: Literal[90, 180, 270]  # clockwise


class Flip(_Step):
    op: Literal["flip"]
    direction: Literal["horizontal", "vertical"]


class Fps(_Step):
    op: Literal["fps"]
    fps: Annotated[float, Field(ge=1.0, le=120.0)]


class Speed(_Step):
    """Play ``factor`` times as fast (0.5: twice as long); the sound keeps its pitch."""

    op: Literal["speed"]
    factor: Annotated[float, Field(ge=0.25, le=4.0)]


class Overlay(_Span):
    """An image (a logo) drawn over the picture: by corner with ``margin``, or at ``x``,
    ``y``; ``width`` is a fraction of the frame's."""

    op: Literal["overlay"]
    image: StepObject
    position: Corner = "top-right"
    margin: Annotated[int, Field(ge=0, le=1000)] = 16
    x: Annotated[int, Field(ge=0, le=8192)] | None = None
    y: Annotated[int, Field(ge=0, le=8192)] | None = None
    width: Annotated[float, Field(gt=0.0, le=1.0)] = 0.15
    opacity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0

    @model_validator(mode="after")
    def _placed(self) -> Overlay:
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y, or neither")
        return self


class Text(_Span):
    """A caption drawn on the picture. The words reach ffmpeg only through a file in the job
    directory (``textfile=``, ``expansion=none``): never as filter syntax."""

    op: Literal["text"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CAPTION_CHARS)]
    position: Place = "bottom"
    margin: Annotated[int, Field(ge=0, le=1000)] = 24
    size: Annotated[int, Field(ge=8, le=300)] = 36
    color: Colour = "#ffffff"
    box: bool = False
    box_color: Colour = "#00000099"


Gain = Annotated[float, Field(ge=-60.0, le=20.0)]  # decibels


class ReplaceAudio(_Step):
    """The soundtrack swapped for another object's sound, cut or padded with silence to the
    picture's length; ``gain_db`` raises or lowers it."""

    op: Literal["replace_audio"]
    audio: StepObject
    gain_db: Gain = 0.0


class MixTrack(_Step):
    """A sound laid over the job's: from ``delay`` seconds into the picture, ``gain_db``
    louder or softer; ``duck`` lowers it while the job's own sound (speech) plays."""

    audio: StepObject
    gain_db: Gain = 0.0
    delay: Seconds = 0.0
    duck: bool = False


class Mix(_Step):
    """Tracks from other objects mixed into the sound, which keeps its length."""

    op: Literal["mix"]
    tracks: Annotated[
        tuple[MixTrack, ...], Field(strict=False, min_length=1, max_length=MAX_MIX_TRACKS)
    ]


class Subtitles(_Step):
    """A subtitle track: a file (SRT, WebVTT, ASS/SSA), a text subtitle stream of the input
    (``stream``, counted among its subtitle streams from 0), or the captions the input's
    video carries (``captions``, a sidecar only): CEA-608 CC1, or CEA-708 ``service`` (1..63,
    default 1). ``sidecar``: converted to WebVTT and added to every streaming package the
    job's encodes make (and a plain ``.vtt`` beside it); ``burn``: drawn into the picture
    with libass."""

    op: Literal["subtitles"]
    source: StepObject | None = None
    stream: Annotated[int, Field(ge=0, le=31)] | None = None
    captions: Literal["cea-608", "cea-708"] | None = None
    service: Annotated[int, Field(ge=1, le=63)] | None = None  # CEA-708 only; None: 1
    # a BCP 47 tag of letters, digits and hyphens ("eng", "en", "pt-BR", "zh-Hant")
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")]
    mode: Literal["sidecar", "burn"] = "sidecar"

    @model_validator(mode="after")
    def _one_source(self) -> Subtitles:
        given = [f for f in (self.source, self.stream, self.captions) if f is not None]
        if len(given) != 1:
            raise ValueError("give one of source, stream or captions")
        if self.captions is not None and self.mode != "sidecar":
            raise ValueError("captions: the video's captions are carried as a sidecar only")
        if self.service is not None and self.captions != "cea-708":
            raise ValueError('service: a CEA-708 service, only with captions "cea-708"')
        return self

    @property
    def service_number(self) -> int:
        """The CEA-708 service the step reads (1 unless it names one)."""
        return self.service or 1


class Loudness(_Step):
    """The sound brought to ``target_lufs`` (EBU R128 integrated loudness) with its true peak
    at most ``true_peak_db``: measured by a pass of its own, then a linear gain (a dynamic
    normalizer only where a gain alone would pass the peak limit). ``measure``: the figures
    only, the sound unchanged. Defaults: EBU R128 (-23 LUFS, -1 dBTP), a loudness range of
    11 LU (broadcast speech and music pass it unchanged)."""

    op: Literal["loudness"]
    mode: Literal["normalize", "measure"] = "normalize"
    target_lufs: Annotated[float, Field(ge=-70.0, le=-5.0)] = -23.0
    true_peak_db: Annotated[float, Field(ge=-9.0, le=0.0)] = -1.0
    lra: Annotated[float, Field(ge=1.0, le=50.0)] = 11.0


TransformStep = Annotated[
    Trim | Concat | Crop | Scale | Rotate | Flip | Fps | Speed | Overlay | Text | ReplaceAudio
    | Mix | Subtitles | Loudness,
    Field(discriminator="op"),
]  # fmt: skip
TRANSFORM_OPS = frozenset(
    {"trim", "concat", "crop", "scale", "rotate", "flip", "fps", "speed", "overlay", "text",
     "replace_audio", "mix", "subtitles", "loudness"}
)  # fmt: skip
