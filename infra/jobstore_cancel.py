"""Cancelling a job in DynamoDB: the writes ``DynamoJobStore.cancel`` and ``record_cancelled``
send, and how a refusal reads. Beside ``infra.jobstore``, which sends them (with its write
token); the memory store shares the names and reasons.

``cancel`` reads the record, then makes one conditional write for the state it is in (a
refusal returns the item as it had become, which says the write to try next). Queued (no
status) or RETRYING: a tombstone, CANCELLED and unannounced, that the job's next delivery
finds finished. RUNNING: the flag ``cancel_requested``, conditional on the attempt seen; the
attempt's own fenced renewals and progress writes carry
``attribute_not_exists(cancel_requested)``, so the worker learns of it on its next one, with
no read of its own (:func:`raise_if_cancelled`). Finished: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import JobCancelled
from core.jobs.job_record import RecordedError
from core.jobs.results import TERMINAL, JobStatus
from core.ports import CancelAnswer

CANCEL_FLAG = "cancel_requested"
NOT_CANCELLED = f" AND attribute_not_exists({CANCEL_FLAG})"
BEFORE_START = "cancelled before it started"
WHILE_RUNNING = "cancelled while it ran"
CANCEL_TRIES = 4  # each refused try has seen the job change state; it ends within three


@dataclass(frozen=True, slots=True)
class CancelWrite:
    """One conditional UpdateItem, and what it did when it applied."""

    expression: str
    values: dict[str, Any]
    condition: str
    answer: CancelAnswer


def next_cancel(item: dict[str, Any] | None, expiry: dict[str, Any]) -> CancelWrite | CancelAnswer:
    """The write that cancels a job whose item is ``item`` (None: no record), or the answer
    when there is nothing to write."""
    status = item.get("status") if item else None
    attempts = int(item.get("attempts", 0)) if item else 0
    if status in TERMINAL:
        return CancelAnswer("finished", status, attempts)
    if status == JobStatus.RUNNING:
        values = {
            ":yes": {"BOOL": True}, ":running": {"S": JobStatus.RUNNING},
            ":attempt": {"N": str(attempts)},
        }  # fmt: skip
        return CancelWrite(
            f"SET {CANCEL_FLAG} = :yes, updated_at = :ts", values,
            "#s = :running AND attempts = :attempt", CancelAnswer("requested", status, attempts),
        )  # fmt: skip
    expression, values = cancelled(BEFORE_START, expiry)
    expression = expression.replace(
        " REMOVE", ", created_at = if_not_exists(created_at, :ts),"
        " attempts = if_not_exists(attempts, :zero) REMOVE",
    )  # fmt: skip
    values |= {
        ":zero": {"N": "0"}, ":retrying": {"S": JobStatus.RETRYING},
        ":scheduled": {"S": JobStatus.SCHEDULED}, ":waiting": {"S": JobStatus.WAITING},
        ":split": {"S": JobStatus.SPLIT},  # its chunks run: core.jobs.chunks cancels them
    }  # fmt: skip
    return CancelWrite(  # a job not started: as memory_jobs's cancel, whatever it waits for
        expression, values,
        "attribute_not_exists(#s) OR #s IN (:retrying, :scheduled, :waiting, :split)",
        CancelAnswer("cancelled", status, attempts),
    )  # fmt: skip


def cancelled(reason: str, expiry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The update that makes a record CANCELLED (unannounced; kept as a finished record is),
    and its values. ``expiry``: ``:expires``, when the record is deleted, or nothing."""
    error = RecordedError.of(JobCancelled(reason)).model_dump_json(exclude_none=True)
    values = {
        ":cancelled": {"S": JobStatus.CANCELLED}, ":err": {"S": error}, ":no": {"BOOL": False},
        **expiry,
    }  # fmt: skip
    expires = ", expires_at = :expires" if expiry else ""
    expression = (
        "SET #s = :cancelled, #e = :err, retryable = :no, announced = :no,"
        f" updated_at = :ts{expires} REMOVE lease_until, {CANCEL_FLAG}"
    )
    return expression, values


def raise_if_cancelled(item: dict[str, Any], attempt: int) -> None:
    """A fenced write refused: JobCancelled when the attempt still holds the job and only
    the cancel flag stood in the way (any other refusal is a takeover: False)."""
    holds = item.get("status") == JobStatus.RUNNING and item.get("attempts") == attempt
    if holds and item.get(CANCEL_FLAG):
        raise JobCancelled("a cancel was requested")
