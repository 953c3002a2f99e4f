"""A poison message: every attempt fails transiently (its encode hangs and the watchdog kills
it). The queue's redrive count bounds it: exactly that many attempts, one job.failed saying
so, and the message in the dead-letter queue, not lost and not looping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, wait_for

from .conftest import ChaosStack, EventLog

pytestmark = pytest.mark.chaos

MAX_RECEIVE_COUNT = 3


def test_a_poison_message_ends_in_the_dlq_after_max_receive_count_attempts(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    small_clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path, max_receive_count=MAX_RECEIVE_COUNT, stall_seconds=1)
    events = EventLog(stack)
    with Fleet(stack.settings, tmp_path, emulator.endpoint_url, stall_encodes=True) as fleet:
        for name in ("a", "b"):
            fleet.start(name)
        s3, settings = stack.client("s3"), stack.settings
        s3.upload_file(str(small_clip), settings.input_bucket, f"{settings.watch_prefix}p.mp4")

        [failed] = events.wait_terminal(1, 180)
        dlq = stack.resources.dlq_url
        wait_for(lambda: stack.queue_depth(dlq) == 1, 60, "the message in the DLQ", every=0.5)
        assert stack.queue_depth(stack.resources.queue_url) == 0
        assert fleet.stop() == [0, 0]
        events.poll()

    job_id = failed["subject"]
    error = failed["data"]["error"]
    assert error["code"] == "max_attempts"
    assert error["details"]["cause"]["code"] == "stalled"
    assert len(events.of_type("failed")) == 1
    assert events.of_type("completed") == []
    started = [e["data"]["attempt"] for e in events.of_type("started", job_id)]
    assert started == list(range(1, MAX_RECEIVE_COUNT + 1))
    assert fleet.transcodes(job_id) == MAX_RECEIVE_COUNT
    assert fleet.job_dirs() == []
    figure(
        f"{len(started)} attempts (maxReceiveCount {MAX_RECEIVE_COUNT}), "
        f"{fleet.transcodes(job_id)} encodes started and stopped by the watchdog, "
        f"1 failed event ({error['code']}, cause {error['details']['cause']['code']}), "
        f"{stack.queue_depth(dlq)} message in the DLQ"
    )
