"""A job that runs for several visibility timeouts, with a second worker polling the same
queue: the heartbeat keeps its message hidden, so it is received once, not again by the
other worker (which would find the job leased and have to put it back)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from infra.emulator import EmbeddedEmulator
from infra.ffmpeg import make_sample_clip
from tests.harness.fleet import Fleet, wait_for

from .conftest import ChaosStack, EventLog, queue_empty

pytestmark = pytest.mark.chaos

STALL_SECONDS = 30


def test_a_job_longer_than_the_visibility_timeout_is_received_once(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    # 90 s of video: a 40 s job here (4x the visibility timeout), so faster hosts still prove it.
    clip = asyncio.run(make_sample_clip(tmp_path / "long.mp4", seconds=90))
    # A stall time under the job's length: only the job's own life keeps its message hidden
    # so long. Not shorter: it also bounds ffmpeg's silences, and ffmpeg 5.1 reports no
    # encoded time until every output has started, the poster's 9 s into this clip: 6 s of
    # silence here idle, 17 s on a busy 2-core host. At 5 s every attempt was killed as
    # stalled and the job ended in max_attempts; at 15 s, some were.
    stack = make_stack(tmp_path / "work", preset="web-hls", stall_seconds=STALL_SECONDS)
    events = EventLog(stack)
    with Fleet(stack.settings, tmp_path / "work", emulator.endpoint_url) as fleet:
        for name in ("a", "b"):
            fleet.start(name)
        s3, settings = stack.client("s3"), stack.settings
        one_part = TransferConfig(multipart_threshold=1024**3)  # one event, not two
        s3.upload_file(str(clip), settings.input_bucket, f"{settings.watch_prefix}long.mp4",
                       Config=one_part)  # fmt: skip
        # The first final event: a failed one has no timings (it ended this way under load).
        [final] = events.wait_terminal(1, 300)
        assert final["type"] == "ffapi.job.completed", (final["data"]["error"], _trail(fleet))
        wait_for(lambda: queue_empty(stack), 60, "the message to be deleted")
        assert fleet.stop() == [0, 0]
        events.poll()

    job_id = final["subject"]
    took = sum(final["data"]["timings"].values())
    visibility = settings.visibility_timeout
    assert took > 2 * visibility  # else this case proves nothing
    [carrier] = fleet.messages_for(job_id)
    receipts = [e for e in fleet.logged("message.received") if e["message_id"] == carrier]
    assert [e["receive_count"] for e in receipts] == [1], _trail(fleet)
    assert fleet.logged("job.busy") == []
    assert fleet.logged("heartbeat.withheld") == []  # beaten by ffmpeg and the transfers
    assert len(events.of_type("started")) == 1
    assert len(events.of_type("completed")) == 1
    figure(
        f"a {took:.0f}s job ({took / visibility:.1f}x the {visibility}s visibility timeout), "
        f"2 workers polling: received {len(receipts)} time, 1 started and 1 completed event"
    )


def _trail(fleet: Fleet) -> list[tuple[str, ...]]:
    """What the workers logged that could explain a second delivery, in order."""
    kinds = ("message.received", "job.failed", "heartbeat.withheld", "heartbeat.failed",
             "lease.withheld", "lease.renew_failed", "message.returned", "job.busy")  # fmt: skip
    lines = [line for kind in kinds for line in fleet.logged(kind)]
    return [
        tuple(str(line.get(k)) for k in ("timestamp", "event", "code", "reason", "quiet_for"))
        for line in sorted(lines, key=lambda line: str(line.get("timestamp")))
    ]
