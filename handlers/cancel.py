"""``ffapi cancel JOB_ID``: cancel a job, in whatever state it is (``core.jobs.cancel``).

By default it writes to the job store itself, as a worker handling a cancel message would:
a queued or retrying job is cancelled on the spot (and ``job.cancelled`` announced from here),
a running one is flagged, and its worker stops it at its next lease renewal or progress write.
``--via-queue`` sends the cancel message instead, for a deployment whose operators may send to
the queue but not write the table; the worker that takes it answers in its log.
"""

from __future__ import annotations

from pydantic import ValidationError

from core.jobs.cancel_request import CancelRequest, CancelTarget
from core.ports import CancelAnswer
from handlers.cli_errors import EXIT_FAILED, EXIT_USAGE, CommandError
from handlers.runtime import open_runtime
from infra.aws import open_clients
from infra.queue import SqsQueue
from infra.settings import Settings


def cancel_request(job_id: str) -> CancelRequest:
    try:
        return CancelRequest(version=2, cancel=CancelTarget(job_id=job_id))
    except ValidationError:
        raise CommandError(
            f"{job_id!r} is not a job id", "a job id is j- and 24 hex digits", EXIT_USAGE
        ) from None


async def run_cancel(settings: Settings, job_id: str, via_queue: bool) -> int:
    request = cancel_request(job_id)
    if via_queue:
        async with open_clients(settings) as clients:
            queue = await SqsQueue.open(clients.sqs, settings.jobs_queue)
            message_id = await queue.send(request.model_dump_json())
        print(f"sent       cancel for {job_id} on {settings.jobs_queue} (message {message_id})")
        return 0
    # webhook_grace=None: a job.cancelled said from here reaches its webhooks before we exit.
    async with open_runtime(settings, with_queue=False, gpu=False, webhook_grace=None) as runtime:
        answer = await runtime.dispatcher.cancel(request)
    print(answer_line(job_id, answer))
    return EXIT_FAILED if answer.outcome == "finished" and answer.status != "CANCELLED" else 0


def answer_line(job_id: str, answer: CancelAnswer) -> str:
    if answer.outcome == "cancelled":
        was = "waiting to retry" if answer.status == "RETRYING" else "not started"
        return f"cancelled  {job_id} ({was}: it will not run)"
    if answer.outcome == "requested":
        return (
            f"cancelling {job_id} (running: its worker stops it at its next lease renewal "
            f"or progress report, and announces job.cancelled)"
        )
    if answer.status == "CANCELLED":
        return f"cancelled  {job_id} (already)"
    return f"unchanged  {job_id} had already {str(answer.status).lower()}: it stays so"
