"""``ffapi events replay JOB_ID``: send a finished job's final event again.

To the topic and to the job's webhooks, under the event's original id: a receiver that has
it already drops the repeat by that id, and one that missed it (an endpoint down past the
webhook deadline, a consumer's queue purged) gets it now.
"""

from __future__ import annotations

from handlers.cli_errors import EXIT_FAILED, CommandError
from handlers.runtime import open_runtime
from infra.settings import Settings


async def run_replay(settings: Settings, job_id: str) -> int:
    # webhook_grace=None: this command exists to deliver; it waits for its webhooks.
    async with open_runtime(settings, with_queue=False, gpu=False, webhook_grace=None) as runtime:
        record = await runtime.jobs.get(job_id)
        if record is None:
            raise CommandError(f"no job {job_id}", "list jobs with `ffapi jobs`", EXIT_FAILED)
        if not record.finished:
            raise CommandError(
                f"job {job_id} is {record.status}: only a finished job has a final event",
                f"see where it is: ffapi status {job_id}",
                EXIT_FAILED,
            )
        event = await runtime.dispatcher.replay(job_id)
    if event is None:
        raise CommandError(f"job {job_id} has no final event to send", exit_code=EXIT_FAILED)
    print(f"re-sent    {event.type.value}  id {event.id}  job {job_id}")
    return 0
