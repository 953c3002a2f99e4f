"""DynamoJobStore when a write applied and its answer was lost: botocore sends it again, and
the copy's condition fails against our own write. A fake DynamoDB client plays that: the
first copy applies (the item takes the write's token and the state it leaves), then the
resent copy is refused with the item, as ``ReturnValuesOnConditionCheckFailure`` returns it.
(tests/integration/test_lost_answers.py loses real answers between botocore and moto.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from core.events.progress import ProgressUpdate
from core.jobs.job_record import RecordedError
from core.jobs.results import JobResult, JobStatus, SourceInfo
from core.models import JobRequest, OutputLocation, S3ObjectRef
from infra.jobstore import DynamoJobStore
from tests.unit.fakes import NOW

NOW_S = 1_000.0
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="mp4-720p")
RUNNING = {
    "status": JobStatus.RUNNING,
    "attempts": 2,
    "lease_until": NOW_S + 60,
    "carrier": "message-1",
}


@dataclass
class ResendingTable:
    """One job's item. Every UpdateItem is a lost answer: the write applies (``leaves``: the
    state it leaves; its token is set) and the resent copy's condition fails. With
    ``ours=False`` someone else's write came first: refused, our write never applied."""

    item: dict[str, Any]
    leaves: dict[str, Any] = field(default_factory=dict)
    ours: bool = True
    returns_item: bool = True  # False: an emulator that omits the item from the refusal
    reads: list[dict[str, Any]] = field(default_factory=list)

    async def update_item(self, **call: Any) -> dict[str, Any]:
        token = call["ExpressionAttributeValues"].get(":token", {}).get("S")
        self.item |= {**self.leaves, "last_write": token if self.ours else "another-write"}
        refusal: dict[str, Any] = {"Error": {"Code": "ConditionalCheckFailedException"}}
        if self.returns_item and call.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
            refusal["Item"] = _typed(self.item)
        raise ClientError(refusal, "UpdateItem")

    async def get_item(self, **call: Any) -> dict[str, Any]:
        self.reads.append(call)
        return {"Item": _typed(self.item)}


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    def one(value: Any) -> dict[str, Any]:
        if isinstance(value, bool):
            return {"BOOL": value}
        if isinstance(value, int | float):
            return {"N": str(value)}
        return {"S": str(value)}

    return {"job_id": {"S": "j-1"}} | {k: one(v) for k, v in item.items()}


def store(table: ResendingTable) -> DynamoJobStore:
    return DynamoJobStore(table, "jobs", clock=lambda: NOW_S)


def result(attempt: int) -> JobResult:
    return JobResult(
        job_id="j-1",
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


ERROR = RecordedError(code="transcode_failed", message="x", retryable=True)
# Each fenced write by the holder of attempt 2, and the state its first copy leaves. Renew
# and progress leave their own condition true, so on DynamoDB their resent copy applies again
# (the integration test shows it); they are here because they carry the token all the same.
FENCED: dict[str, tuple[Callable[[DynamoJobStore], Coroutine[Any, Any, bool]], dict[str, Any]]] = {
    "complete": (lambda s: s.complete("j-1", result(2)), {"status": JobStatus.COMPLETED}),
    "fail": (lambda s: s.fail("j-1", ERROR, final=True, attempt=2), {"status": JobStatus.FAILED}),
    "retrying": (
        lambda s: s.fail("j-1", ERROR, final=False, attempt=2),
        {"status": JobStatus.RETRYING},
    ),
    "release": (lambda s: s.release("j-1", 2), {"status": JobStatus.RETRYING}),
    "renew": (lambda s: s.renew("j-1", 60, 2), {"lease_until": NOW_S + 60}),
    "progress": (lambda s: s.progress("j-1", ProgressUpdate(phase="encode", percent=50), 2), {}),
    "fail before a claim": (
        lambda s: s.fail("j-1", ERROR, final=True, attempt=None),
        {"status": JobStatus.FAILED},
    ),
    # The dead-letter sweep's: a lost answer must not read as another sweeper's win (the
    # failure would then go unannounced until the next pass).
    "give up": (
        lambda s: s.give_up("j-1", REQUEST, ERROR, "message-1"),
        {"status": JobStatus.FAILED},
    ),
}


def test_a_claim_whose_answer_was_lost_is_ours_with_the_attempt_it_made() -> None:
    table = ResendingTable(
        item={"status": JobStatus.RETRYING, "attempts": 2}, leaves={**RUNNING, "attempts": 3}
    )
    claim = asyncio.run(store(table).claim("j-1", REQUEST, 60, "message-1"))
    assert (claim.outcome, claim.attempt) == ("claimed", 3)


def test_a_claim_refused_by_another_claim_is_busy_for_the_rest_of_its_lease() -> None:
    table = ResendingTable(item=dict(RUNNING), ours=False)
    claim = asyncio.run(store(table).claim("j-1", REQUEST, 60, "message-2"))
    assert (claim.outcome, claim.lease_remaining, claim.carrier) == ("busy", 60.0, "message-1")


def test_a_claim_refused_by_a_finished_job_is_done() -> None:
    item = {"status": JobStatus.COMPLETED, "attempts": 2, "announced": False}
    claim = asyncio.run(store(ResendingTable(item=item, ours=False)).claim("j-1", REQUEST, 60, "m"))
    assert (claim.outcome, claim.status, claim.announced) == ("done", "COMPLETED", False)


@pytest.mark.parametrize("write", FENCED)
def test_a_fenced_write_whose_answer_was_lost_stands(write: str) -> None:
    call, leaves = FENCED[write]
    assert asyncio.run(call(store(ResendingTable(item=dict(RUNNING), leaves=leaves)))) is True


@pytest.mark.parametrize("write", FENCED)
def test_a_fenced_write_refused_by_another_write_is_refused(write: str) -> None:
    """The job was taken over (or finished) before our write: SUPERSEDED, as before."""
    call, _ = FENCED[write]
    taken = {**RUNNING, "attempts": 3, "carrier": "message-2"}
    assert asyncio.run(call(store(ResendingTable(item=taken, ours=False)))) is False


def test_without_the_item_in_the_refusal_the_record_is_read_consistently() -> None:
    table = ResendingTable(
        item=dict(RUNNING), leaves={"status": JobStatus.COMPLETED}, returns_item=False
    )
    assert asyncio.run(store(table).complete("j-1", result(2))) is True
    assert [r["ConsistentRead"] for r in table.reads] == [True]
