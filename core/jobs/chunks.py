"""One long job across many workers: the dispatcher's side of chunk sub-jobs.

A chunk is a job for the existing machinery: claim, lease, renewals, stall, retries, DLQ
and cancel work per chunk, unchanged. What differs is said here:

- **Its request** (:meth:`Chunks.request`): the parent's, as its plan recorded it, with the
  chunk's ref (so its job id is the chunk's) and without what belongs to the parent alone
  (webhooks, schedule, waits, destinations, batch). A message naming no split parent, or an
  index outside its plan, is refused.
- **Its events**: none. :class:`QuietChunks` drops every event of a chunk's job id, whatever
  path says it (start, progress, a retry's ``max_attempts``, a cancel, the DLQ sweep): users
  see one job, the parent.
- **Its ending** (:meth:`Chunks.ended`, the dispatcher's call on every ending, and again on
  every duplicate delivery of an ended chunk). The chunk's attempt recorded its segments on
  the parent (``JobStore.end_chunk``; :mod:`core.attempt.chunk_run`) and, when its ending
  completed the set, stitched the manifests and committed ``job.json``. Here: a completed
  chunk that did not complete the set announces the parent's progress (the share of chunks
  done); the one that did closes the parent COMPLETED from its ``job.json`` (one conditional
  write) and announces its one ``job.completed``. A chunk that failed for good closes the
  parent FAILED (one write: the first failing chunk's) with its error, announces one
  ``job.failed``, and cancels the other chunks. The parent's ending is then passed on as any
  job's (its batch, the jobs waiting for it).
- **Cancel** (:meth:`Chunks.cancelled`): cancelling a SPLIT parent writes its tombstone
  (``job.cancelled``, :mod:`core.jobs.cancel`); here each chunk is cancelled (a queued one
  tombstoned, a running one flagged and stopped if it runs here) and the parent's outputs
  withdrawn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog

from core.attempt.commit import JobCommit
from core.errors import FfapiError, InvalidMessage
from core.events.announce import Announcer
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.events.progress import ProgressUpdate
from core.events.webhooks import WebhookTarget
from core.jobs.chunk_model import SplitClose, SplitRecord, is_chunk
from core.jobs.results import JobStatus, output_key
from core.jobs.verdicts import Verdicts
from core.media.plan import CACHE_RESULT, CONTENT_TYPES
from core.models import ChunkRef, JobRequest
from core.ports import CancelAnswer, JobStore, ObjectStore

log = structlog.get_logger("ffapi.chunks")

# What a chunk's request leaves out of its parent's: the parent's alone.
_PARENT_ONLY = {
    "webhooks": (), "not_before": None, "deadline": None, "after": (), "input_from": None,
    "batch": None, "destinations": (), "split": None, "idempotency_key": None,
}  # fmt: skip
PassOn = Callable[[JobRequest, str, str | None], Awaitable[None]]


class QuietChunks(Announcer):
    """The dispatcher's announcer: every event of a chunk's job id is dropped."""

    async def announce(self, event: CloudEvent, targets: Sequence[WebhookTarget] = ()) -> None:
        if event.subject is not None and is_chunk(event.subject):
            return
        await super().announce(event, targets)


class Chunks:
    def __init__(
        self, jobs: JobStore, objects: ObjectStore, announcer: Announcer, verdicts: Verdicts,
        now: Callable[[], datetime], pass_on: PassOn,
    ) -> None:  # fmt: skip
        self._jobs = jobs
        self._objects = objects
        self._announcer = announcer
        self._verdicts = verdicts
        self._now = now
        self._pass_on = pass_on  # the parent's ending, as any job's (core.jobs.batches)
        self._commit = JobCommit(objects, CONTENT_TYPES[".json"], CACHE_RESULT)

    async def request(self, ref: ChunkRef) -> JobRequest:
        """The chunk's request, from its parent's plan; InvalidMessage when it has none."""
        split = await self._jobs.get_split(ref.parent)
        if split is None or split.plan.chunk(ref.index) is None:
            raise InvalidMessage("chunk: names no chunk of a split job")
        return split.plan.request.model_copy(update={**_PARENT_ONLY, "chunk": ref})

    async def ended(self, request: JobRequest, job_id: str, status: str | None) -> None:
        """A chunk's ending (nothing for any other job); ``status`` None: as its record
        says."""
        ref = request.chunk
        if ref is None:
            return
        if status is None:
            record = await self._jobs.get(job_id)
            status = record.status if record else None
        split = await self._jobs.get_split(ref.parent)
        if split is None:
            return
        with structlog.contextvars.bound_contextvars(job_id=ref.parent, chunk=ref.index):
            if status == JobStatus.COMPLETED:
                await self._completed(ref, job_id, split)
            elif status == JobStatus.FAILED:
                await self._failed(ref, job_id, split)

    async def _completed(self, ref: ChunkRef, job_id: str, split: SplitRecord) -> None:
        plan = split.plan
        if len(split.ended) < plan.total:
            parent = await self._jobs.get(ref.parent)
            if parent is not None and parent.status == JobStatus.SPLIT:  # not closed meanwhile
                await self._progress(ref, split)
            return
        if split.stitch_by != ref.index:
            return  # another chunk's ending completed the set: it closes the parent
        assert plan.request.output is not None
        result = await self._commit.committed(plan.request.output, ref.parent)
        if result is None:  # its attempt stitched and committed before it completed
            log.error("job.stitch_missing", by=job_id)
            return
        if not await self._jobs.close_split(ref.parent, SplitClose(by=job_id, result=result)):
            return
        attempt = await self._attempt(ref.parent)
        event = job_event(
            EventType.COMPLETED, ref.parent, self._now(), result.event_data(), attempt
        )
        await self._announcer.announce(event, plan.request.webhooks)
        await self._closed(plan.request, ref.parent, JobStatus.COMPLETED)
        log.info("job.completed", chunks=plan.total, stitched_by=job_id)

    async def _failed(self, ref: ChunkRef, job_id: str, split: SplitRecord) -> None:
        record = await self._jobs.get(job_id)
        if record is None or record.error is None:
            return
        close = SplitClose(by=job_id, error=record.error)
        if not await self._jobs.close_split(ref.parent, close):
            return  # closed already: by another chunk, or cancelled
        request = split.plan.request
        await self._verdicts.failure(
            ref.parent, request, record.error, await self._attempt(ref.parent)
        )
        await self._closed(request, ref.parent, JobStatus.FAILED)
        await self._cancel_chunks(split, lambda _: False, but=ref.index)
        log.info("job.failed", chunk=ref.index, code=record.error.code)

    async def _closed(self, request: JobRequest, parent: str, status: str) -> None:
        await self._pass_on(request, parent, status)
        await self._jobs.mark_announced(parent)

    async def _progress(self, ref: ChunkRef, split: SplitRecord) -> None:
        """The parent's progress: the share of chunks done (an event per chunk ending)."""
        request, attempt = split.plan.request, await self._attempt(ref.parent)
        percent = round(100.0 * len(split.ended) / split.plan.total, 1)
        data = {
            "preset": request.preset_name, "correlation_id": request.correlation_id,
            "attempt": attempt,
            "progress": ProgressUpdate(phase="chunks", percent=percent).model_dump(mode="json"),
        }  # fmt: skip
        step = f"chunk-{ref.index}"
        event = job_event(EventType.PROGRESS, ref.parent, self._now(), data, attempt, step)
        await self._announcer.announce(event, request.webhooks)

    async def _attempt(self, parent: str) -> int:
        record = await self._jobs.get(parent)
        return (record.attempts if record else 0) or 1

    async def cancelled(
        self, job_id: str, answer: CancelAnswer, stop: Callable[[str], bool]
    ) -> None:
        """After a cancel of ``job_id``: when it was SPLIT, cancel its chunks (``stop``: a
        chunk's attempt running here, stopped at once) and withdraw what they uploaded."""
        if answer.status != JobStatus.SPLIT:
            return
        split = await self._jobs.get_split(job_id)
        if split is None:
            return
        await self._cancel_chunks(split, stop)
        out = split.plan.request.output
        if out is None:
            return
        try:  # a lifecycle rule, or an operator, has what is left
            keys = await self._objects.list_keys(out.bucket, output_key(out, job_id, ""))
            if keys:
                await self._objects.delete_keys(out.bucket, keys)
        except FfapiError as exc:
            log.warning("job.withdraw_failed", code=exc.code, reason=exc.message)

    async def _cancel_chunks(
        self, split: SplitRecord, stop: Callable[[str], bool], but: int | None = None
    ) -> None:
        done = {e.index for e in split.ended}
        for chunk in split.plan.chunks:
            if chunk.index in done or chunk.index == but:
                continue
            chunk_id = ChunkRef(parent=split.plan.parent, index=chunk.index).job_id
            if (await self._jobs.cancel(chunk_id)).outcome == "requested":
                stop(chunk_id)
