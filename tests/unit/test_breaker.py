"""core.media.breaker: K GPU-class failures within a window open the breaker for a cool-down; then
half-open, where one success closes it and one failure opens it again. Time is a fake clock."""

from __future__ import annotations

import pytest

from core.media.breaker import BreakerState, CircuitBreaker


class FakeClock:
    """A list-backed clock: the last value is now."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.times = [start]

    def __call__(self) -> float:
        return self.times[-1]

    def advance(self, seconds: float) -> None:
        self.times.append(self.times[-1] + seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, window=60, cooldown=300, clock=clock)


def open_it(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        breaker.record_failure()
        clock.advance(1)
    assert breaker.state is BreakerState.OPEN


def test_a_new_breaker_is_closed_and_allows_the_gpu(breaker: CircuitBreaker) -> None:
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allows_gpu
    assert breaker.reopens_in is None
    assert breaker.recent_failures == 0


def test_two_failures_stay_closed(breaker: CircuitBreaker, clock: FakeClock) -> None:
    assert breaker.record_failure() is False
    clock.advance(10)
    assert breaker.record_failure() is False
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allows_gpu
    assert breaker.recent_failures == 2


def test_the_third_failure_within_the_window_opens_it_once(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    opened = []
    for _ in range(3):
        opened.append(breaker.record_failure())
        clock.advance(20)
    assert opened == [False, False, True]
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows_gpu
    assert breaker.record_failure() is False  # already open: not "the one that opened it"


def test_reopens_in_counts_down_with_the_clock(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    assert breaker.reopens_in == 300
    clock.advance(120)
    assert breaker.reopens_in == 180
    clock.advance(179)
    assert breaker.reopens_in == 1
    assert breaker.state is BreakerState.OPEN


def test_failures_spread_wider_than_the_window_never_open_it(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(10):
        assert breaker.record_failure() is False
        clock.advance(31)  # any three span 62 s > 60 s
    assert breaker.state is BreakerState.CLOSED
    assert breaker.recent_failures <= 2


def test_after_the_cooldown_it_is_half_open_and_allows_the_gpu(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker, clock)
    clock.advance(300)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allows_gpu
    assert breaker.reopens_in is None


def test_one_failure_in_half_open_reopens_it_at_once(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker, clock)
    clock.advance(300)
    assert breaker.record_failure() is True
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows_gpu
    assert breaker.reopens_in == 300  # a full cool-down from now


def test_a_success_in_half_open_closes_it_and_clears_the_count(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker, clock)
    clock.advance(300)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allows_gpu
    assert breaker.recent_failures == 0
    # counting starts again from nothing: two failures do not reopen it
    assert breaker.record_failure() is False
    assert breaker.record_failure() is False
    assert breaker.state is BreakerState.CLOSED


def test_successes_while_closed_do_not_erase_counted_failures(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    results = []
    for _ in range(3):
        results.append(breaker.record_failure())
        clock.advance(5)
        breaker.record_success()
        breaker.record_success()
        clock.advance(5)
    assert results == [False, False, True]
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize("state", ["closed", "open", "half-open"])
def test_trip_opens_it_from_any_state(
    breaker: CircuitBreaker, clock: FakeClock, state: str
) -> None:
    if state != "closed":
        open_it(breaker, clock)
        clock.advance(100 if state == "open" else 300)
    assert breaker.state.value == state
    breaker.trip()
    assert breaker.state is BreakerState.OPEN
    assert breaker.reopens_in == 300


def test_a_late_failure_while_open_does_not_extend_the_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    open_it(breaker, clock)
    clock.advance(200)
    before = breaker.reopens_in
    assert breaker.record_failure() is False  # a job that started before it opened
    assert breaker.reopens_in == before
    assert before is not None
    clock.advance(before)
    assert breaker.state is BreakerState.HALF_OPEN
