"""The JobStore port's contract, held by both of its adapters: DynamoDB (moto's server, over
HTTP) and the in-memory store shipped with the worker (``infra.memory_jobs``), which the
dispatcher's, consumer's and webhook lanes' unit tests run on (``tests/unit/fakes.FakeJobs``);
this is what lets them speak for the first. The claim (new, busy under a live lease, done
once finished, taken over once the lease lapsed, each claim an attempt), the attempt fence
on every later write, and the unfenced ones; the segment ledger (written fenced, handed to
the next claim, dropped by the completion, kept by a cancel).
``give_up``: ``test_give_up_contract.py``.

Where they differ, by design: DynamoDB keeps epoch seconds as integers, the memory store as
given (the clock here ticks whole seconds, so the leases read alike); the memory store has
no lost answers, so the write token (``tests/unit/test_jobstore_resends.py``) is DynamoDB's
alone."""

from __future__ import annotations

import pytest

from core.attempt.ledger import LedgerSegment, PlaylistLedger, SegmentLedger
from core.errors import InvalidMedia, JobCancelled, StorageUnavailable
from core.events.progress import ProgressUpdate
from core.jobs.job_record import RecordedError, WebhookDelivery
from core.jobs.results import JobStatus
from core.ports import Claim

from .conftest import Stack
from .job_store_rig import LEASE, REQUEST, Opener, Rig, contract, opener, result

pytestmark = pytest.mark.integration

PERMANENT = RecordedError.of(InvalidMedia("unreadable"))
TRANSIENT = RecordedError.of(StorageUnavailable("s3 down"))


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return opener(request.param, stack)


def delivery(event_id: str, outcome: str) -> WebhookDelivery:
    return WebhookDelivery(
        event_id=event_id, event_type="completed", endpoint="https://hooks.example/a",
        outcome=outcome, at="2026-11-23T12:00:00Z", status=200, attempts=1,
    )  # fmt: skip


async def status_and_error(rig: Rig, job_id: str) -> tuple[JobStatus | None, str | None]:
    record = await rig.store.get(job_id)
    assert record is not None, job_id
    return record.status, record.error.code if record.error else None


def test_a_new_job_is_claimed_and_recorded(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", attempt=1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.attempts, record.carrier) == (JobStatus.RUNNING, 1, "m-1")
        assert record.lease_until == 1_000 + LEASE
        assert (record.input_bucket, record.input_key, record.preset) == (
            "in-bucket",
            "clip.mp4",
            "web-hls",
        )
        assert record.request == REQUEST
        assert record.created_at is not None
        assert await rig.store.get("j-never-seen") is None

    contract(opened, check)


def test_a_live_lease_makes_the_job_busy_until_it_lapses(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        rig.advance(LEASE - 1)
        busy = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert (busy.outcome, busy.lease_remaining, busy.carrier) == ("busy", 1.0, "m-1")
        assert busy.status == JobStatus.RUNNING
        rig.advance(1)  # the lease ends now: lapsed
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-2") == Claim("claimed", attempt=2)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.attempts, record.carrier) == (2, "m-2")

    contract(opened, check)


def test_a_renewal_holds_the_lease_for_its_attempt_only(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        rig.advance(LEASE - 10)
        assert await rig.store.renew(job_id, LEASE, 1)
        assert not await rig.store.renew(job_id, LEASE, 2)  # no such attempt
        rig.advance(30)  # past the first lease, within the renewed one
        busy = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert (busy.outcome, busy.lease_remaining) == ("busy", LEASE - 30)

    contract(opened, check)


def test_a_superseded_attempt_writes_nothing(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        rig.advance(LEASE + 1)
        assert (await rig.store.claim(job_id, REQUEST, LEASE, "m-2")).attempt == 2
        before = await rig.store.get(job_id)
        update = ProgressUpdate(phase="encode", percent=50.0)
        assert not await rig.store.renew(job_id, LEASE, 1)
        assert not await rig.store.progress(job_id, update, 1)
        assert not await rig.store.complete(job_id, result(job_id, 1))
        assert not await rig.store.fail(job_id, PERMANENT, final=True, attempt=1)
        assert not await rig.store.release(job_id, 1)
        assert await rig.store.get(job_id) == before
        assert await rig.store.complete(job_id, result(job_id, 2))
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.announced, record.lease_until) == (
            JobStatus.COMPLETED,
            False,
            None,
        )
        assert record.result is not None
        assert record.result.attempt == 2

    contract(opened, check)


def test_a_completed_job_is_done_and_takes_no_more_writes(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.complete(job_id, result(job_id, 1))
        rig.advance(LEASE + 1)
        done = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert done == Claim("done", status=JobStatus.COMPLETED, announced=False)
        assert not await rig.store.progress(job_id, ProgressUpdate(phase="x", percent=1.0), 1)
        assert not await rig.store.fail(job_id, PERMANENT, final=True, attempt=1)
        assert not await rig.store.fail(job_id, PERMANENT, final=True, attempt=None)
        await rig.store.mark_announced(job_id)
        done = await rig.store.claim(job_id, REQUEST, LEASE, "m-3")
        assert done == Claim("done", status=JobStatus.COMPLETED, announced=True)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)

    contract(opened, check)


def test_a_failure_is_final_or_retried_as_its_error_says(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.fail(job_id, TRANSIENT, final=False, attempt=1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.lease_until, record.retryable) == (
            JobStatus.RETRYING,
            None,
            True,
        )
        assert record.error is not None
        assert record.error.code == "storage_unavailable"
        # RETRYING is claimed at once, without waiting out any lease, and its error cleared.
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", attempt=2)
        assert await status_and_error(rig, job_id) == (JobStatus.RUNNING, None)
        assert await rig.store.fail(job_id, PERMANENT, final=True, attempt=2)
        done = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert done == Claim("done", status=JobStatus.FAILED, announced=False)

    contract(opened, check)


def test_a_final_retryable_failure_is_claimed_by_a_redrive(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.fail(job_id, TRANSIENT, final=True, attempt=1)
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", attempt=2)

    contract(opened, check)


def test_a_failure_before_any_claim_never_overrides_a_running_job(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert await rig.store.fail(job_id, PERMANENT, final=True, attempt=None)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.announced, record.attempts) == (JobStatus.FAILED, False, 0)
        running = f"{job_id}-running"
        await rig.store.claim(running, REQUEST, LEASE, "m-1")
        assert not await rig.store.fail(running, PERMANENT, final=True, attempt=None)
        assert await status_and_error(rig, running) == (JobStatus.RUNNING, None)
        assert await rig.store.release(running, 1)  # RETRYING: a failure before a claim may land
        assert await rig.store.fail(running, PERMANENT, final=True, attempt=None)
        assert await status_and_error(rig, running) == (JobStatus.FAILED, "invalid_media")

    contract(opened, check)


def test_a_released_job_is_claimed_at_once(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.release(job_id, 1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.lease_until) == (JobStatus.RETRYING, None)
        assert not await rig.store.release(job_id, 1)  # no longer running
        assert await rig.store.claim(job_id, REQUEST, LEASE, "m-1") == Claim("claimed", attempt=2)

    contract(opened, check)


def test_progress_is_kept_for_the_running_attempt(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        update = ProgressUpdate(phase="encode", percent=42.5, speed=1.5, eta_seconds=12.0)
        assert not await rig.store.progress(job_id, update, 1)  # no record: nothing written
        assert await rig.store.get(job_id) is None
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.progress(job_id, update, 1)
        later = ProgressUpdate(phase="upload", percent=90.0)
        assert await rig.store.progress(job_id, later, 1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.progress == later

    contract(opened, check)


def test_each_delivery_is_appended_once_in_order(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.record_delivery(job_id, delivery("e-0", "delivered"))
        assert await rig.store.get(job_id) is None  # no record: none made
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.complete(job_id, result(job_id, 1))
        first, second = delivery("e-1", "failed"), delivery("e-2", "delivered")
        await rig.store.record_delivery(job_id, first)
        await rig.store.record_delivery(job_id, second)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.webhooks == (first, second)
        assert record.status == JobStatus.COMPLETED  # not fenced, and changes nothing else

    contract(opened, check)


def test_a_mark_without_a_record_leaves_a_stray_one(opened: Opener) -> None:
    """Both stores write the mark unconditionally (JobRecord: ``status`` None is such a stray),
    and a stray is no claim's: busy with no lease, never claimed."""

    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.mark_announced(job_id)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.announced, record.attempts) == (None, True, 0)
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert (claim.outcome, claim.lease_remaining) == ("busy", 0.0)

    contract(opened, check)


def test_recent_lists_the_newest_first_summarized(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        for n in range(3):
            await rig.store.claim(f"{job_id}-{n}", REQUEST, LEASE, f"m-{n}")
            rig.advance(1)
        assert await rig.store.complete(f"{job_id}-1", result(f"{job_id}-1", 1))
        newest = await rig.store.recent(limit=2)
        assert [r.job_id for r in newest] == [f"{job_id}-2", f"{job_id}-1"]
        assert all(r.request is None and r.result is None for r in newest)
        assert newest[0].preset == "web-hls"
        done = await rig.store.recent(status=JobStatus.COMPLETED)
        assert [(r.job_id, r.status) for r in done] == [(f"{job_id}-1", JobStatus.COMPLETED)]

    contract(opened, check)


def test_a_finished_record_expires_after_the_days_kept(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.expires_at is None  # a running job is kept
        assert await rig.store.complete(job_id, result(job_id, 1))
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.expires_at == 1_000 + 2 * 86400

    contract(opened, check, keep_days=2)


def ledger(rows: int, fingerprint: str = "fp-1", playlists: int = 2) -> SegmentLedger:
    return SegmentLedger(
        fingerprint,
        tuple(
            PlaylistLedger(
                f"cmaf/media_{n}.m3u8",
                f"cmaf/init-{n}.m4s",
                tuple(
                    LedgerSegment(f"cmaf/seg-{n}-{k + 1:05d}.m4s", 4_000_000, 1_500_000 + 7 * k)
                    for k in range(rows)
                ),
            )
            for n in range(playlists)
        ),
    )


def test_the_segment_ledger_is_read_back_by_the_next_claim(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert claim.segments is None
        assert await rig.store.note_segments(job_id, ledger(3), 1)
        film = ledger(1800, playlists=7)  # two hours of 4 s segments, seven playlists
        assert await rig.store.note_segments(job_id, film, 1)  # in place of the first
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.segments == film
        assert "segments" not in record.model_dump()  # not in `ffapi status --json`
        rig.advance(LEASE + 1)  # the worker was lost: the next claim takes it over
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert (claim.attempt, claim.segments) == (2, film)
        assert await rig.store.fail(job_id, TRANSIENT, final=False, attempt=2)
        claim = await rig.store.claim(job_id, REQUEST, LEASE, "m-2")  # kept through RETRYING
        assert (claim.attempt, claim.segments) == (3, film)
        assert [r.job_id for r in await rig.store.recent()] == [job_id]  # the summary reads

    contract(opened, check)


def test_a_segment_ledger_is_refused_when_fenced_out(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        assert not await rig.store.note_segments(job_id, ledger(1), 1)  # no record
        assert await rig.store.get(job_id) is None
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.note_segments(job_id, ledger(2), 1)
        rig.advance(LEASE + 1)
        await rig.store.claim(job_id, REQUEST, LEASE, "m-2")
        assert not await rig.store.note_segments(job_id, ledger(5), 1)  # attempt 1: taken over
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.segments == ledger(2)
        assert await rig.store.note_segments(job_id, ledger(4, "fp-2"), 2)
        assert await rig.store.complete(job_id, result(job_id, 2))
        record = await rig.store.get(job_id)  # committed: never encoded again
        assert record is not None
        assert (record.status, record.segments) == (
            JobStatus.COMPLETED,
            None,
        )
        assert not await rig.store.note_segments(job_id, ledger(5), 2)

    contract(opened, check)


def test_a_segment_ledger_is_unchanged_by_a_cancel(opened: Opener) -> None:
    async def check(rig: Rig, job_id: str) -> None:
        await rig.store.claim(job_id, REQUEST, LEASE, "m-1")
        assert await rig.store.note_segments(job_id, ledger(2), 1)
        assert (await rig.store.cancel(job_id)).outcome == "requested"
        with pytest.raises(JobCancelled):
            await rig.store.note_segments(job_id, ledger(3), 1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert record.segments == ledger(2)
        assert await rig.store.record_cancelled(job_id, 1)
        record = await rig.store.get(job_id)
        assert record is not None
        assert (record.status, record.segments) == (JobStatus.CANCELLED, ledger(2))

    contract(opened, check)
