"""Fitting a preset's ladder to one source: which rungs exist, at which exact sizes, and why.

Rules (each is a property test in tests/unit/test_ladder_properties.py):

- A rung is named by its short side, so a portrait source is laddered by its width.
- Never upscale: a rung taller than the source is dropped; a source that falls between rungs
  (more than an eighth above the highest kept one) gets its own top rung at its own size.
- Every rung has exactly the same aspect ratio, square pixels and even sides. DASH players
  switch only inside one adaptation set, and ffmpeg's ``dash`` muxer refuses a set whose
  pictures differ in shape (854x480 beside 1280x720 is 427:240 against 16:9). So the ladder
  takes the simplest ratio within 1% of the source's (1279x719 is 16:9) and each rung is a
  whole multiple of that ratio's smallest even size: 16:9 gives 1920x1080, 1280x720, 864x486
  and 640x360, as AWS's own 16:9 presets do (768x432, 960x540).
- Sizes strictly descend; at least one rung survives for any video source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from core.presets import Rung

ASPECT_TOLERANCE = 0.01  # a 1% squeeze is below what anyone notices; the muxer needs equality
SOURCE_RUNG_MARGIN = 1.125  # a source this much above its top kept rung gets a rung of its own
_MAX_DENOMINATOR = 200


@dataclass(frozen=True, slots=True)
class FittedRung:
    name: str
    width: int
    height: int
    video_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class RungDecision:
    name: str
    kept: bool
    reason: str


@dataclass(frozen=True, slots=True)
class FittedLadder:
    rungs: tuple[FittedRung, ...]
    decisions: tuple[RungDecision, ...]
    aspect: tuple[int, int]  # width:height shared by every rung


def ladder_aspect(display_w: float, display_h: float) -> Fraction | None:
    """The simplest width:height ratio within ``ASPECT_TOLERANCE`` of the source's, or None
    for a shape so extreme that no small ratio is near it."""
    exact = display_w / display_h
    for den in range(1, _MAX_DENOMINATOR + 1):
        num = round(exact * den)
        if num >= 1 and abs(num / den - exact) <= exact * ASPECT_TOLERANCE:
            return Fraction(num, den)
    return None


def fit_ladder(rungs: Sequence[Rung], display_w: float, display_h: float) -> FittedLadder:
    aspect = ladder_aspect(display_w, display_h)
    if aspect is None:
        return _single_rung(rungs, display_w, display_h)
    unit_w, unit_h = _even_unit(aspect)
    portrait = display_h > display_w
    short, unit_short = (display_w, unit_w) if portrait else (display_h, unit_h)
    k_max = min(_floor(display_w / unit_w), _floor(display_h / unit_h))
    if not rungs:
        return FittedLadder((), (), (aspect.numerator, aspect.denominator))
    if k_max < 1:  # a picture smaller than its ratio's smallest even size
        return _single_rung(rungs, display_w, display_h)

    kept: list[FittedRung] = []
    decisions: list[RungDecision] = []
    taller: list[Rung] = []
    for rung in rungs:
        if rung.short_side > math.ceil(short - 1e-9):
            taller.append(rung)
            why = f"taller than the source ({_n(short)} < {rung.short_side})"
            decisions.append(RungDecision(rung.name, False, why))
            continue
        k = min(k_max, max(1, round(rung.short_side / unit_short)))
        fitted = _scaled(rung, rung.name, k * unit_w, k * unit_h, 1.0)
        if kept and fitted.pixels >= kept[-1].pixels:
            why = f"same size as {kept[-1].name} once fitted"
            decisions.append(RungDecision(rung.name, False, why))
            continue
        kept.append(fitted)
        decisions.append(RungDecision(rung.name, True, f"{fitted.width}x{fitted.height}"))

    top = _source_rung(taller, kept, k_max * unit_w, k_max * unit_h, short)
    if top is not None:
        kept.insert(0, top)
        why = f"{top.width}x{top.height}: the source is between rungs"
        decisions.insert(0, RungDecision(top.name, True, why))
    return FittedLadder(tuple(kept), tuple(decisions), (aspect.numerator, aspect.denominator))


def fit_fps(source_fps: float, max_fps: float) -> float:
    """Never raised; above the cap, divided by a whole number so the cadence stays even
    (59.94 -> 29.97 under a cap of 30, 50 -> 25). Unknown (0) becomes the cap, at most 30."""
    if source_fps <= 0:
        return min(30.0, max_fps)
    if source_fps <= max_fps:
        return source_fps
    return source_fps / math.ceil(source_fps / max_fps - 1e-9)


def _source_rung(
    taller: list[Rung], kept: list[FittedRung], width: int, height: int, short: float
) -> FittedRung | None:
    if not taller:
        return None  # the ladder's top rung is the cap: a larger source is scaled down to it
    if kept and short < min(kept[0].width, kept[0].height) * SOURCE_RUNG_MARGIN:
        return None
    if kept and width * height <= kept[0].pixels:
        return None
    above = taller[-1]  # the smallest rung the source is too small for
    above_px = _nominal_pixels(above, width, height)
    if kept:  # bitrate between the neighbours, by pixel count
        low = kept[0]
        share = (width * height - low.pixels) / max(1, above_px - low.pixels)
        kbps = low.video_kbps + share * (above.video_kbps - low.video_kbps)
        return _scaled(above, "source", width, height, kbps / above.video_kbps)
    return _scaled(above, "source", width, height, width * height / above_px)


def _single_rung(rungs: Sequence[Rung], display_w: float, display_h: float) -> FittedLadder:
    """One rung at the source's own even size: with nothing to switch between, the shape
    needs no common ratio."""
    width, height = max(2, _floor(display_w / 2) * 2), max(2, _floor(display_h / 2) * 2)
    base = rungs[-1]
    share = min(1.0, width * height / _nominal_pixels(base, width, height))
    fitted = _scaled(base, "source", width, height, share)
    why = "the source's shape has no small even ratio: one rung at its own size"
    decisions = tuple(RungDecision(r.name, False, why) for r in rungs)
    kept = RungDecision("source", True, f"{width}x{height}")
    return FittedLadder((fitted,), (kept, *decisions), (width, height))


def _scaled(rung: Rung, name: str, width: int, height: int, factor: float) -> FittedRung:
    def kbps(value: int) -> int:
        return max(100, round(value * factor))

    return FittedRung(
        name,
        width,
        height,
        kbps(rung.video_kbps),
        kbps(rung.maxrate_kbps),
        kbps(rung.bufsize_kbps),
    )


def _nominal_pixels(rung: Rung, width: int, height: int) -> float:
    """Pixels of ``rung`` at the source's shape."""
    short, long = min(width, height), max(width, height)
    return rung.short_side * rung.short_side * long / short


def _even_unit(aspect: Fraction) -> tuple[int, int]:
    num, den = aspect.numerator, aspect.denominator
    return (num, den) if num % 2 == 0 and den % 2 == 0 else (2 * num, 2 * den)


def _floor(value: float) -> int:
    return math.floor(value + 1e-9)


def _n(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))
