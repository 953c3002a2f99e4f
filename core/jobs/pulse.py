"""A job's sign of life: what keeps its message hidden and its lease held.

The heartbeat extends a job's message visibility and its lease only while the job shows
life: ffmpeg or ffprobe running (within their own deadlines), bytes moving to or from S3.
A job stuck where nothing times it out (a hung call, a deadlock, a worker paused by its
host) goes quiet; after the stall time the heartbeat withholds its extensions, the message
and the lease lapse, and a healthy worker takes the job over (the stuck one finds its
lease gone if it ever wakes).

The pulse of the job being handled travels in a context variable, like structlog's bound
context: the adapters that see the work happen beat it without being handed anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Pulse:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def quiet_for(self) -> float:
        """Seconds since the last sign of life (or since the job was picked up)."""
        return self._clock() - self._last


_current: ContextVar[Pulse | None] = ContextVar("ffapi_pulse", default=None)


def beat() -> None:
    """The job handled in this context is alive (no-op outside a job)."""
    pulse = _current.get()
    if pulse is not None:
        pulse.beat()


def current() -> Pulse | None:
    return _current.get()


@contextmanager
def bound(pulse: Pulse) -> Iterator[Pulse]:
    """Make ``pulse`` the current job's, here and in the tasks started from here."""
    token = _current.set(pulse)
    try:
        yield pulse
    finally:
        _current.reset(token)
