"""ScaleInGuard: task protection on while any job runs, renewed, off when the last one ends;
a refused or unanswered call never stops a job. Time is driven by the test (no clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from structlog.testing import capture_logs

from core.errors import FfapiError, InvalidMedia
from core.jobs import scale_in
from core.jobs.dispatch import Dispatcher
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.keepalive import RETRY_SECONDS
from core.jobs.results import JobResult
from core.jobs.scale_in import MAX_MINUTES, ScaleInGuard, protection_minutes
from core.presets import builtin_catalog

from .dispatch_harness import INTAKE, Harness, body, s3_put
from .fakes import NOW, FakePipeline

LEASE = 120.0  # seconds: protection for 5 minutes, renewed every 40 s


class Agent:
    """The TaskProtection port: records each call; answers as scripted (True by default)."""

    def __init__(self, *answers: bool) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.answers = list(answers)
        self.hang: set[str] = set()  # calls left unanswered
        self.asked = asyncio.Event()
        self.released = asyncio.Event()
        self.on_release: Callable[[], object] = lambda: None

    async def protect(self, expires_minutes: int) -> bool:
        return await self._answer(("protect", expires_minutes))

    async def release(self) -> bool:
        self.on_release()
        try:
            return await self._answer(("release", None))
        finally:
            self.released.set()

    async def _answer(self, call: tuple[str, int | None]) -> bool:
        self.calls.append(call)
        self.asked.set()
        if call[0] in self.hang:
            await asyncio.Event().wait()
        return self.answers.pop(0) if self.answers else True


class Clock:
    """The guard's sleep: each wait is recorded and lasts until the test ticks."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._ticks: asyncio.Queue[None] = asyncio.Queue()
        self.asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.asleep.set()
        await self._ticks.get()

    async def tick(self) -> None:
        """One wait ends; returns once the guard waits again (its renewal done)."""
        self.asleep.clear()
        self._ticks.put_nowait(None)
        await self.asleep.wait()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_the_expiry_outlasts_the_lease_within_the_agents_bounds() -> None:
    assert protection_minutes(30) == 2  # a minute of lease, twice, and one more
    assert protection_minutes(120) == 5
    assert protection_minutes(43200) == 1441  # the longest visibility timeout (12 h)
    assert protection_minutes(0) == 1
    assert protection_minutes(10**6) == MAX_MINUTES


def test_protected_before_the_job_runs_and_released_after_it() -> None:
    agent = Agent()
    seen_by_job: list[list[tuple[str, int | None]]] = []

    async def scenario() -> None:
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)
        async with guard.job():
            seen_by_job.append(list(agent.calls))

    run(scenario)
    assert seen_by_job == [[("protect", 5)]]
    assert agent.calls == [("protect", 5), ("release", None)]


def test_overlapping_jobs_protect_once_and_release_when_the_last_ends() -> None:
    agent = Agent()

    async def scenario() -> None:
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)
        second_may_end, second_running = asyncio.Event(), asyncio.Event()

        async def second() -> None:
            async with guard.job():
                second_running.set()
                await second_may_end.wait()

        async with guard.job():
            other = asyncio.create_task(second())
            await second_running.wait()
            assert guard.running == 2
        assert agent.calls == [("protect", 5)]  # the first ended, the second runs on
        second_may_end.set()
        await other
        assert guard.running == 0

    run(scenario)
    assert agent.calls == [("protect", 5), ("release", None)]


def test_renewed_every_third_of_the_lease_while_a_job_runs() -> None:
    agent = Agent()

    async def scenario() -> None:
        clock = Clock()
        guard = ScaleInGuard(agent, LEASE, sleep=clock.sleep)
        async with guard.job():
            await clock.asleep.wait()
            await clock.tick()
            await clock.tick()
        assert clock.waits == [40, 40, 40]

    run(scenario)
    assert agent.calls == [("protect", 5)] * 3 + [("release", None)]


def test_a_refused_protection_lets_the_job_run_and_is_tried_again_soon() -> None:
    agent = Agent(False, False, True)

    async def scenario() -> None:
        clock = Clock()
        guard = ScaleInGuard(agent, LEASE, sleep=clock.sleep)
        with capture_logs() as logs:
            async with guard.job():
                await clock.asleep.wait()
                await clock.tick()  # the retry, refused again
                await clock.tick()  # accepted: back to the lease's rhythm
        assert clock.waits == [RETRY_SECONDS, RETRY_SECONDS, 40]
        failed = [e for e in logs if e["event"] == "scale_in.failed"]
        assert [e["action"] for e in failed] == ["protect", "renew"]

    run(scenario)
    assert agent.calls == [("protect", 5)] * 3 + [("release", None)]


def test_a_failed_job_is_released_and_its_error_goes_on() -> None:
    agent = Agent()

    async def scenario() -> None:
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)
        with pytest.raises(ValueError, match="the job's own failure"):
            async with guard.job():
                raise ValueError("the job's own failure")

    run(scenario)
    assert agent.calls == [("protect", 5), ("release", None)]


def test_a_cancelled_job_still_releases_the_task() -> None:
    """As on a drain that ran out: the worker cancels the jobs still running."""
    agent = Agent()

    async def scenario() -> None:
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)
        running = asyncio.Event()

        async def job() -> None:
            async with guard.job():
                running.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(job())
        await running.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await agent.released.wait()  # shielded: it finishes on its own

    run(scenario)
    assert agent.calls == [("protect", 5), ("release", None)]


def test_a_job_cancelled_while_protection_is_asked_still_releases_the_task() -> None:
    """The agent may have applied a protection whose answer never came back."""
    agent = Agent()
    agent.hang = {"protect"}

    async def scenario() -> None:
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)

        async def job() -> None:
            async with guard.job():
                pytest.fail("the job was cancelled before it began")

        task = asyncio.create_task(job())
        await agent.asked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(10):  # a hang guard, not a measure: it is due at once
            await agent.released.wait()

    run(scenario)
    assert agent.calls == [("protect", 5), ("release", None)]


def test_an_agent_that_does_not_answer_delays_the_job_only_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scale_in, "MAX_WAIT_SECONDS", 0.01)
    agent = Agent()
    agent.hang = {"protect", "release"}
    ran = False

    async def scenario() -> None:
        nonlocal ran
        guard = ScaleInGuard(agent, LEASE, sleep=Clock().sleep)
        with capture_logs() as logs:
            async with guard.job():
                ran = True
        assert [e["action"] for e in logs if e["event"] == "scale_in.failed"] == [
            "protect",
            "release",
        ]

    run(scenario)
    assert ran
    assert agent.calls == [("protect", 5), ("release", None)]


def test_outside_ecs_nothing_is_asked() -> None:
    ran = False

    async def scenario() -> None:
        nonlocal ran
        guard = ScaleInGuard(None, LEASE, sleep=Clock().sleep)
        async with guard.job():
            ran = True

    run(scenario)
    assert ran


# --- held by the dispatcher: around a claimed job, and only there ------------------------------


class WatchedPipeline(FakePipeline):
    """Records what the agent had been asked when the job's work began."""

    def __init__(self, agent: Agent, *script: FfapiError | None) -> None:
        super().__init__(*script)
        self.agent = agent
        self.asked_before_work: list[tuple[str, int | None]] = []

    async def run(self, *args: Any, **kwargs: Any) -> JobResult:
        self.asked_before_work = list(self.agent.calls)
        return await super().run(*args, **kwargs)


def guarded(pipeline: FakePipeline, agent: Agent) -> Harness:
    h = Harness(pipeline)
    h.dispatcher = Dispatcher(
        DispatchSettings(INTAKE, builtin_catalog(), LEASE, 3),
        h.objects,
        h.jobs,
        h.events,
        h.workspace,
        pipeline,
        lambda: NOW,
        scale_in=ScaleInGuard(agent, LEASE),
    )
    return h


@pytest.mark.parametrize(
    ("error", "final"), [(None, "ffapi.job.completed"), (InvalidMedia("no"), "ffapi.job.failed")]
)
def test_a_claimed_job_is_protected_from_before_its_work_to_after_its_final_event(
    error: FfapiError | None, final: str
) -> None:
    agent = Agent()
    pipeline = WatchedPipeline(agent, error)
    h = guarded(pipeline, agent)
    events_when_released: list[str] = []
    agent.on_release = lambda: events_when_released.extend(h.events.types)

    h.handle(s3_put())

    assert pipeline.asked_before_work == [("protect", 5)]
    assert agent.calls == [("protect", 5), ("release", None)]
    assert events_when_released[-1] == final


def test_messages_that_run_no_job_ask_the_agent_nothing() -> None:
    agent = Agent()
    h = guarded(FakePipeline(), agent)
    h.handle(s3_put())
    agent.calls.clear()

    h.handle(s3_put(), message_id="msg-2")  # a duplicate of a finished job
    for name in ("s3-test-event.json", "invalid-bad-json.json", "s3-outside-prefix.json"):
        h.handle(body(name))

    assert agent.calls == []
