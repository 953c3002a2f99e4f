"""The job store (claims, leases, outcomes, cancels) and the batch records (:mod:`core.ports`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from core.attempt.ledger import SegmentLedger
from core.events.progress import ProgressUpdate
from core.jobs.batch_model import BatchPlan, BatchRecord, Ending
from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkTally, SplitClose, SplitRecord
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.results import JobResult
from core.models import JobRequest


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Literal["claimed", "done", "busy"]
    attempt: int = 0
    lease_remaining: float = 0.0  # seconds, when busy
    carrier: str | None = None  # when busy: the queue message whose delivery holds the claim
    status: str | None = None  # the record's status, when done (SPLIT: its chunks run it)
    announced: bool = True  # when done: False if its outcome was recorded but never announced
    # When claimed: a cancel was requested while an earlier attempt ran (its worker died, or
    # it was handed back): the claimant records the job CANCELLED rather than run it.
    cancel_requested: bool = False
    # When claimed: the segments an earlier attempt recorded (note_segments), which this
    # one may keep (core.attempt.resume); None when none did.
    segments: SegmentLedger | None = None


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """What ``JobStore.cancel`` did, in one conditional write (or none).

    ``cancelled``: the job was queued (no record) or RETRYING and is now CANCELLED, its
    event unannounced: the caller announces it, then marks it announced. ``requested``: it is
    RUNNING; its attempt is flagged and stops at its next renewal or progress write (whoever
    records CANCELLED announces). ``finished``: it had already ended (``status``: COMPLETED,
    FAILED or CANCELLED); nothing written."""

    outcome: Literal["cancelled", "requested", "finished"]
    status: str | None = None  # the record's status before the cancel; None: no record
    attempt: int = 0  # the record's attempts (0: never claimed)


class JobStore(Protocol):
    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str
    ) -> Claim:
        """Claim the job for the delivery of message ``carrier``."""
        ...

    # Writes after a claim are fenced by its attempt number: each returns False, and writes
    # nothing, when the job is no longer this claim's to write (its lease lapsed and another
    # worker took it over).

    # renew and progress also carry "no cancel requested": once a cancel flagged the job,
    # they raise JobCancelled (the attempt learns it with no polling of its own).

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool: ...

    async def release(self, job_id: str, attempt: int) -> bool:
        """Give the job back unfinished (the worker is stopping): RETRYING with no lease, so
        the next delivery claims it at once."""
        ...

    async def progress(self, job_id: str, progress: ProgressUpdate, attempt: int) -> bool:
        """The running attempt's latest progress (phase, percent, speed, ETA)."""
        ...

    async def note_segments(self, job_id: str, ledger: SegmentLedger, attempt: int) -> bool:
        """The attempt's segments in the bucket (core.attempt.ledger), in place of the
        record's: one fenced write, refused with JobCancelled as ``progress`` is. Kept
        through a release, a failure and a cancel (a later claim reads it); ``complete``
        drops it."""
        ...

    async def complete(self, job_id: str, result: JobResult) -> bool:
        """Fenced by ``result.attempt``. The record's segment ledger goes: a committed job
        is never encoded again."""
        ...

    async def fail(
        self, job_id: str, error: RecordedError, *, final: bool, attempt: int | None
    ) -> bool:
        """``attempt=None``: a failure before any claim; refused over a finished or running
        job (a duplicate delivery must not turn COMPLETED into FAILED)."""
        ...

    async def give_up(
        self, job_id: str, request: JobRequest, error: RecordedError, carrier: str
    ) -> bool:
        """The job's message ``carrier`` was dead-lettered: FAILED with ``error`` (retryable,
        so a redriven message claims it again), unannounced, in one conditional write, when
        nothing else will finish it: no record, or RETRYING, or RUNNING with a lapsed lease,
        last claimed by ``carrier`` (or by no message). False, and nothing written, otherwise
        (finished, leased, or carried by another message)."""
        ...

    async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
        """Append one webhook delivery's outcome to the job's record (not fenced: deliveries
        finish after the job does); nothing when the job has no record."""
        ...

    async def mark_announced(self, job_id: str) -> None:
        """The terminal event went out; later deliveries need not announce it again."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def schedule(self, job_id: str, request: JobRequest, not_before: datetime) -> None:
        """Record the job as SCHEDULED for ``not_before`` when it has no record yet (a
        claim takes a SCHEDULED job like a new one); nothing otherwise."""
        ...

    async def wait(self, job_id: str, request: JobRequest) -> None:
        """Record the job as WAITING for the jobs its request names in ``after`` when it has
        no record yet (a claim takes a WAITING job like a new one); nothing otherwise."""
        ...

    async def add_dependent(self, parent_id: str, job_id: str) -> bool:
        """Add ``job_id`` to the ``dependents`` of the job ``parent_id`` (a set: added twice,
        it is there once); False, and nothing written, when that job has no record."""
        ...

    async def cancel(self, job_id: str) -> CancelAnswer:
        """Cancel the job in whatever state it is (see :class:`CancelAnswer`); harmless when
        repeated."""
        ...

    async def record_cancelled(self, job_id: str, attempt: int) -> bool:
        """The attempt stopped for a cancel: CANCELLED, unannounced; fenced by ``attempt``
        (whoever writes it announces ``job.cancelled``)."""
        ...

    # A split job (core.jobs.chunks): the parent's chunk plan, its chunks' endings, its end.

    async def split(self, job_id: str, plan: ChunkPlan, attempt: int) -> bool:
        """Fenced by ``attempt``: SPLIT, with its chunk plan and no lease (no worker holds
        it while its chunks run); True too when it is SPLIT already (the plan is written
        once: a redelivered parent finds it)."""
        ...

    async def mark_chunks_sent(self, job_id: str) -> None:
        """Every chunk's message went out: a redelivered parent sends none again."""
        ...

    async def get_split(self, job_id: str) -> SplitRecord | None:
        """The split side of a job's record; None when it was never split."""
        ...

    async def end_chunk(self, job_id: str, ending: ChunkEnding) -> ChunkTally | None:
        """Record a chunk's ending on its SPLIT parent ``job_id`` (by index: twice is
        once), in one conditional write; the tally as it left it, ``stitch`` True for the
        ending that completed the set (and for that ending again while the parent is not
        closed). None, and nothing written, when the parent is not SPLIT."""
        ...

    async def close_split(self, job_id: str, close: SplitClose) -> bool:
        """End the SPLIT parent: COMPLETED with ``close.result`` or FAILED with
        ``close.error``, unannounced, in one conditional write. True for the write that
        closed it, and again for the same ``close.by`` while it is unannounced (its
        redelivery announces); False otherwise, nothing written."""
        ...


class BatchStore(Protocol):
    """Batch records (:class:`core.jobs.batch_model.BatchRecord`): the plan, written once,
    and each job's ending, kept as sets of job ids so that recording one twice is harmless."""

    async def create(self, plan: BatchPlan) -> bool:
        """Write the record, only if there is none under ``plan.key`` (one conditional
        write); False when there is."""
        ...

    async def get(self, key: str) -> BatchRecord | None: ...

    async def mark_fanned_out(self, key: str) -> None:
        """Every job without parents was sent: a resent batch need not send them again."""
        ...

    async def record_end(self, key: str, job_id: str, ending: Ending) -> BatchRecord | None:
        """Add ``job_id`` to the ``ending`` set (COMPLETED takes it out of FAILED: a failed
        job redriven from the DLQ); the record as this write left it. None, and nothing
        written, when there is no such batch or the job is not one of its."""
        ...

    async def claim_announcement(self, key: str, job_id: str) -> bool:
        """Take the right to announce the batch's end, for the ending of ``job_id``: True
        when nobody holds it, or ``job_id`` does and it was not announced yet (a redelivery
        of the job that took it). One conditional write."""
        ...

    async def mark_announced(self, key: str) -> None: ...
