"""``JobStore.give_up``'s contract (the dead-letter sweep's one write), held by the DynamoDB
store (moto's server, over HTTP) and the in-memory one the dispatcher's and the sweep's unit
tests run on (``tests/unit/fakes.FakeJobs``): a job is failed only when no live delivery can
still finish it, and the failure is one a redriven message claims again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import pytest

from core.errors import AttemptsExhausted, WorkerLost
from core.jobs.job_record import RecordedError
from core.jobs.results import JobResult, JobStatus, SourceInfo
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.ports import JobStore
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore
from tests.unit.fakes import NOW, FakeJobs

from .conftest import Stack

pytestmark = pytest.mark.integration

LEASE = 60
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
ERROR = RecordedError.of(AttemptsExhausted.after(WorkerLost("killed"), 2))


@dataclass
class Clock:
    now: float = 1_000.0


@dataclass
class Rig:
    store: JobStore
    clock: Clock
    fake: FakeJobs | None = None

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        if self.fake is not None:
            self.fake.now = self.clock.now


Opener = Callable[[], AbstractAsyncContextManager[Rig]]


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    @asynccontextmanager
    async def dynamodb() -> AsyncIterator[Rig]:
        clock = Clock()
        async with open_clients(stack.settings) as clients:
            table = stack.settings.jobs_table
            yield Rig(DynamoJobStore(clients.dynamodb, table, lambda: clock.now), clock)

    @asynccontextmanager
    async def memory() -> AsyncIterator[Rig]:
        fake = FakeJobs(now=1_000.0)
        yield Rig(fake, Clock(), fake)

    return dynamodb if request.param == "dynamodb" else memory


def contract(opened: Opener, check: Callable[[Rig, str], Awaitable[None]]) -> None:
    async def run() -> None:
        async with opened() as rig:
            await check(rig, f"j-{uuid.uuid4().hex[:12]}")

    asyncio.run(run())


def test_a_job_never_claimed_is_failed_and_a_redrive_claims_it(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.retryable, record.announced) == (
            JobStatus.FAILED,
            True,
            False,
        )
        assert record.error is not None
        assert record.error.code == "max_attempts"
        assert record.attempts == 0
        assert record.request is not None
        assert record.request.input.key == "clip.mp4"
        assert not await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")  # once
        assert (await rig.store.claim(job_id, REQUEST, LEASE, "m-2")).attempt == 1

    contract(opened, check)


def test_a_leased_job_is_failed_only_once_its_lease_lapsed(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")  # busy: still attempt 1
        assert not await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        rig.advance(LEASE + 1)
        assert await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.attempts) == (JobStatus.FAILED, 1)

    contract(opened, check)


def test_a_job_another_message_carries_is_not_failed(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        rig.advance(LEASE + 1)
        assert not await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.RUNNING

    contract(opened, check)


def test_a_released_job_is_failed(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.release(job_id, claim.attempt)
        assert await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")

    contract(opened, check)


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_a_finished_job_is_not_failed_again(opened: Opener, outcome: str) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        if outcome == "failed":
            assert await rig.store.fail(job_id, ERROR, final=True, attempt=claim.attempt)
        else:
            assert await rig.store.complete(job_id, _result(job_id, claim.attempt))
        rig.advance(LEASE + 1)
        before = await rig.store.get(job_id)
        assert not await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        assert await rig.store.get(job_id) == before

    contract(opened, check)


def _result(job_id: str, attempt: int) -> JobResult:
    return JobResult(
        job_id=job_id,
        input=REQUEST.input,
        preset="web-hls",
        output=OutputLocation(bucket="out-bucket", prefix="outputs"),
        source=SourceInfo(format="mov", duration=2.0, size=1000),
        outputs=[],
        encoder="libx264",
        attempt=attempt,
        started_at=NOW,
        completed_at=NOW,
    )
