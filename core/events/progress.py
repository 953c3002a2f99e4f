"""Encode progress: ffmpeg's ``-progress`` blocks -> throttled, monotonic progress updates.

ffmpeg writes a block of ``key=value`` lines every ``-stats_period``, ending in
``progress=continue`` (or ``progress=end`` when it is done). Progress is the encoded time over
the picture's duration; the update says the phase, the percent, the speed (times real time)
and the time left at that speed. Updates are throttled: one is let through when at least
``interval`` seconds and ``step`` percent have passed since the last, and the end always is.
The percent never goes back, also when a fallback starts the encode again on another tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class EncodeProgress:
    """One ``-progress`` block."""

    out_seconds: float  # media time written so far
    speed: float | None  # times real time; None before ffmpeg knows it
    done: bool  # progress=end


class ProgressUpdate(BaseModel):
    """What ``ffapi.job.progress`` carries and the job record keeps."""

    phase: str
    percent: float
    speed: float | None = None
    eta_seconds: float | None = None


def parse_block(fields: dict[str, str]) -> EncodeProgress | None:
    """A block's fields -> EncodeProgress; None while ffmpeg has no time to report yet."""
    if "progress" not in fields:
        return None
    done = fields["progress"] == "end"
    try:
        out_seconds = int(fields.get("out_time_us", "N/A")) / 1e6
    except ValueError:
        if not done:
            return None
        out_seconds = 0.0
    speed_text = fields.get("speed", "N/A").strip().removesuffix("x")
    try:
        speed: float | None = float(speed_text)
    except ValueError:
        speed = None
    return EncodeProgress(max(0.0, out_seconds), speed, done)


class ProgressBlocks:
    """Assembles ``key=value`` lines into blocks; a block ends at its ``progress`` line."""

    def __init__(self, on_block: Callable[[EncodeProgress], None]) -> None:
        self._fields: dict[str, str] = {}
        self._on_block = on_block

    def feed(self, line: str) -> None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return
        self._fields[key] = value
        if key == "progress":
            block, self._fields = parse_block(self._fields), {}
            if block is not None:
                self._on_block(block)


class ProgressThrottle:
    """Turns encode progress into the updates worth announcing."""

    def __init__(
        self, total_seconds: float, interval: float, step: float, clock: Callable[[], float]
    ) -> None:
        self._total = total_seconds
        self._interval = interval
        self._step = step
        self._clock = clock
        self._percent = 0.0  # the highest seen: progress never goes back
        self._sent_at: float | None = None
        self._sent_percent = -1.0
        self._ended = False

    def offer(self, progress: EncodeProgress) -> ProgressUpdate | None:
        if self._ended:
            return None
        now = self._clock()
        if progress.done:
            percent = 100.0
        elif self._total > 0:
            percent = min(99.9, 100.0 * progress.out_seconds / self._total)
        else:
            percent = 0.0  # unknown length: only the end is news
        self._percent = max(self._percent, round(percent, 1))
        due = self._sent_at is None or (
            now - self._sent_at >= self._interval
            and self._percent - self._sent_percent >= self._step
        )
        if not (progress.done or due):
            return None
        self._sent_at, self._sent_percent, self._ended = now, self._percent, progress.done
        return ProgressUpdate(
            phase="encode",
            percent=self._percent,
            speed=progress.speed,
            eta_seconds=0.0 if progress.done else self._eta(progress),
        )

    def _eta(self, progress: EncodeProgress) -> float | None:
        if not progress.speed or self._total <= 0:
            return None
        left = max(0.0, self._total - progress.out_seconds)
        return round(left / progress.speed, 1)
