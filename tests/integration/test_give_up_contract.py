"""``JobStore.give_up``'s contract (the dead-letter sweep's one write), held by the DynamoDB
store (moto's server, over HTTP) and the in-memory one shipped with the worker
(``infra.memory_jobs``, under the dispatcher's and the sweep's unit tests): a job is failed
only when no live delivery can still finish it, and the failure is one a redriven message
claims again. The store's other writes: ``test_job_store_contract.py``."""

from __future__ import annotations

import pytest

from core.errors import AttemptsExhausted, WorkerLost
from core.jobs.job_record import RecordedError
from core.jobs.results import JobStatus

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener, result

pytestmark = pytest.mark.integration

ERROR = RecordedError.of(AttemptsExhausted.after(WorkerLost("killed"), 2))


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


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
            assert await rig.store.complete(job_id, result(job_id, claim.attempt))
        rig.advance(LEASE + 1)
        before = await rig.store.get(job_id)
        assert not await rig.store.give_up(job_id, REQUEST, ERROR, "m-1")
        assert await rig.store.get(job_id) == before

    contract(opened, check)
