"""The ports' part in scheduled jobs (``core.jobs.schedule``), held by both adapters of each:
the job store's SCHEDULED record (written only where there is none, listed by ``recent`` with
its time, claimed like a new job, failed before any claim as ``deadline_passed``) and the
queue's requeue (a fresh copy, its receive count started again, hidden for its delay, the
received copy gone)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.errors import DeadlinePassed
from core.jobs.job_record import RecordedError
from core.jobs.results import JobStatus
from core.ports import Claim, Queue

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener
from .test_queue_contract import Opener as QueueOpener
from .test_queue_contract import contract as queue_contract
from .test_queue_contract import queue_opener

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


def test_a_scheduled_job_is_listed_with_its_time_then_claimed_like_a_new_one(
    opened: Opener,
) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.schedule(job_id, REQUEST, AT)
        await rig.store.schedule(job_id, REQUEST, AT)  # a later copy: the same record
        (listed,) = await rig.store.recent(status=JobStatus.SCHEDULED)
        assert (listed.job_id, listed.status, listed.attempts) == (job_id, JobStatus.SCHEDULED, 0)
        assert listed.not_before is not None
        assert datetime.fromisoformat(listed.not_before) == AT
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-2") == Claim("claimed", attempt=1)
        await rig.store.schedule(job_id, REQUEST, AT)  # never sets a claimed job back
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.RUNNING

    contract(opened, check)


def test_a_scheduled_job_past_its_deadline_fails_before_any_claim(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.schedule(job_id, REQUEST, AT)
        error = RecordedError.of(DeadlinePassed("too late"))
        assert await rig.store.fail(job_id, error, final=True, attempt=None)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.FAILED
        assert record.error is not None
        assert record.error.code == "deadline_passed"

    contract(opened, check)


@pytest.fixture(params=["sqs", "memory"])
def opened_queue(request: pytest.FixtureRequest, stack: Stack) -> QueueOpener:
    return queue_opener(request.param, stack)


def test_a_requeued_message_comes_back_fresh_after_its_delay(opened_queue: QueueOpener) -> None:
    async def check(queue: Queue) -> None:
        sent = await queue.send("later")
        [first] = await queue.receive(1, 1)
        await queue.release(first)
        [second] = await queue.receive(1, 1)
        assert second.message.receive_count == 2
        await queue.requeue(second, 2)
        assert await queue.receive(1, 1) == []  # hidden for its delay, the old copy gone
        await asyncio.sleep(1.2)
        [copy] = await queue.receive(1, 2)
        assert copy.message.message_id != sent
        assert (copy.message.body, copy.message.receive_count) == ("later", 1)
        await queue.delete(copy)
        assert await queue.receive(1, 1) == []

    queue_contract(opened_queue, check)
