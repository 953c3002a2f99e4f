"""SIGTERM to a real worker mid-encode (a deploy, a scale-in): it exits 0 within its drain
budget, hands the job and its message back at once, and the other worker finishes the job
with one completion."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, WorkerProcess, wait_for

from .conftest import ChaosStack, EventLog, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

DRAIN_SECONDS = 1.0  # shorter than the encode: the job cannot finish within it
STOP_TIMEOUT = DRAIN_SECONDS + 10  # ECS's stopTimeout after SIGTERM, then SIGKILL


def test_sigterm_mid_encode_hands_the_job_to_the_other_worker(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, drain_seconds=DRAIN_SECONDS)
    events = EventLog(stack)
    with Fleet(stack.settings, tmp_path, emulator.endpoint_url) as fleet:
        for name in ("a", "b"):
            fleet.start(name)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}clip.mp4")
        victim: WorkerProcess = wait_for(fleet.encoding, 120, "an encode to start")

        code, took = victim.terminate(timeout=STOP_TIMEOUT)
        stopped = time.monotonic()
        assert code == 0
        assert fleet.ffmpeg_under(victim) == []
        assert list(victim.work_dir.glob("ffapi-*")) == []
        handed_back = {line["event"] for line in victim.log()}
        assert {"job.released", "message.released"} <= handed_back

        [completed] = events.wait_terminal(1, 120)
        finished = time.monotonic() - stopped
        wait_for(lambda: queue_empty(stack), 60, "the message to be deleted")
        assert fleet.stop() == [0]
        events.poll()

    job_id = completed["subject"]
    assert completed["data"]["attempt"] == 2
    assert len(events.of_type("completed")) == 1
    assert events.of_type("failed") == []
    assert [e["data"]["attempt"] for e in events.of_type("started")] == [1, 2]
    assert fleet.transcodes(job_id) == 2
    assert_outputs_complete(stack, job_id, 8)
    figure(
        f"exit 0 in {took:.1f}s (budget {DRAIN_SECONDS:g}s), job completed by the other "
        f"worker {finished:.1f}s later as attempt 2, 1 completed event, 0 orphan ffmpeg"
    )
