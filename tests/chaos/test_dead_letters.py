"""A job whose worker is killed (-9) on every delivery: no worker lives to say the job failed,
and the redrive policy moves its message to the DLQ. The dead-letter sweep of the next
worker (core/jobs/dlq_sweep.py) says it: exactly one ``job.failed`` (``max_attempts``, cause
``worker_lost``), and the message stays in the DLQ for ``ffapi dlq redrive``. Every delivery
runs an attempt (maxReceiveCount of them): none is spent finding a dead worker's lease.

With ``FFAPI_DLQ_SWEEP_SECONDS=0`` (no sweep) the job ends in the DLQ with no ``job.failed``
at all, as it did before the sweep: this test then fails waiting for the event."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, WorkerProcess, wait_for
from tests.integration.conftest import job_record

from .conftest import ChaosStack, EventLog

pytestmark = pytest.mark.chaos

MAX_RECEIVE_COUNT = 2
SWEEP_SECONDS = float(os.environ.get("FFAPI_CHAOS_DLQ_SWEEP_SECONDS", "2"))  # 0: no sweep


def test_a_job_killed_on_every_delivery_is_failed_once_from_the_dlq(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    small_clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, max_receive_count=MAX_RECEIVE_COUNT)
    events, dlq = EventLog(stack), stack.resources.dlq_url
    began = time.monotonic()
    with Fleet(stack.settings, tmp_path, emulator.endpoint_url) as fleet:
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(small_clip), settings.input_bucket, f"{settings.watch_prefix}k.mp4")
        kills = 0
        while True:  # each worker stops dead at its first download, and is killed there
            marker = tmp_path / f"held-{kills}"
            worker = fleet.start("w", hold="download", marker=marker,
                                 dlq_sweep_seconds=SWEEP_SECONDS)  # fmt: skip
            if not _held_or_dead_lettered(fleet, worker, marker, stack, dlq):
                break  # the message is in the DLQ: this worker lives on, and sweeps
            worker.kill()
            kills += 1
        [failed] = events.wait_terminal(1, 90)
        # Several more passes of the sweep find the same letter: nothing more is said.
        time.sleep(4 * SWEEP_SECONDS)
        events.poll()
        assert stack.queue_depth(stack.resources.queue_url) == 0
        assert stack.queue_depth(dlq) == 1  # the letter stays, for `ffapi dlq redrive`
        assert fleet.stop() == [0]
        [said] = [line for line in fleet.logged("job.failed") if line.get("via") == "dlq_sweep"]

    job_id = failed["subject"]
    assert said["job_id"] == job_id  # said by the sweep: no worker lived to say it
    error = failed["data"]["error"]
    assert error["code"] == "max_attempts"
    assert error["details"]["cause"]["code"] == "worker_lost"
    assert len(events.of_type("failed")) == 1
    assert events.of_type("completed") == []
    attempts = [e["data"]["attempt"] for e in events.of_type("started", job_id)]
    # Each delivery ran an attempt: one that found the killed worker's lease still held
    # waited it out (core/jobs/lease_wait.py) instead of spending a receive on a BUSY return.
    assert attempts == list(range(1, MAX_RECEIVE_COUNT + 1))
    assert kills == MAX_RECEIVE_COUNT
    record = job_record(stack, job_id)
    assert record["status"]["S"] == "FAILED"
    assert record["retryable"]["BOOL"] is True  # a redrive claims it again
    assert record["announced"]["BOOL"] is True
    figure(
        f"{kills} kills (maxReceiveCount {MAX_RECEIVE_COUNT}), attempts {attempts}, "
        f"1 failed event ({error['code']}, cause {error['details']['cause']['code']}) from "
        f"the sweep, 1 message in the DLQ, {time.monotonic() - began:.0f}s"
    )


def _held_or_dead_lettered(
    fleet: Fleet, worker: WorkerProcess, marker: Path, stack: ChaosStack, dlq: str
) -> bool:
    """Wait for ``worker`` to hold the job at its download (True), or for the message to
    reach the DLQ instead (False)."""

    def settled() -> str | None:
        if fleet.holder(marker) is worker:
            return "held"
        return "dead-lettered" if stack.queue_depth(dlq) == 1 else None

    return bool(wait_for(settled, 120, "a held download or a dead letter", every=0.2) == "held")
