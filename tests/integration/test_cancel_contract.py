"""``JobStore.cancel`` and ``record_cancelled``'s contract, held by the DynamoDB store (moto's
server, over HTTP) and the in-memory one (``infra.memory_jobs``, under the dispatcher's unit
tests): a queued or retrying job gets a CANCELLED tombstone its next delivery finds finished;
a running one a flag its attempt's renewal and progress writes refuse with JobCancelled, and
that only its attempt may turn into CANCELLED (or a claim taking over a dead one); a finished
one is left as it ended. Each cancel, repeated, changes nothing more."""

from __future__ import annotations

import pytest

from core.errors import JobCancelled, StorageUnavailable
from core.events.progress import ProgressUpdate
from core.jobs.job_record import JobRecord, RecordedError
from core.jobs.results import JobStatus
from core.ports import CancelAnswer, Claim

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener, result

pytestmark = pytest.mark.integration

UPDATE = ProgressUpdate(phase="encode", percent=40.0)


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


async def record_of(rig: Rig, job_id: str) -> JobRecord:
    record = await rig.store.get(job_id)
    assert record is not None, job_id
    return record


def test_a_queued_job_gets_a_tombstone_its_delivery_finds_finished(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert await rig.store.cancel(job_id) == CancelAnswer("cancelled", None, 0)
        record = await record_of(rig, job_id)
        assert (record.status, record.attempts, record.announced) == (
            JobStatus.CANCELLED, 0, False,
        )  # fmt: skip
        assert record.error is not None
        assert (record.error.code, record.error.retryable) == ("cancelled", False)
        assert record.finished
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert (claim.outcome, claim.status, claim.announced) == ("done", "CANCELLED", False)
        await rig.store.mark_announced(job_id)
        again = await rig.store.cancel(job_id)
        assert again == CancelAnswer("finished", JobStatus.CANCELLED, 0)
        assert (await record_of(rig, job_id)).announced  # the second cancel wrote nothing

    contract(opened, check)


def test_a_retrying_job_is_cancelled_and_never_claimed_again(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        transient = RecordedError.of(StorageUnavailable("s3 down"))
        assert await rig.store.fail(job_id, transient, final=False, attempt=1)
        answer = await rig.store.cancel(job_id)
        assert answer == CancelAnswer("cancelled", JobStatus.RETRYING, 1)
        record = await record_of(rig, job_id)
        assert (record.status, record.attempts, record.request) == (
            JobStatus.CANCELLED, 1, REQUEST,
        )  # fmt: skip
        assert (await rig.store.claim(job_id, REQUEST, LEASE, "m-1")).outcome == "done"

    contract(opened, check)


def test_a_running_job_is_flagged_and_its_renewal_and_progress_refused(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.renew(job_id, LEASE, 1)  # no cancel yet: renewed
        assert await rig.store.cancel(job_id) == CancelAnswer("requested", JobStatus.RUNNING, 1)
        assert await rig.store.cancel(job_id) == CancelAnswer("requested", JobStatus.RUNNING, 1)
        record = await record_of(rig, job_id)
        assert (record.status, record.cancel_requested) == (JobStatus.RUNNING, True)
        with pytest.raises(JobCancelled):
            await rig.store.renew(job_id, LEASE, 1)
        with pytest.raises(JobCancelled):
            await rig.store.progress(job_id, UPDATE, 1)
        assert (await record_of(rig, job_id)).progress is None  # refused: nothing written
        assert not await rig.store.renew(job_id, LEASE, 2)  # not its attempt: a plain refusal
        assert not await rig.store.record_cancelled(job_id, 2)
        assert await rig.store.record_cancelled(job_id, 1)
        record = await record_of(rig, job_id)
        assert (record.status, record.announced, record.cancel_requested) == (
            JobStatus.CANCELLED, False, False,
        )  # fmt: skip
        assert record.error is not None
        assert record.error.code == "cancelled"
        assert record.lease_until is None
        assert not await rig.store.record_cancelled(job_id, 1)  # once
        assert not await rig.store.complete(job_id, result(job_id, 1))
        assert await rig.store.cancel(job_id) == CancelAnswer("finished", JobStatus.CANCELLED, 1)

    contract(opened, check)


def test_a_flag_outliving_its_attempt_is_handed_to_the_next_claim(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", 1)
        await rig.store.cancel(job_id)
        rig.advance(LEASE)  # its worker died: the lease lapses
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert claim == Claim("claimed", attempt=2, cancel_requested=True)
        assert not await rig.store.renew(job_id, LEASE, 1)  # the dead attempt: taken over
        assert await rig.store.record_cancelled(job_id, 2)
        assert (await record_of(rig, job_id)).status == JobStatus.CANCELLED

    contract(opened, check)


def test_a_finished_job_stays_as_it_ended(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.complete(job_id, result(job_id, 1))
        answer = await rig.store.cancel(job_id)
        assert answer == CancelAnswer("finished", JobStatus.COMPLETED, 1)
        record = await record_of(rig, job_id)
        assert (record.status, record.cancel_requested, record.error) == (
            JobStatus.COMPLETED, False, None,
        )  # fmt: skip
        failed = f"{job_id}-failed"
        await rig.store.claim(failed, REQUEST, LEASE, "m-2")
        permanent = RecordedError.of(StorageUnavailable("gone")).model_copy(
            update={"retryable": False}
        )
        assert await rig.store.fail(failed, permanent, final=True, attempt=1)
        assert await rig.store.cancel(failed) == CancelAnswer("finished", JobStatus.FAILED, 1)
        assert (await record_of(rig, failed)).status == JobStatus.FAILED

    contract(opened, check)


def test_a_cancelled_record_expires_as_a_finished_one(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.cancel(job_id)
        assert (await record_of(rig, job_id)).expires_at == 1_000 + 7 * 86400

    contract(opened, check, keep_days=7)
