"""A job-store write applied, and its answer lost on the way back to a real worker process:
the proxy lets the UpdateItem reach the emulator, then resets the worker's connection. The
worker's SDK sends the write again, and the copy is refused by the first.

- claim: read as busy, the worker put its own job back; it ran a lease later, as attempt 2.
- complete: read as a takeover (SUPERSEDED), no event went out; the message came back a
  lease later and its next delivery announced the job.

Either way the job must finish on its first delivery, as one attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, wait_for
from tests.harness.outage import OutageProxy

from .conftest import ChaosStack, EventLog, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

UPDATE = b"DynamoDB_20120810.UpdateItem"
WRITES = {"claim": b"attribute_not_exists(job_id)", "complete": b"announced = :no"}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_whose_answer_was_lost_costs_no_attempt(
    write: str,
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    small_clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path)
    events = EventLog(stack)
    settings = stack.settings
    with OutageProxy(emulator.endpoint_url) as proxy, \
            Fleet(settings, tmp_path, proxy.url) as fleet:  # fmt: skip
        fleet.start("a")
        wait_for(lambda: fleet.logged("worker.started"), 60, "the worker")
        proxy.lose_answer(UPDATE, WRITES[write])
        stack.client("s3").upload_file(
            str(small_clip), settings.input_bucket, f"{settings.watch_prefix}lost.mp4"
        )
        [final] = events.wait_terminal(1, 120)
        wait_for(lambda: queue_empty(stack), 60, "the message to be deleted")
        assert fleet.stop() == [0]
        events.poll()

    job_id = final["subject"]
    assert proxy.lost_answers == 1  # the write did go through and its answer was lost
    assert final["type"] == "ffapi.job.completed"
    for kind in ("received", "started", "completed"):
        assert len(events.of_type(kind, job_id)) == 1, kind
    assert final["data"]["attempt"] == 1
    # Every message once (S3's test event is one too): the job's was never delivered again.
    assert {e["receive_count"] for e in fleet.logged("message.received")} == {1}
    assert (fleet.logged("job.busy"), fleet.logged("lease.lost")) == ([], [])
    assert fleet.transcodes(job_id) == 1
    record = stack.client("dynamodb").get_item(
        TableName=settings.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    assert (record["status"]["S"], record["attempts"]["N"]) == ("COMPLETED", "1")
    assert_outputs_complete(stack, job_id, 2)
    figure(f"{write}'s answer lost once: completed on the first delivery, attempt 1, "
           "1 transcode")  # fmt: skip
