"""Writes that applied and whose answer was lost: a proxy between our clients (built as the
worker builds them: botocore's standard retries) and moto lets the request through, then
resets the connection instead of passing the answer on. botocore sends the request again.

A resent conditional write is refused by our own first copy; the job store must know the
write as its own (its write token on the item). A resent Publish is a second copy of the
event: at-least-once, fine as long as both copies carry the same id for subscribers to
de-duplicate on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from core.events.cloudevent import EventType
from core.events.contract import job_event
from core.jobs.job_record import RecordedError
from core.jobs.results import JobResult, SourceInfo
from core.models import JobRequest, OutputLocation, S3ObjectRef
from infra.aws import open_clients
from infra.emulator import EmbeddedEmulator
from infra.jobstore import DynamoJobStore
from infra.notify import SnsPublisher
from tests.harness.outage import OutageProxy

from .conftest import REGION, Stack, drain_events, subscribe_queue

pytestmark = pytest.mark.integration

UPDATE = b"DynamoDB_20120810.UpdateItem"  # the X-Amz-Target of UpdateItem
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="mp4-720p")

Write = Callable[[DynamoJobStore], Coroutine[Any, Any, Any]]


@pytest.fixture
def proxy(emulator: EmbeddedEmulator) -> Iterator[OutageProxy]:
    with OutageProxy(emulator.endpoint_url) as proxy:
        yield proxy


def through(
    proxy: OutageProxy,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    *steps: Write,
    clock: Callable[[], float] = time.time,
) -> list[Any]:
    """Run ``steps`` in order on a job store whose clients reach moto through the proxy."""

    async def run() -> list[Any]:
        async with open_clients(stack.settings) as clients:
            store = DynamoJobStore(clients.dynamodb, stack.settings.jobs_table, clock)
            return [await step(store) for step in steps]

    with monkeypatch.context() as env:  # only the clients opened here go through the proxy
        env.setenv("AWS_ENDPOINT_URL", proxy.url)
        return asyncio.run(run())


def record(emulator: EmbeddedEmulator, stack: Stack, job_id: str) -> dict[str, Any]:
    """The job's record, read past the proxy."""
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator.endpoint_url)
    item = ddb.get_item(
        TableName=stack.settings.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def claim(job_id: str, carrier: str = "message-1") -> Write:
    return lambda store: store.claim(job_id, REQUEST, 60, carrier)


def result(job_id: str, attempt: int) -> JobResult:
    return JobResult(
        job_id=job_id,
        input=REQUEST.input,
        preset="mp4-720p",
        output=OutputLocation(bucket="out-bucket", prefix="outputs"),
        source=SourceInfo(format="mov", duration=1.0, size=1),
        outputs=[],
        encoder="libx264",
        attempt=attempt,
        started_at=NOW,
        completed_at=NOW,
    )


def lose(proxy: OutageProxy, *markers: bytes) -> Write:
    async def arm(store: DynamoJobStore) -> None:
        proxy.lose_answer(UPDATE, *markers)

    return arm


def test_a_claim_whose_answer_was_lost_is_claimed_once(
    proxy: OutageProxy,
    stack: Stack,
    emulator: EmbeddedEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read as busy, the worker would put its own job back and nobody would run it until the
    lease lapsed."""
    proxy.lose_answer(UPDATE, b"attribute_not_exists(job_id)")
    [claimed] = through(proxy, stack, monkeypatch, claim("j-lost-claim"))

    assert proxy.lost_answers == 1
    assert (claimed.outcome, claimed.attempt) == ("claimed", 1)
    rec = record(emulator, stack, "j-lost-claim")
    assert (rec["status"], rec["attempts"], rec["carrier"]) == ("RUNNING", "1", "message-1")


def test_a_lost_claim_answer_leaves_the_job_busy_for_another_message(
    proxy: OutageProxy,
    stack: Stack,
    emulator: EmbeddedEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token does not make a claim more claimable: another delivery is still refused."""
    proxy.lose_answer(UPDATE, b"attribute_not_exists(job_id)")
    first, second = through(proxy, stack, monkeypatch, claim("j-lost-2"), claim("j-lost-2", "m2"))

    assert (first.outcome, second.outcome, second.carrier) == ("claimed", "busy", "message-1")
    assert record(emulator, stack, "j-lost-2")["attempts"] == "1"


ERROR = RecordedError(code="transcode_failed", message="x", retryable=True)
# Each fenced write of attempt 1, a piece of its request, and the status it leaves.
FENCED: dict[str, tuple[Write, bytes, str]] = {
    "complete": (lambda s: s.complete("j-w", result("j-w", 1)), b"announced = :no", "COMPLETED"),
    "fail": (
        lambda s: s.fail("j-w", ERROR, final=True, attempt=1),
        b"retryable = :retryable",
        "FAILED",
    ),
    "retrying": (
        lambda s: s.fail("j-w", ERROR, final=False, attempt=1),
        b"retryable = :retryable",
        "RETRYING",
    ),
    "release": (lambda s: s.release("j-w", 1), b"#s = :retrying, updated_at", "RETRYING"),
    # A renewal's resent copy finds its own condition still true and applies again: True
    # with or without the token (shown here, not assumed).
    "renew": (
        lambda s: s.renew("j-w", 60, 1),
        b'lease_until = :lease, updated_at = :ts"',
        "RUNNING",
    ),
}


@pytest.mark.parametrize("write", FENCED)
def test_a_fenced_write_whose_answer_was_lost_stands(
    write: str,
    proxy: OutageProxy,
    stack: Stack,
    emulator: EmbeddedEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read as refused, a completion would be taken for a takeover (SUPERSEDED: no event,
    the message back on the queue), a renewal for a lost lease."""
    call, marker, status = FENCED[write]
    claimed, _, written = through(
        proxy, stack, monkeypatch, claim("j-w"), lose(proxy, marker), call
    )

    assert proxy.lost_answers == 1
    assert claimed.attempt == 1
    assert written is True
    rec = record(emulator, stack, "j-w")
    assert (rec["status"], rec["attempts"]) == (status, "1")


def test_a_failure_before_any_claim_whose_answer_was_lost_stands(
    proxy: OutageProxy,
    stack: Stack,
    emulator: EmbeddedEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The input is gone: FAILED before any claim. Read as refused, the dispatcher would
    take the job for a finished duplicate and never announce its failure."""
    proxy.lose_answer(UPDATE, b"retryable = :retryable")
    error = RecordedError(code="input_not_found", message="x", retryable=False)
    [failed] = through(
        proxy, stack, monkeypatch, lambda s: s.fail("j-gone", error, final=True, attempt=None)
    )

    assert (proxy.lost_answers, failed) == (1, True)
    rec = record(emulator, stack, "j-gone")
    assert (rec["status"], rec["announced"]) == ("FAILED", False)


def test_a_fenced_write_after_a_takeover_is_still_refused(
    proxy: OutageProxy,
    stack: Stack,
    emulator: EmbeddedEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone else's write refused ours: the token changes nothing (SUPERSEDED, as before)."""
    now = [1_000.0]

    async def takeover(store: DynamoJobStore) -> tuple[bool, bool]:
        await store.claim("j-t", REQUEST, 10, "message-1")  # attempt 1, lease until 1010
        now[0] = 1_011.0
        await store.claim("j-t", REQUEST, 10, "message-2")  # attempt 2 takes it over
        return await store.complete("j-t", result("j-t", 1)), await store.renew("j-t", 10, 1)

    [(completed, renewed)] = through(proxy, stack, monkeypatch, takeover, clock=lambda: now[0])
    assert (completed, renewed) == (False, False)
    rec = record(emulator, stack, "j-t")
    assert (rec["status"], rec["attempts"], rec["carrier"]) == ("RUNNING", "2", "message-2")


def test_a_resent_publish_is_a_second_copy_of_the_same_event(
    proxy: OutageProxy, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber = subscribe_queue(stack)
    data = {
        "input": None,
        "attempt": 1,
        "correlation_id": "m-1",
        "status": "FAILED",
        "error": {"code": "invalid_request", "message": "x", "retryable": False},
    }
    event = job_event(EventType.FAILED, "m-lost-publish", NOW, data, 1)

    async def publish(store: DynamoJobStore) -> None:
        async with open_clients(stack.settings) as clients:
            await SnsPublisher(clients.sns, stack.resources.topic_arn).publish(event)

    proxy.lose_answer(b"Action=Publish")
    through(proxy, stack, monkeypatch, publish)

    assert proxy.lost_answers == 1
    copies = drain_events(stack, subscriber)
    assert len(copies) == 2
    assert {c["id"] for c in copies} == {event.id}
    assert copies[0] == copies[1]
