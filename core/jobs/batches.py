"""Batches: fan a batch out into jobs, count each job's ending, announce the batch's end.

:meth:`Batches.submit` checks the batch whole (:mod:`core.jobs.batch_plan`), writes its
record (one conditional write: a resent batch creates nothing new, and one resent after its
fan-out sends nothing), then sends each job without parents as its own message on the jobs
queue. A crash mid-way leaves the batch message on the queue; its next delivery sends them
all again, harmless: their ids are derived from the batch, so the ones already sent are
acknowledged as duplicates.

:meth:`Batches.job_ended` is the dispatcher's call when a batch job ends (before it marks
the job announced, and again on every duplicate delivery of an ended job: a crash in
between is made good). It adds the job to its ending's set; its dependents are started or
failed (:mod:`core.jobs.batch_deps`); the write that brings the ended count to the total
takes the announcement (a conditional mark) and sends ``ffapi.batch.completed`` once. Any
job's ending (of a batch or not) first sends the jobs waiting for it by id
(:mod:`core.jobs.job_deps`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from core.errors import InputNotFound, InvalidMessage
from core.events.announce import Announcer
from core.events.contract import BatchCompletedData, BatchJobEnding, batch_event
from core.jobs import pulse
from core.jobs.batch_deps import Dependents
from core.jobs.batch_model import (
    MAX_MANIFEST_BYTES,
    BatchDoc,
    BatchMessage,
    BatchRecord,
    Ending,
    ManifestRef,
    batch_key,
)
from core.jobs.batch_plan import plan_batch
from core.jobs.config import WorkerConfig
from core.jobs.intake import parse_model
from core.jobs.job_deps import JobDeps
from core.jobs.results import JobStatus
from core.jobs.verdicts import Verdicts
from core.models import JobRequest, S3ObjectRef
from core.ports import BatchStore, JobSender, JobStore, ObjectStore

log = structlog.get_logger("ffapi.batch")

_SENDS_AT_ONCE = 8
_ENDINGS: dict[str, Ending] = {
    JobStatus.COMPLETED: Ending.COMPLETED,
    JobStatus.FAILED: Ending.FAILED,
    # Job control's cancel: a cancelled job of a batch is counted by calling job_ended with
    # its status "CANCELLED" (JobStatus.CANCELLED once it exists); its dependents then fail.
    "CANCELLED": Ending.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class BatchPorts:
    """What batches need beside the dispatcher's ports: their records, and the jobs queue
    to send the fanned-out jobs on."""

    store: BatchStore
    queue: JobSender


class Batches:
    def __init__(
        self, ports: BatchPorts | None, objects: ObjectStore, jobs: JobStore, verdicts: Verdicts,
        announcer: Announcer, config: Callable[[], WorkerConfig], now: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self._ports = ports
        self._objects = objects
        self._jobs = jobs
        self._announcer = announcer
        self._config = config  # the live configuration in force (core.jobs.config_reload)
        self._now = now
        self._dependents = Dependents(jobs, verdicts, self._send, self._counted)
        # Jobs waiting for jobs named by id, in or out of a batch (core.jobs.job_deps).
        self.waits = JobDeps(jobs, ports.queue if ports is not None else None)

    @property
    def _on(self) -> BatchPorts:
        if self._ports is None:
            raise InvalidMessage("this worker has no batch store: batches are refused")
        return self._ports

    async def submit(self, message: BatchMessage, config: WorkerConfig) -> int:
        """Check (under ``config``, the message's configuration), record and fan out a batch;
        how many jobs were sent."""
        store = self._on.store
        doc = message.batch or await self._manifest(message.batch_manifest)
        submission = plan_batch(doc, config.intake, config.catalog)
        plan = submission.plan
        with structlog.contextvars.bound_contextvars(batch_id=plan.batch_id, batch=plan.key):
            if not await store.create(plan):
                record = await store.get(plan.key)
                if record is not None and record.plan.digest != plan.digest:
                    raise InvalidMessage("batch.id: names another batch, sent before")
                if record is not None and record.fanned_out:
                    log.info("batch.duplicate")
                    return 0
            await self._send_all(submission.roots)
            await store.mark_fanned_out(plan.key)
            log.info("batch.fanned_out", total=plan.total, sent=len(submission.roots))
        return len(submission.roots)

    async def job_ended(self, request: JobRequest, job_id: str, status: str | None) -> None:
        """Count a batch job's ending (nothing for a job of no batch, or one not ended);
        ``status`` None: as its record says. Jobs waiting for it by id go on first."""
        await self.waits.parent_ended(job_id)
        if request.batch is None or self._ports is None:
            return
        if status is None:
            record = await self._jobs.get(job_id)
            status = record.status if record else None
        ending = _ENDINGS.get(status or "")
        if ending is None:
            return
        await self._record_end(batch_key(request.batch.id), job_id, ending)

    async def _record_end(self, key: str, job_id: str, ending: Ending) -> None:
        record = await self._count_end(key, job_id, ending)
        if record is not None:
            await self._dependents.after(record, job_id, ending)

    async def _count_end(
        self, key: str, job_id: str, ending: Ending, by: str | None = None
    ) -> BatchRecord | None:
        """Record the ending; announce the batch when this write ended its last job, in the
        name of ``by`` (the ending being handled; the job's own by default)."""
        record = await self._on.store.record_end(key, job_id, ending)
        if record is None:
            log.warning("batch.unknown_job", batch=key, ended=job_id)
            return None
        await self._announce_if_done(record, by or job_id)
        return record

    async def _counted(self, key: str, job_id: str, ending: Ending, by: str) -> None:
        await self._count_end(key, job_id, ending, by)

    async def _announce_if_done(self, record: BatchRecord, job_id: str) -> None:
        plan, store = record.plan, self._on.store
        if record.ended < plan.total or record.announced:
            return
        if not await store.claim_announcement(plan.key, job_id):
            return  # another job's ending announces it
        jobs = [
            BatchJobEnding(
                job_id=j.job_id, name=j.name, status=str(record.ending_of(j.job_id)).upper()
            )
            for j in plan.jobs
        ]
        data = BatchCompletedData(
            batch_id=plan.batch_id, key=plan.key, total=plan.total,
            completed=len(record.completed), failed=len(record.failed),
            cancelled=len(record.cancelled), jobs=jobs,
        )  # fmt: skip
        await self._announcer.announce(batch_event(data, self._now()), ())
        await store.mark_announced(plan.key)
        log.info("batch.completed", batch=plan.key, completed=data.completed, failed=data.failed)

    async def _manifest(self, ref: ManifestRef | None) -> BatchDoc:
        if ref is None:  # BatchMessage holds one or the other
            raise InvalidMessage("give batch or batch_manifest")
        self._config().intake.admission.admit_input(S3ObjectRef(bucket=ref.bucket, key=ref.key))
        info = await self._objects.head(S3ObjectRef(bucket=ref.bucket, key=ref.key))
        if info.size > MAX_MANIFEST_BYTES:
            raise InvalidMessage(f"batch_manifest: over {MAX_MANIFEST_BYTES} bytes")
        body = await self._objects.get_bytes(ref.bucket, ref.key, MAX_MANIFEST_BYTES)
        if body is None:
            raise InputNotFound("batch_manifest: no such object")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidMessage("batch_manifest is not JSON", code="malformed_json") from exc
        if not isinstance(doc, dict):
            raise InvalidMessage("batch_manifest is not a JSON object")
        return parse_model(BatchDoc, doc, "batch_manifest")

    async def _send_all(self, requests: Sequence[JobRequest]) -> None:
        gate = asyncio.Semaphore(_SENDS_AT_ONCE)

        async def send(request: JobRequest) -> None:
            async with gate:
                await self._send(request)
            pulse.beat()  # a long fan-out is alive: the heartbeat keeps the message hidden

        await asyncio.gather(*(send(r) for r in requests))

    async def _send(self, request: JobRequest) -> None:
        await self._on.queue.send_job(request.model_dump_json(exclude_none=True), request.priority)
