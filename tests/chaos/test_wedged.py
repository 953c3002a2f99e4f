"""A worker alive but stuck mid-job (a hung call nothing times out, a deadlock, a host that
paused it): its job goes quiet, the heartbeat lets the message and the lease lapse after the
stall time, and the other worker takes the job over while the stuck one still runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, WorkerProcess, wait_for
from tests.integration.conftest import job_record

from .conftest import ChaosStack, EventLog, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

STALL_SECONDS = 3


def test_a_wedged_worker_loses_its_job_to_a_live_one(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, stall_seconds=STALL_SECONDS, drain_seconds=1)
    events = EventLog(stack)
    with Fleet(stack.settings, tmp_path, emulator.endpoint_url) as fleet:
        marker = tmp_path / "held"
        for name in ("a", "b"):  # the first to download stops there, alive
            fleet.start(name, hold="download", marker=marker)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")
        wedged: WorkerProcess = wait_for(lambda: fleet.holder(marker), 60, "a worker stuck")
        stuck = time.monotonic()

        [completed] = events.wait_terminal(1, 120)
        taken_over = time.monotonic() - stuck
        wait_for(lambda: queue_empty(stack), 60, "the message to be deleted")
        assert wedged.alive()  # still stuck: the job did not wait for it
        withheld = {line["event"] for line in wedged.log()}
        assert {"heartbeat.withheld", "lease.withheld"} <= withheld

        # Stopped at last, it cancels its attempt and hands back what it no longer owns:
        # the other worker's completion stands.
        code, _ = wedged.terminate(timeout=30)
        assert code == 0
        assert fleet.stop() == [0]
        events.poll()

    job_id = completed["subject"]
    assert completed["data"]["attempt"] == 2
    assert len(events.of_type("completed")) == 1
    assert events.of_type("failed") == []
    assert fleet.transcodes(job_id) == 1
    assert job_record(stack, job_id)["status"]["S"] == "COMPLETED"
    assert_outputs_complete(stack, job_id, 8)
    assert other(fleet, wedged).log()  # it did the work
    figure(
        f"stuck before its download, stall time {STALL_SECONDS}s, visibility "
        f"{settings.visibility_timeout}s: the other worker completed the job "
        f"{taken_over:.0f}s later as attempt 2, 1 completion event; the stuck worker exited 0"
    )


def other(fleet: Fleet, worker: WorkerProcess) -> WorkerProcess:
    return next(w for w in fleet.workers if w is not worker)
