"""Wall-clock time per phase of a job (download, probe, encode, package, upload; a steps job
adds subtitles, loudness and quality)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PhaseTimer:
    """Seconds per phase, in the order the phases ran."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self._clock()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + self._clock() - start, 3)
