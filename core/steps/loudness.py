"""Loudness normalization (EBU R128), in two passes: measure, then one linear gain.

The measuring pass runs ffmpeg's ``loudnorm`` over the sound as the steps before the
loudness step leave it (the sound alone: no picture is decoded) and prints its figures as
JSON in the log; :func:`parse_loudnorm` reads them. :func:`normalize` turns them into the
main pass's filter: ``loudnorm`` with the measured figures and ``linear=true``, which is a
plain gain. ffmpeg keeps that gain only when it meets the true-peak limit (and the measured
range fits the target, which we widen to the measured one so that it always does); else
it normalizes dynamically (a gain that follows the programme, and a true-peak limiter).
The main pass's ``loudnorm`` prints its figures too (its own measure of what it made, and
the mode it ran in): the report takes the output's figures and the mode from there.

Several audio tracks are measured and normalized each on its own, in the same passes: every
``loudnorm`` is a named instance (``loudnorm@t1``: track 1), and ffmpeg prefixes each one's
figures with its name (:func:`parse_named`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core.errors import TranscodeFailed
from core.steps.model import Loudness

LRA_MAX = 50.0  # loudnorm's own bound on the range target
SILENT_LUFS = -70.0  # R128's absolute gate: nothing louder, nothing to normalize
# ffmpeg's "unset" values for a measured figure: given one, it will not normalize linearly
_UNSET_THRESH = -70.0
_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}")
# a named instance's figures: "[loudnorm@t1 @ 0x55d0c1] " then the JSON block
_NAMED = re.compile(r"\[loudnorm@(\w+) @ [^\]]*\]\s*(\{[^{}]*\"input_i\"[^{}]*\})")

# the loudness step's normalizer in a steps job's chain (a ladder's: track_instance)
STEP_INSTANCE = "step"

LoudnessMode = Literal["linear", "dynamic", "measure", "unchanged"]


@dataclass(frozen=True, slots=True)
class LoudnessMeasure:
    """What a ``loudnorm`` printed: the figures of the sound it was given and of the sound
    it made, and how it made it (``linear`` or ``dynamic``)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    output_i: float
    output_tp: float
    output_lra: float
    target_offset: float
    kind: str  # normalization_type


class LoudnessFigures(BaseModel):
    integrated_lufs: float | None = Field(description="integrated loudness, LUFS")
    true_peak_db: float | None = Field(description="true peak, dBTP")
    lra: float | None = Field(description="loudness range, LU")


class TrackLoudness(BaseModel):
    """One audio track's loudness, where a ladder keeps several (each normalized alone)."""

    track: int = Field(ge=0, description="the input's audio track, counted from 0")
    language: str | None = None
    mode: LoudnessMode
    gain_db: float | None = Field(default=None, description="the linear gain applied")
    input: LoudnessFigures
    output: LoudnessFigures | None = None


class LoudnessReport(BaseModel):
    """What a loudness step measured, and what it did."""

    mode: LoudnessMode = Field(
        description="linear (one gain), dynamic (gain riding and a true-peak limiter), "
        "measure (asked for figures only), unchanged (silence: nothing to normalize)"
    )
    target_lufs: float
    true_peak_db: float = Field(description="the true-peak limit, dBTP")
    lra: float = Field(description="the loudness range target, LU")
    gain_db: float | None = Field(default=None, description="the linear gain applied")
    input: LoudnessFigures
    output: LoudnessFigures | None = Field(
        default=None,
        description="the sound the outputs were made from, as the normalizing filter "
        "measured it; none when unchanged",
    )
    tracks: list[TrackLoudness] = Field(
        default_factory=list,
        description="every audio track's own figures, where a ladder keeps several (the "
        "figures above are the first's); empty for one track",
    )


def parse_loudnorm(log: str) -> LoudnessMeasure:
    """The last ``loudnorm`` JSON block in ffmpeg's log."""
    found = _JSON.findall(log)
    if not found:
        raise TranscodeFailed("the loudness measuring pass printed no figures")
    return _measure(found[-1])


def parse_named(log: str) -> dict[str, LoudnessMeasure]:
    """Each named ``loudnorm`` instance's figures in ffmpeg's log, by its name."""
    return {name: _measure(block) for name, block in _NAMED.findall(log)}


def track_instance(track: int, tag: str = "") -> str:
    """The name of the ``loudnorm`` of audio track ``track`` (``tag``: its ladder's)."""
    return f"{tag}t{track}"


def _measure(block: str) -> LoudnessMeasure:
    try:
        doc = json.loads(block)
        return LoudnessMeasure(
            input_i=float(doc["input_i"]),
            input_tp=float(doc["input_tp"]),
            input_lra=float(doc["input_lra"]),
            input_thresh=float(doc["input_thresh"]),
            output_i=float(doc["output_i"]),
            output_tp=float(doc["output_tp"]),
            output_lra=float(doc["output_lra"]),
            target_offset=float(doc["target_offset"]),
            kind=str(doc["normalization_type"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TranscodeFailed("the loudness measuring pass printed unreadable figures") from exc


def measure_filter(step: Loudness, name: str = "") -> str:
    """The measuring pass's filter: loudnorm to the step's targets, its figures printed
    (``name``: the instance's, :func:`track_instance`)."""
    return f"{_target(step, step.lra, name)}:print_format=json"


def normalize(step: Loudness, measured: LoudnessMeasure | None, name: str = "") -> list[str]:
    """The main pass's filters for ``step`` (none: the sound stays as it is). ``measured``
    None: a plan drawn before measuring (``ffapi plan``): loudnorm's one-pass form.
    ``name``: the instance's, whose figures the log will show under it."""
    if measured is None:
        return [_target(step, step.lra, name), "aresample=48000"]
    if not _changes(step, measured):
        return []
    i, tp = _fixed(measured.input_i, -99.0, 0.0), _fixed(measured.input_tp, -99.0, 99.0)
    lra = _fixed(max(measured.input_lra, 0.01), 0.01, 99.0)  # ffmpeg reads 0 as unset
    thresh = _fixed(measured.input_thresh, -99.0, 0.0)
    offset = _fixed(measured.target_offset, -99.0, 99.0)
    wide = max(step.lra, float(lra))  # the range kept as it is: a gain does not change it
    linear = _linear_holds(step, i, tp, lra, thresh, wide)
    filt = (
        f"{_target(step, wide if linear else step.lra, name)}:measured_I={i}:measured_TP={tp}:"
        f"measured_LRA={lra}:measured_thresh={thresh}:offset={offset}:linear=true:"
        "print_format=json"
    )
    # dynamic mode works at 192 kHz; the chain's sound is 48 kHz
    return [filt, "aresample=48000"]


def _changes(step: Loudness, measured: LoudnessMeasure) -> bool:
    """Whether a normalizer runs: asked to, on sound above R128's absolute gate."""
    audible = math.isfinite(measured.input_i) and measured.input_i > SILENT_LUFS
    return step.mode == "normalize" and audible


def _linear_holds(step: Loudness, i: str, tp: str, lra: str, thresh: str, wide: float) -> bool:
    """ffmpeg's own test (af_loudnorm.c), on the numbers as it will read them: every figure
    given, the gained true peak within the limit, the range within the target."""
    target_i, target_tp = float(_num(step.target_lufs)), float(_num(step.true_peak_db))
    if float(thresh) == _UNSET_THRESH or float(i) == 0.0 or float(tp) == 99.0:
        return False
    offset = target_i - float(i)
    return float(tp) + offset <= target_tp and float(lra) <= min(wide, LRA_MAX)


def loudness_report(
    step: Loudness, measured: LoudnessMeasure, made: LoudnessMeasure | None
) -> LoudnessReport:
    """The step's report: the measuring pass's figures of the input; ``made``: what the main
    pass's normalizer printed (None: no normalizer ran)."""
    mode: LoudnessMode = "measure" if step.mode == "measure" else "unchanged"
    output: LoudnessFigures | None = None
    gain: float | None = None
    if made is not None and _changes(step, measured):
        mode = "linear" if made.kind == "linear" else "dynamic"
        output = _figures(made.output_i, made.output_tp, made.output_lra)
        if mode == "linear":
            gain = round(step.target_lufs - float(_fixed(measured.input_i, -99.0, 0.0)), 2)
    return LoudnessReport(
        mode=mode,
        target_lufs=step.target_lufs,
        true_peak_db=step.true_peak_db,
        lra=step.lra,
        gain_db=gain,
        input=_figures(measured.input_i, measured.input_tp, measured.input_lra),
        output=output,
    )


def tracks_report(
    step: Loudness,
    measured: Mapping[int, LoudnessMeasure],
    made: Mapping[int, LoudnessMeasure],
    languages: Mapping[int, str | None],
) -> LoudnessReport:
    """The report of the tracks ``measured`` (by track number, the first first), each
    normalized alone (``made``: what each one's normalizer printed, where one ran): the
    first track's figures at the top, and every track's in ``tracks`` when there are several."""
    reports = {t: loudness_report(step, m, made.get(t)) for t, m in measured.items()}
    first = next(iter(reports.values()))
    if len(reports) < 2:
        return first
    tracks = [
        TrackLoudness(
            track=t,
            language=languages.get(t),
            mode=r.mode,
            gain_db=r.gain_db,
            input=r.input,
            output=r.output,
        )
        for t, r in reports.items()
    ]
    return first.model_copy(update={"tracks": tracks})


def _figures(i: float, tp: float, lra: float) -> LoudnessFigures:
    return LoudnessFigures(integrated_lufs=_finite(i), true_peak_db=_finite(tp), lra=_finite(lra))


def _target(step: Loudness, lra: float, name: str = "") -> str:
    instance = f"loudnorm@{name}" if name else "loudnorm"
    return f"{instance}=I={_num(step.target_lufs)}:TP={_num(step.true_peak_db)}:LRA={_num(lra)}"


def _fixed(value: float, low: float, high: float) -> str:
    """A figure as the filter is given it: within the option's bounds, two decimals."""
    bounded = min(max(value, low), high) if math.isfinite(value) else low
    return f"{bounded:.2f}"


def _num(value: float) -> str:
    return f"{value:.2f}"


def _finite(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None
