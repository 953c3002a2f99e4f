"""The JobStore port's WAITING record and ``dependents`` set (``core.jobs.job_deps``), held
by both adapters: DynamoDB (moto's server, over HTTP) and the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import DependencyFailed, InvalidMedia, StorageUnavailable
from core.jobs.job_record import RecordedError
from core.jobs.results import JobStatus
from core.ports import Claim

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener, result

pytestmark = pytest.mark.integration


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


def test_a_waiting_job_is_recorded_once_and_claimed_as_a_new_one(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.wait(job_id, REQUEST)
        await rig.store.wait(job_id, REQUEST)  # its message handled again: still waiting
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.attempts, record.request) == (
            JobStatus.WAITING, 0, REQUEST,
        )  # fmt: skip
        assert record.created_at is not None
        assert [r.job_id for r in await rig.store.recent(JobStatus.WAITING)] == [job_id]
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", attempt=1)
        await rig.store.wait(job_id, REQUEST)  # never sets a claimed job back
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.RUNNING
        assert await rig.store.complete(job_id, result(job_id, 1))
        await rig.store.wait(job_id, REQUEST)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.COMPLETED

    contract(opened, check)


def test_a_waiting_job_fails_before_any_claim_and_can_be_cancelled(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        failed = RecordedError.of(DependencyFailed("after[0]: the job it waits for ended FAILED"))
        await rig.store.wait(job_id, REQUEST)
        assert await rig.store.fail(job_id, failed, final=True, attempt=None)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.FAILED
        assert record.error is not None
        assert record.error.code == "dependency_failed"
        # Cancelled as a job not started is (a SCHEDULED one too: the same condition).
        waiting, scheduled = job_id + "-w", job_id + "-s"
        await rig.store.wait(waiting, REQUEST)
        await rig.store.schedule(scheduled, REQUEST, datetime(2030, 1, 1, tzinfo=UTC))
        for other, was in ((waiting, JobStatus.WAITING), (scheduled, JobStatus.SCHEDULED)):
            answer = await rig.store.cancel(other)
            assert (answer.outcome, answer.status) == ("cancelled", was)
            record = await rig.store.get(other)
            assert record is not None
            assert record.status == JobStatus.CANCELLED

    contract(opened, check)


def test_dependents_are_a_set_on_a_recorded_parent(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert not await rig.store.add_dependent(job_id, "j-" + "1" * 24)  # no record
        assert await rig.store.get(job_id) is None  # and none made
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        for dependent in ("j-" + "1" * 24, "j-" + "2" * 24, "j-" + "1" * 24):
            assert await rig.store.add_dependent(job_id, dependent)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.dependents == {"j-" + "1" * 24, "j-" + "2" * 24}
        # Kept through the parent's own writes: its ending reads them.
        error = RecordedError.of(InvalidMedia("unreadable"))
        assert await rig.store.fail(job_id, error, final=True, attempt=1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.FAILED
        assert record.dependents == {"j-" + "1" * 24, "j-" + "2" * 24}

    contract(opened, check)


def test_a_dead_lettered_waiting_job_is_given_up(opened: Opener) -> None:
    """Its letter was the one its parents' ending sent: nothing else will send it again."""

    async def check(rig: Rig, job_id: str) -> None:
        error = RecordedError.of(StorageUnavailable("dynamodb down"))
        await rig.store.wait(job_id, REQUEST)
        assert await rig.store.give_up(job_id, REQUEST, error, "m-dead")
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.retryable, record.announced) == (
            JobStatus.FAILED, True, False,
        )  # fmt: skip
        # A redrive claims it again (and its parents are read again first: core.jobs.job_deps).
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-redriven") == Claim(
            "claimed", attempt=1
        )

    contract(opened, check)
