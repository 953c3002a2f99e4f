"""ffprobe's ``-show_format -show_streams`` JSON, as the typed document the MediaTool port
returns (:func:`probe_doc` reads it; :mod:`core.media.probe` reduces it to facts).

The fields the parsers read are typed as ffprobe prints them: counts and sizes of a frame as
numbers, durations, times, rates and byte counts as strings ("10.010000", "30/1", "N/A"),
converted where they are used, with the tolerance they always had. Every other field is
kept as ffprobe printed it (``extra="allow"``): ``probe.json`` publishes the document.

A file cannot make this model raise. Its text reaches it only through ffprobe, which prints
each field with one type; a value of another type, or a value that does not parse (a
damaged or hand-made document), is ignored: that field reads as None, as when it is
absent, and a stream or list entry that is not an object is dropped. Only a document that
is not a JSON object at all is refused, as InvalidMedia.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from core.errors import InvalidMedia

# ffprobe's numbers in strings stay strings (probe.json publishes them as printed); a JSON
# number where a string belongs is read as its text ("7"), as str() read it before.
_DOC = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


def _or_none(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A value of the wrong type is ignored, as an absent one is."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _objects(value: object) -> list[object]:
    """A list's JSON objects; anything else in it, or anything but a list, is dropped."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _objects_or_none(value: object) -> list[object] | None:
    return None if value is None else _objects(value)


def _object(value: object) -> object:
    return value if isinstance(value, dict) else {}


Ignored = WrapValidator(_or_none)
Text = Annotated[str | None, Ignored]  # a name or ffprobe's number in a string
Count = Annotated[int | None, Ignored]  # ffprobe prints these as JSON integers
# The display matrix's angle: an integer in ffmpeg 5.1, kept as printed.
Angle = Annotated[int | float | None, Ignored]
Tags = Annotated[dict[str, str] | None, Ignored]  # the uploader's text: read, never trusted


class SideData(BaseModel):
    """One entry of a stream's side data (the display matrix, stereo 3D, ...)."""

    model_config = _DOC

    side_data_type: Text = None
    rotation: Angle = None


class Disposition(BaseModel):
    """A stream's dispositions, each 1 or 0; the ones the parsers read are typed."""

    model_config = _DOC

    default: Count = None
    comment: Count = None
    visual_impaired: Count = None  # an audio description of the picture
    attached_pic: Count = None  # cover art: a picture, not the video


class ProbeStream(BaseModel):
    model_config = _DOC

    index: Count = None
    codec_type: Text = None  # video, audio, subtitle, data, attachment
    codec_name: Text = None
    width: Count = None
    height: Count = None
    sample_aspect_ratio: Text = None  # "32:27"
    pix_fmt: Text = None
    color_transfer: Text = None
    field_order: Text = None
    r_frame_rate: Text = None  # "30000/1001"
    avg_frame_rate: Text = None
    start_time: Text = None  # seconds, "0.000000"
    duration: Text = None
    nb_frames: Text = None
    channels: Count = None
    sample_rate: Text = None  # "48000"
    channel_layout: Text = None
    disposition: Annotated[Disposition | None, Ignored] = None
    tags: Tags = None
    side_data_list: Annotated[list[SideData] | None, BeforeValidator(_objects_or_none)] = None


class ProbeFormat(BaseModel):
    model_config = _DOC

    format_name: Text = None  # "mov,mp4,m4a,3gp,3g2,mj2"
    start_time: Text = None
    duration: Text = None
    size: Text = None  # bytes, "6401234"
    tags: Tags = None


class ProbeDoc(BaseModel):
    """What ffprobe said about one file: its container and every stream, in its order."""

    model_config = _DOC

    streams: Annotated[list[ProbeStream], BeforeValidator(_objects)] = Field(default_factory=list)
    format: Annotated[ProbeFormat, BeforeValidator(_object)] = Field(default_factory=ProbeFormat)


def probe_doc(value: object) -> ProbeDoc:
    """ffprobe's decoded JSON as the typed document; InvalidMedia when it is no object."""
    if not isinstance(value, dict):
        raise InvalidMedia("ffprobe printed no JSON object")
    return ProbeDoc.model_validate(value)
