"""At-least-once delivery, seen by real worker processes: the same S3 event five times, and
the two ObjectCreated events moto (like S3 at times) raises for one multipart upload. Each
ends in one transcode and one completion; every copy of the message is acknowledged."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from infra.emulator import EmbeddedEmulator
from tests.harness.fleet import Fleet, wait_for

from .conftest import ChaosStack, EventLog, queue_empty
from .verify import assert_outputs_complete

pytestmark = pytest.mark.chaos

COPIES = 5
PART = 5 * 1024**2  # S3's smallest part


def test_one_s3_event_delivered_five_times_is_one_transcode(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    small_clip: Path,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path)
    events = EventLog(stack)
    s3, sqs, settings = stack.client("s3"), stack.client("sqs"), stack.settings
    queue = stack.resources.queue_url
    s3.upload_file(str(small_clip), settings.input_bucket, f"{settings.watch_prefix}dup.mp4")
    original = upload_event(sqs, queue)
    for _ in range(COPIES - 1):  # what a redelivering queue or a replaying router does
        sqs.send_message(QueueUrl=queue, MessageBody=original["Body"])
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=original["ReceiptHandle"],
                                  VisibilityTimeout=0)  # fmt: skip

    with Fleet(settings, tmp_path, emulator.endpoint_url) as fleet:
        for name in ("a", "b"):  # four slots: copies are taken side by side
            fleet.start(name, worker_concurrency=2)
        [completed] = events.wait_terminal(1, 120)
        wait_for(lambda: queue_empty(stack), 120, "every copy acknowledged", every=0.5)
        assert fleet.stop() == [0, 0]
        events.poll()

    job_id = completed["subject"]
    carriers = fleet.messages_for(job_id)
    assert len(carriers) == COPIES
    assert carriers <= {e["message_id"] for e in fleet.logged("message.deleted")}
    assert fleet.transcodes(job_id) == 1
    for kind in ("received", "started", "completed"):
        assert len(events.of_type(kind)) == 1, kind
    assert_outputs_complete(stack, job_id, 2)
    figure(
        f"{COPIES} deliveries of one event, {len(fleet.logged('job.duplicate'))} acknowledged as "
        f"duplicates, 1 transcode, 1 completed event"
    )


def test_a_multipart_uploads_double_notification_is_one_transcode(
    make_stack: Callable[..., ChaosStack],
    emulator: EmbeddedEmulator,
    tmp_path: Path,
    figure: Callable[[str], None],
) -> None:
    stack = make_stack(tmp_path)
    events = EventLog(stack)
    big = noisy_clip(tmp_path / "big.mp4")
    assert big.stat().st_size > 2 * PART  # three parts
    with Fleet(stack.settings, tmp_path, emulator.endpoint_url) as fleet:
        workers = [fleet.start(name, worker_concurrency=2) for name in ("a", "b")]
        wait_for(lambda: all(w.log() for w in workers), 60, "the workers to start")
        s3, settings = stack.client("s3"), stack.settings
        transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
        s3.upload_file(str(big), settings.input_bucket, f"{settings.watch_prefix}big.mp4",
                       Config=transfer)  # fmt: skip
        [completed] = events.wait_terminal(1, 120)
        wait_for(lambda: queue_empty(stack), 120, "both notifications acknowledged", every=0.5)
        assert fleet.stop() == [0, 0]
        events.poll()

    job_id = completed["subject"]
    notifications = fleet.messages_for(job_id)
    assert len(notifications) == 2  # the double notification did happen
    assert notifications <= {e["message_id"] for e in fleet.logged("message.deleted")}
    assert fleet.transcodes(job_id) == 1
    for kind in ("received", "started", "completed"):
        assert len(events.of_type(kind)) == 1, kind
    assert_outputs_complete(stack, job_id, 4)
    figure(f"{len(notifications)} notifications of one multipart upload, 1 transcode, "
           "1 completed event")  # fmt: skip


def upload_event(sqs: Any, queue: str) -> dict[str, Any]:
    """The upload's notification (S3's test event, sent when notifications were set up,
    goes first)."""
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", []):
            if "ObjectCreated" in message["Body"]:
                return dict(message)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the upload was not announced")


def noisy_clip(dest: Path) -> Path:
    """4 s of lossless noise: about 11 MB, so a multipart upload of three parts."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4,noise=alls=60:allf=t",
         "-f", "lavfi", "-i", "sine=duration=4",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest
