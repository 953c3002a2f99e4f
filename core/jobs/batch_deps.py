"""A batch's dependencies, when a parent ends: start the dependents it was the last to
complete, or fail every job downstream of one that failed.

Event-driven: the worker that records a parent's ending reads the batch record this write
left and sends each dependent whose parents have all COMPLETED (two parents ending at once:
the later write sees both; a dependent sent twice is one job, its id derived from the
batch). Its ``input.from`` is resolved then, from the parent's result: the one output whose
step name, role or file extension is the named ``output``. A parent that FAILED (or was
CANCELLED) fails its dependents, and theirs, as ``dependency_failed``: each recorded FAILED
with one ``job.failed`` and counted failed in the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from core.errors import DependencyFailed
from core.jobs.batch_model import BatchRecord, Ending, PlannedJob
from core.jobs.job_record import RecordedError
from core.jobs.results import JobStatus, OutputFile
from core.jobs.verdicts import Verdicts
from core.models import JobRequest, S3ObjectRef
from core.ports import JobStore

log = structlog.get_logger("ffapi.batch")

SendJob = Callable[[JobRequest], Awaitable[None]]
RecordEnd = Callable[[str, str, Ending], Awaitable[None]]


class Dependents:
    def __init__(
        self, jobs: JobStore, verdicts: Verdicts, send: SendJob, record_end: RecordEnd
    ) -> None:
        self._jobs = jobs
        self._verdicts = verdicts
        self._send = send
        self._record_end = record_end

    async def after(self, record: BatchRecord, parent_id: str, ending: Ending) -> None:
        for child in record.plan.children(parent_id):
            if record.ending_of(child.job_id) is not None or child.request is None:
                continue  # ended already (a resent ending), or sent at the fan-out
            if ending != Ending.COMPLETED:
                await self._fail(record, child, "a job it waits for did not complete")
            elif all(p in record.completed for p in child.after):
                await self._start(record, child, child.request)

    async def _start(self, record: BatchRecord, child: PlannedJob, request: JobRequest) -> None:
        parent_id = request.batch.input_from if request.batch else None
        if parent_id is not None:
            source = await self._output_of(parent_id, child.output or "")
            if source is None:
                await self._fail(
                    record, child, "the job it takes its input from made no such output"
                )
                return
            request = request.model_copy(update={"input": source})
        log.info("batch.dependent_started", job=child.job_id)
        await self._send(request)

    async def _output_of(self, parent_id: str, name: str) -> S3ObjectRef | None:
        parent = await self._jobs.get(parent_id)
        if parent is None or parent.result is None:
            return None
        found = pick_output(parent.result.outputs, name)
        if found is None:
            return None
        return S3ObjectRef(bucket=parent.result.output.bucket, key=found.key, size=found.size)

    async def _fail(self, record: BatchRecord, child: PlannedJob, why: str) -> None:
        assert child.request is not None  # a job that waits keeps its request
        error = RecordedError.of(DependencyFailed(why))
        wrote = await self._jobs.fail(child.job_id, error, final=True, attempt=None)
        if wrote or await self._unannounced(child.job_id):
            await self._verdicts.failure(child.job_id, child.request, error, attempt=1)
            await self._jobs.mark_announced(child.job_id)
        log.info("batch.dependency_failed", job=child.job_id)
        # Counted as failed; its own dependents fail in turn (the recursion ends: no cycles).
        await self._record_end(record.plan.key, child.job_id, Ending.FAILED)

    async def _unannounced(self, job_id: str) -> bool:
        found = await self._jobs.get(job_id)
        return found is not None and found.status == JobStatus.FAILED and not found.announced


def pick_output(outputs: list[OutputFile], name: str) -> OutputFile | None:
    """The one output a step named ``name`` made, else the one of that role, else the one
    file with that extension; None when there is none, or several."""
    for matches in (
        [f for f in outputs if f.step == name],
        [f for f in outputs if f.role == name],
        [f for f in outputs if f.key.rsplit("/", 1)[-1].endswith(f".{name}")],
    ):
        if matches:
            return matches[0] if len(matches) == 1 else None
    return None
