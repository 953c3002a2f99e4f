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
# Count a job's ending (batch key, job id, ending) and announce the batch if it was the last;
# the announcement is claimed in the name of the ending being handled (the last argument),
# so that its message's redelivery takes it again after a crash.
CountEnd = Callable[[str, str, Ending, str], Awaitable[None]]


class Dependents:
    def __init__(
        self, jobs: JobStore, verdicts: Verdicts, send: SendJob, count_end: CountEnd
    ) -> None:
        self._jobs = jobs
        self._verdicts = verdicts
        self._send = send
        self._count_end = count_end

    async def after(self, record: BatchRecord, parent_id: str, ending: Ending) -> None:
        if ending != Ending.COMPLETED:
            why = "a job it waits for did not complete"
            await self._fail_downstream(record, parent_id, why, parent_id)
            return
        for child in record.plan.children(parent_id):
            if record.ending_of(child.job_id) is not None or child.request is None:
                continue  # ended already (a resent ending), or sent at the fan-out
            if all(p in record.completed for p in child.after):
                await self._start(record, child, child.request, parent_id)

    async def _start(
        self, record: BatchRecord, child: PlannedJob, request: JobRequest, origin: str
    ) -> None:
        parent_id = request.batch.input_from if request.batch else None
        if parent_id is not None:
            source = await self._output_of(parent_id, child.output or "")
            if source is None:
                why = "the job it takes its input from made no such output"
                await self._fail(record, child, why, origin)
                await self._fail_downstream(
                    record, child.job_id, "a job it waits for failed", origin
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

    async def _fail_downstream(
        self, record: BatchRecord, job_id: str, why: str, origin: str
    ) -> None:
        """Every job downstream of ``job_id`` not ended yet, found in one walk of the plan
        (not one call per level: a long chain must not run out of stack)."""
        for job in downstream(record, job_id):
            await self._fail(record, job, why, origin)

    async def _fail(self, record: BatchRecord, job: PlannedJob, why: str, origin: str) -> None:
        if job.request is None:  # sent at the fan-out: no parent of its own to fail it
            return
        error = RecordedError.of(DependencyFailed(why))
        wrote = await self._jobs.fail(job.job_id, error, final=True, attempt=None)
        if wrote or await self._unannounced(job.job_id):
            await self._verdicts.failure(job.job_id, job.request, error, attempt=1)
            await self._jobs.mark_announced(job.job_id)
        log.info("batch.dependency_failed", job=job.job_id)
        # Counted failed; its own dependents are the walk's (the count alone, no cascade).
        await self._count_end(record.plan.key, job.job_id, Ending.FAILED, origin)

    async def _unannounced(self, job_id: str) -> bool:
        found = await self._jobs.get(job_id)
        return found is not None and found.status == JobStatus.FAILED and not found.announced


def downstream(record: BatchRecord, job_id: str) -> list[PlannedJob]:
    """The jobs that wait, directly or not, for ``job_id`` and have not ended, nearest
    first."""
    found: dict[str, PlannedJob] = {}
    frontier = [job_id]
    while frontier:
        parent = frontier.pop(0)
        for child in record.plan.children(parent):
            if child.job_id not in found and record.ending_of(child.job_id) is None:
                found[child.job_id] = child
                frontier.append(child.job_id)
    return list(found.values())


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
