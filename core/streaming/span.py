"""What a range encode changes in the whole ladder's plan (:mod:`core.streaming.ranges`
makes it; :func:`core.streaming.renditions.plan_streaming` takes it): the input read from
shortly before the range with its own timestamps kept, the conditioned frames trimmed to the
range by frame number, and the keyframes forced on the whole encode's grid; or, for the audio
part, the sound kept and every rung's picture a tiny stand-in. Kept apart from both so that
neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.media.gop import KEYFRAMES_FLAG


@dataclass(frozen=True, slots=True)
class PictureSpan:
    """A range's share of the pictures (thumbnails, storyboard tiles, poster). A picture is
    picked at a global frame number (one every N from frame 0 of the whole picture), so a
    range picks those of its own frames, from ``first`` on (its warm-up's belong to the range
    before), and numbers them where the whole encode would: a picture falls in exactly one
    range."""

    offset: int  # the global number of the range encode's first frame (its ``n`` 0)
    first: int  # the first frame the range owns
    poster: bool  # the poster's frame is one of the range's

    def pick(self, every: int) -> str:
        """``select``'s expression: the range's frames whose global number is a multiple."""
        return f"not(mod(n+{self.offset}\\,{every}))*gte(n\\,{self.first - self.offset})"

    def start_number(self, every: int) -> int:
        """The image2 number (from 1) of the range's first picture of one every ``every``."""
        return -(-self.first // every) + 1


@dataclass(frozen=True, slots=True)
class VideoSpan:
    input_args: tuple[str, ...] = ()  # before ``-i``
    trim: str = ""  # appended to the conditioning chain, before the ``split``
    keyframes: str | None = None  # the ``-force_key_frames:v`` expression (None: the plan's)
    sound: bool = False  # the audio renditions too (else the video rungs alone)
    stand_in: tuple[int, int] | None = None  # every rung scaled to this size instead
    pictures: PictureSpan | None = None  # the range's pictures (None: a range makes none)
    seg_duration: str | None = None  # the muxer's ``-seg_duration`` (None: the preset's)

    def keyframed(self, args: list[str]) -> list[str]:
        """``args`` (the ladder's shared encoder arguments) forcing this span's keyframes."""
        if self.keyframes is None:
            return args
        at = args.index(KEYFRAMES_FLAG)
        return [*args[: at + 1], self.keyframes, *args[at + 2 :]]

    def muxed(self, args: list[str]) -> list[str]:
        """``args`` (the muxer's) cutting segments at this span's ``seg_duration``."""
        if self.seg_duration is None or "-seg_duration" not in args:
            return args
        at = args.index("-seg_duration")
        return [*args[: at + 1], self.seg_duration, *args[at + 2 :]]

    def size(self, width: int, height: int) -> tuple[int, int]:
        """A rung's picture size in this span's encode."""
        return self.stand_in or (width, height)


def conditioned_rate(fps: float) -> str:
    """The ``fps`` filter's rate: NTSC rates as exact fractions, so 29.97 stays 30000/1001."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return f"{base * 1000}/1001"
    return f"{fps:.6g}"
