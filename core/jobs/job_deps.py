"""Jobs that wait for other jobs, named by id: ``after: ["j-..."]`` and
``input: {"from": "j-...", "output": "mp4"}`` (:mod:`core.jobs.input_from`).

Event-driven, with no polling. When a dependent's message is handled, :meth:`JobDeps.ready`
reads its parents: one with no record refuses it (``invalid_request``: a parent must have
been accepted, and so have a record, before its dependent is sent); one FAILED or CANCELLED
fails it (``dependency_failed``); all COMPLETED, it runs, its ``input.from`` resolved from
the parent's result (the batch's rule: :func:`core.jobs.batch_deps.pick_output`). Otherwise
it is recorded WAITING, its id added to each unfinished parent's ``dependents`` (a set on the
parent's record), and its message acknowledged; nothing is announced until it starts (as a
batch's waiting job: ``job.received`` comes with its first attempt). Register, then read
the parents again: one that ended between the first read and the registration may have
read its dependents before ours was there, so the dependent goes on itself (a second start
by the parent is the same job id: a duplicate). A dependent that has ended for good goes
straight to its claim, a duplicate that passes its ending on.

When a job ends (:meth:`JobDeps.parent_ended`, from the dispatcher's ``Batches.job_ended``),
each WAITING dependent whose parents have all ended, or one of which did not complete, has
its request sent again on the queue of its priority; its handling then runs it or fails it
(one ``job.failed``, and its own dependents in turn), as on its first arrival.

No cycle can form: a dependent's id is derived from its own request, which names its
parents' ids, and those must exist before it is sent.
"""

from __future__ import annotations

import structlog

from core.errors import DependencyFailed, InvalidMessage
from core.jobs.batch_deps import pick_output
from core.jobs.job_record import JobRecord
from core.jobs.results import TERMINAL, JobStatus
from core.models import JobRequest, S3ObjectRef
from core.ports import JobSender, JobStore

log = structlog.get_logger("ffapi.deps")

Parents = dict[str, JobRecord]
# A dependent cancelled while it waited (a cancel writes CANCELLED and nothing more) is sent
# too: its delivery, a duplicate, passes its ending on (its batch, its own dependents).
_SENT_ON = frozenset({JobStatus.WAITING, JobStatus.CANCELLED})


class JobDeps:
    def __init__(self, jobs: JobStore, queue: JobSender | None) -> None:
        self._jobs = jobs
        self._queue = queue  # None: a worker with no queue to send dependents on

    async def ready(self, job_id: str, request: JobRequest) -> JobRequest | None:
        """``request`` with its input resolved when every parent completed; None when it
        waits (recorded WAITING). Raises InvalidMessage or DependencyFailed."""
        if not request.parents or await self._settled(job_id):
            return request
        parents = await self._read(request)
        if unfinished := _unfinished(request, parents):
            if self._queue is None:
                raise InvalidMessage("after: this worker has no queue to start waiting jobs on")
            await self._jobs.wait(job_id, request)
            for parent_id in unfinished:
                await self._jobs.add_dependent(parent_id, job_id)
            parents = await self._read(request)  # ended meanwhile? then it is ours to start
            if _unfinished(request, parents):
                log.info("job.waiting", job_id=job_id, parents=list(unfinished))
                return None
        return _resolved(request, parents)

    async def parent_ended(self, parent_id: str) -> None:
        """Send each WAITING dependent of ``parent_id`` whose wait is over."""
        parent = await self._jobs.get(parent_id)
        if parent is None or not parent.finished or self._queue is None:
            return
        for job_id in sorted(parent.dependents):
            job = await self._jobs.get(job_id)
            if job is None or job.request is None or job.status not in _SENT_ON:
                continue  # started or ended already: its own ending passes on
            if job.status == JobStatus.CANCELLED:
                await self._send(job_id, job.request, parent_id)
                continue
            try:
                if _unfinished(job.request, await self._read(job.request)):
                    continue  # another parent's ending sends it
            except (DependencyFailed, InvalidMessage):
                pass  # its handling fails it, as it would on its first arrival
            await self._send(job_id, job.request, parent_id)

    async def _settled(self, job_id: str) -> bool:
        """Has the job itself ended for good? Then its claim, a duplicate, passes its
        ending on (a dependent cancelled while it waited, sent by its parent's ending)."""
        own = await self._jobs.get(job_id)
        if own is None or not own.finished:
            return False
        return not (own.status == JobStatus.FAILED and own.retryable)  # a redrive runs it

    async def _send(self, job_id: str, request: JobRequest, parent_id: str) -> None:
        assert self._queue is not None  # parent_ended sends nothing without one
        log.info("job.dependent_sent", dependent=job_id, parent=parent_id)
        await self._queue.send_job(request.model_dump_json(exclude_none=True), request.priority)

    async def _read(self, request: JobRequest) -> Parents:
        found: Parents = {}
        for parent_id in request.parents:
            record = await self._jobs.get(parent_id)
            if record is None or record.status is None:
                raise InvalidMessage(f"{_field(request, parent_id)}: names no job")
            found[parent_id] = record
        return found


def _unfinished(request: JobRequest, parents: Parents) -> tuple[str, ...]:
    """The parents not ended yet; DependencyFailed when one ended otherwise than COMPLETED."""
    for parent_id, record in parents.items():
        if record.finished and record.status != JobStatus.COMPLETED:
            raise DependencyFailed(
                f"{_field(request, parent_id)}: the job it waits for ended {record.status}"
            )
    return tuple(p for p, record in parents.items() if record.status not in TERMINAL)


def _resolved(request: JobRequest, parents: Parents) -> JobRequest:
    """The request with its input the parent's named output (as the parent's result says)."""
    source = request.input_from
    if source is None:
        return request
    result = parents[source.job_id].result
    found = pick_output(result.outputs, source.output) if result is not None else None
    if result is None or found is None:
        raise DependencyFailed("input.output: the job it takes its input from made no such output")
    ref = S3ObjectRef(bucket=result.output.bucket, key=found.key, size=found.size)
    return request.model_copy(update={"input": ref})


def _field(request: JobRequest, parent_id: str) -> str:
    """Where the request names ``parent_id``: ``after[k]``, else ``input.from``."""
    if parent_id in request.after:
        return f"after[{request.after.index(parent_id)}]"
    return "input.from"
