"""The GPU circuit breaker: after K GPU-class failures within a window, GPU tiers are skipped
for a cool-down, then tried again.

States, on the injected clock::

    closed     GPU tiers are used; failures are counted over a sliding window
    open       K failures within the window: every job runs on the CPU until the cool-down
               ends
    half-open  the cool-down has ended: GPU tiers are tried again (the worker first re-probes
               the device); a success closes the breaker, one more failure opens it again
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self, threshold: int, window: float, cooldown: float, clock: Callable[[], float]
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def allows_gpu(self) -> bool:
        return self.state is not BreakerState.OPEN

    @property
    def recent_failures(self) -> int:
        self._forget_old(self._clock())
        return len(self._failures)

    @property
    def reopens_in(self) -> float | None:
        """Seconds until GPU tiers are tried again; None unless open."""
        if self.state is not BreakerState.OPEN:
            return None
        assert self._opened_at is not None
        return max(0.0, self._opened_at + self.cooldown - self._clock())

    def record_failure(self) -> bool:
        """Count a GPU-class failure; True when it is the one that opens the breaker."""
        now = self._clock()
        state = self.state
        if state is BreakerState.OPEN:
            return False  # a job that started before the breaker opened
        if state is BreakerState.HALF_OPEN:
            self.trip()
            return True
        self._failures.append(now)
        self._forget_old(now)
        if len(self._failures) >= self.threshold:
            self.trip()
            return True
        return False

    def record_success(self) -> None:
        """A GPU tier worked: a half-open breaker closes (successes do not erase failures
        counted while closed: K failures in the window open it however many jobs passed)."""
        if self.state is BreakerState.HALF_OPEN:
            self._opened_at = None
            self._failures.clear()

    def trip(self) -> None:
        """Open now (also when the re-probe at the end of a cool-down fails)."""
        self._opened_at = self._clock()
        self._failures.clear()

    def _forget_old(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()
