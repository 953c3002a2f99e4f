"""DynamoDB job records: the claim (idempotency with an expiring lease) and the outcome.

The claim is one conditional write. It succeeds when the job is new, was released after a
transient failure, failed retryably (a redrive from the DLQ), or holds an expired lease; a
completed or permanently failed job turns every later delivery into a no-op.

Every conditional write carries a write token of its own, set on the item (``last_write``).
botocore resends a write whose response was lost (a connection reset after DynamoDB applied
it), and the resent copy's condition then fails against our own write: a claim would read its
own lease as another's, a completion as a takeover. The item DynamoDB returns with the failed
condition tells the two apart: our token on it means the first copy applied, and the write
stands (an emulator that omits the item: it is read, consistently).

Every write after the claim (renew, progress, note_segments, complete, fail, release) is
fenced by the claim's attempt number (the segment ledger: ``infra.jobstore_segments``).
``release`` (a worker stopping mid-job) sets ``RETRYING`` and drops the lease. The webhook
outcomes (``record_delivery``, appended from background lanes) and ``announced`` carry no
token, so they never replace one between a write and its resent copy.
``cancel`` and ``record_cancelled``: ``infra.jobstore_cancel``; ``wait`` and
``add_dependent``: ``infra.jobstore_waits``. ``recent`` is a Scan. Records
go out as :class:`core.jobs.job_record.JobRecord` (``infra.jobstore_items`` reads the items).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from core.attempt.ledger import SegmentLedger
from core.errors import StorageUnavailable
from core.events.progress import ProgressUpdate
from core.jobs.batch_model import BATCH_KEY_PREFIX
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.results import TERMINAL, JobResult, JobStatus
from core.models import JobRequest
from core.ports import CancelAnswer, Claim
from infra import jobstore_cancel as cancels
from infra import jobstore_items as stored
from infra import jobstore_segments as segments
from infra import jobstore_waits as waits
from infra.aws import aws_errors, error_code
from infra.jobstore_chunks import DynamoJobChunks
from infra.jobstore_schedule import put_scheduled

_CLAIMABLE = (
    "attribute_not_exists(job_id) OR #s = :retrying OR (#s = :running AND lease_until <= :now)"
    " OR (#s = :failed AND retryable = :true) OR #s IN (:scheduled, :waiting)"
)
# The sweep of dead letters gives a job up only when no live delivery can still finish it (a
# WAITING one's letter was sent by its parents' ending: nothing else sends it again).
_ABANDONED = (
    "(attribute_not_exists(job_id) OR #s IN (:retrying, :waiting)"
    " OR (#s = :running AND lease_until <= :now))"
    " AND (attribute_not_exists(carrier) OR carrier = :carrier)"
)
LAST_WRITE = "last_write"  # the write token of the item's latest conditional write
_deserializer = TypeDeserializer()
log = structlog.get_logger("ffapi.jobstore")


class DynamoJobStore(DynamoJobChunks):  # split jobs: infra.jobstore_chunks
    def __init__(
        self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time,
        *, keep_days: int = 0,
    ) -> None:  # fmt: skip
        """``keep_days``: how long a finished job's record stays (the table's TTL deletes it
        once its ``expires_at`` has passed; a later delivery of the job then finds its
        ``job.json`` and adopts it); 0: for ever."""
        self._ddb = dynamodb
        self._table = table
        self._clock = clock
        self._keep_days = keep_days

    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str
    ) -> Claim:
        now, token = self._clock(), stored.write_token()
        values = {
            ":running": {"S": JobStatus.RUNNING}, ":retrying": {"S": JobStatus.RETRYING},
            ":failed": {"S": JobStatus.FAILED}, ":true": {"BOOL": True},
            ":scheduled": {"S": JobStatus.SCHEDULED}, ":waiting": {"S": JobStatus.WAITING},
            ":now": {"N": str(int(now))}, ":lease": {"N": str(int(now + lease_seconds))},
            ":ts": {"S": stored.iso(now)}, ":zero": {"N": "0"}, ":one": {"N": "1"},
            ":req": {"S": request.model_dump_json()}, ":bucket": {"S": request.input.bucket},
            ":key": {"S": request.input.key}, ":preset": {"S": request.preset_name},
            ":carrier": {"S": carrier}, ":token": {"S": token},
        }  # fmt: skip
        update = (
            "SET #s = :running, lease_until = :lease, updated_at = :ts,"
            " created_at = if_not_exists(created_at, :ts),"
            " attempts = if_not_exists(attempts, :zero) + :one,"
            " #q = :req, input_bucket = :bucket, input_key = :key, preset = :preset,"
            " carrier = :carrier, last_write = :token"
            " REMOVE #e, retryable, expires_at"
        )
        with aws_errors("dynamodb:UpdateItem"):
            try:
                resp = await self._ddb.update_item(
                    TableName=self._table, Key={"job_id": {"S": job_id}},
                    UpdateExpression=update, ConditionExpression=_CLAIMABLE,
                    ExpressionAttributeNames={"#s": "status", "#e": "error", "#q": "request"},
                    ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return self._existing_claim(await self._refusing(job_id, exc), token, now, job_id)
        item = resp["Attributes"]
        flagged = cancels.CANCEL_FLAG in item  # a cancel outlived its attempt
        ledger = segments.carried(item, job_id)  # an earlier attempt's, to keep
        return Claim(
            "claimed", int(item["attempts"]["N"]), cancel_requested=flagged, segments=ledger
        )

    def _existing_claim(self, record: dict[str, Any], token: str, now: float, job_id: str) -> Claim:
        if record.get(LAST_WRITE) == token:  # our claim applied; its answer was lost and resent
            flagged = bool(record.get(cancels.CANCEL_FLAG))
            ledger = segments.carried(record, job_id)
            return Claim(
                "claimed", int(record["attempts"]), cancel_requested=flagged, segments=ledger
            )
        status = record.get("status")
        if status in TERMINAL or status == JobStatus.SPLIT:  # SPLIT: its chunks run it
            return Claim("done", status=status, announced=bool(record.get("announced", True)))
        remaining = max(0.0, float(record.get("lease_until", now)) - now)
        return Claim(
            "busy", lease_remaining=remaining, status=status, carrier=record.get("carrier")
        )

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool:
        lease = {":lease": {"N": str(int(self._clock() + lease_seconds))}}
        return await self._update(
            job_id, "SET lease_until = :lease, updated_at = :ts", lease, fenced_by=attempt,
            cancellable=True,
        )  # fmt: skip

    async def note_segments(self, job_id: str, ledger: SegmentLedger, attempt: int) -> bool:
        return await self._update(
            job_id, segments.NOTE, segments.noted(ledger), fenced_by=attempt, cancellable=True
        )

    async def complete(self, job_id: str, result: JobResult) -> bool:
        values = {
            ":s": {"S": JobStatus.COMPLETED}, ":r": {"S": result.model_dump_json()},
            ":no": {"BOOL": False}, **self._expiry(),
        }  # fmt: skip
        return await self._update(
            job_id,
            f"SET #s = :s, #r = :r, announced = :no, updated_at = :ts{self._expires()}"
            f" REMOVE lease_until, #e, retryable, {segments.SEGMENTS}",
            values, {"#r": "result"}, fenced_by=result.attempt,
        )  # fmt: skip

    async def fail(
        self, job_id: str, error: RecordedError, *, final: bool, attempt: int | None
    ) -> bool:
        status = JobStatus.FAILED if final else JobStatus.RETRYING
        values = {
            ":s": {"S": status}, ":err": {"S": error.model_dump_json(exclude_none=True)},
            ":retryable": {"BOOL": error.retryable}, ":announced": {"BOOL": not final},
            **(self._expiry() if final else {}),
        }  # fmt: skip
        expression = (
            "SET #s = :s, #e = :err, retryable = :retryable, announced = :announced,"
            f" updated_at = :ts{self._expires() if final else ''} REMOVE lease_until"
        )
        if attempt is not None:
            return await self._update(job_id, expression, values, fenced_by=attempt)
        # Before any claim (the input vanished): never over a finished or running job.
        values[":retrying"] = {"S": JobStatus.RETRYING}
        values[":scheduled"] = {"S": JobStatus.SCHEDULED}
        values[":waiting"] = {"S": JobStatus.WAITING}
        return await self._update(
            job_id, expression, values,
            condition="attribute_not_exists(job_id) OR #s IN (:retrying, :scheduled, :waiting)",
        )  # fmt: skip

    async def give_up(
        self, job_id: str, request: JobRequest, error: RecordedError, carrier: str
    ) -> bool:
        now = self._clock()
        values = {
            ":s": {"S": JobStatus.FAILED}, ":err": {"S": error.model_dump_json(exclude_none=True)},
            ":true": {"BOOL": True}, ":no": {"BOOL": False}, ":zero": {"N": "0"},
            ":req": {"S": request.model_dump_json()}, ":bucket": {"S": request.input.bucket},
            ":key": {"S": request.input.key}, ":preset": {"S": request.preset_name},
            ":running": {"S": JobStatus.RUNNING}, ":retrying": {"S": JobStatus.RETRYING},
            ":waiting": {"S": JobStatus.WAITING},
            ":now": {"N": str(int(now))}, ":carrier": {"S": carrier}, **self._expiry(),
        }  # fmt: skip
        # A job never claimed (its workers died before the claim) gets the request, as a
        # claim would have recorded it, so `ffapi status` shows what it was.
        expression = (
            "SET #s = :s, #e = :err, retryable = :true, announced = :no, updated_at = :ts,"
            " created_at = if_not_exists(created_at, :ts),"
            " attempts = if_not_exists(attempts, :zero), #q = if_not_exists(#q, :req),"
            " input_bucket = if_not_exists(input_bucket, :bucket),"
            " input_key = if_not_exists(input_key, :key),"
            f" preset = if_not_exists(preset, :preset){self._expires()} REMOVE lease_until"
        )
        return await self._update(
            job_id, expression, values, {"#q": "request"}, condition=_ABANDONED
        )

    def _expiry(self) -> dict[str, Any]:
        """``:expires``: when a record finished now is deleted (epoch seconds; none kept
        for ever)."""
        if self._keep_days <= 0:
            return {}
        return {":expires": {"N": str(int(self._clock()) + self._keep_days * 86400)}}

    def _expires(self) -> str:
        return ", expires_at = :expires" if self._keep_days > 0 else ""

    async def release(self, job_id: str, attempt: int) -> bool:
        return await self._update(
            job_id, "SET #s = :retrying, updated_at = :ts REMOVE lease_until",
            {":retrying": {"S": JobStatus.RETRYING}}, fenced_by=attempt,
        )  # fmt: skip

    async def progress(self, job_id: str, progress: ProgressUpdate, attempt: int) -> bool:
        values = {":p": {"S": progress.model_dump_json()}}
        return await self._update(
            job_id, "SET progress = :p, updated_at = :ts", values, fenced_by=attempt,
            cancellable=True,
        )  # fmt: skip

    async def cancel(self, job_id: str) -> CancelAnswer:
        item = await self._item(job_id)  # the write for its state; a refusal says the next
        for _ in range(cancels.CANCEL_TRIES):
            step = cancels.next_cancel(item, self._expiry())
            if isinstance(step, CancelAnswer):
                return step
            item = await self._conditional(job_id, step.expression, step.values, step.condition)
            if item is None:
                return step.answer
        raise StorageUnavailable(f"job {job_id} kept changing state under the cancel")

    async def record_cancelled(self, job_id: str, attempt: int) -> bool:
        expression, values = cancels.cancelled(cancels.WHILE_RUNNING, self._expiry())
        return await self._update(job_id, expression, values, fenced_by=attempt)

    async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
        # No write token: webhook lanes record in the background, and theirs would replace a
        # fenced write's token between its first copy and its resent one.
        values = {":d": {"L": [{"S": delivery.model_dump_json()}]}, ":empty": {"L": []}}
        await self._write(
            job_id, "SET webhooks = list_append(if_not_exists(webhooks, :empty), :d),"
            " updated_at = :ts", values, condition="attribute_exists(job_id)",
        )  # fmt: skip

    async def mark_announced(self, job_id: str) -> None:
        await self._write(
            job_id, "SET announced = :yes, updated_at = :ts", {":yes": {"BOOL": True}}
        )

    async def _update(
        self, job_id: str, expression: str, values: dict[str, Any],
        names: dict[str, str] | None = None, *, fenced_by: int | None = None,
        condition: str | None = None, cancellable: bool = False,
    ) -> bool:  # fmt: skip
        """One conditional UpdateItem with a write token; False when its condition does not
        hold, unless the item bears the token (ours applied, and botocore resent it).

        ``fenced_by``: the claim's attempt number. Only the worker holding that claim may
        write: a worker whose lease lapsed and was taken over finds its writes refused.
        ``cancellable``: refused too once a cancel flagged the job, with JobCancelled.
        """
        if fenced_by is not None:
            condition = "#s = :running AND attempts = :attempt"
            condition += cancels.NOT_CANCELLED if cancellable else ""
            fence = {":running": {"S": JobStatus.RUNNING}, ":attempt": {"N": str(fenced_by)}}
            values = {**values, **fence}
        assert condition is not None, "a write token only tells conditional writes apart"
        refused = await self._conditional(job_id, expression, values, condition, names)
        if refused is not None and cancellable and fenced_by is not None:
            cancels.raise_if_cancelled(refused, fenced_by)
        return refused is None

    async def _conditional(
        self, job_id: str, expression: str, values: dict[str, Any], condition: str,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """``_update``'s write: None when it applied, else the item that refused it."""
        token = stored.write_token()
        values = {**values, ":token": {"S": token}}
        assert expression.startswith("SET "), expression
        expression = f"SET {LAST_WRITE} = :token, {expression.removeprefix('SET ')}"
        refused = await self._write(job_id, expression, values, names, condition=condition)
        if refused is None:
            return None
        item = await self._refusing(job_id, refused)
        return None if item.get(LAST_WRITE) == token else item

    async def _write(
        self, job_id: str, expression: str, values: dict[str, Any],
        names: dict[str, str] | None = None, *, condition: str | None = None,
    ) -> ClientError | None:  # fmt: skip
        """One UpdateItem; the ConditionalCheckFailedException when its condition does not
        hold (with the item as the condition saw it)."""
        values = {**values, ":ts": {"S": stored.iso(self._clock())}}
        all_names = {"#s": "status", "#e": "error", **(names or {})}
        text = expression + (condition or "")
        used = {k: v for k, v in all_names.items() if k in text}  # DynamoDB refuses extras
        extra: dict[str, Any] = {"ExpressionAttributeNames": used} if used else {}
        if condition:
            extra |= {"ConditionExpression": condition,
                      "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}  # fmt: skip
        with aws_errors("dynamodb:UpdateItem"):
            try:
                await self._ddb.update_item(
                    TableName=self._table, Key={"job_id": {"S": job_id}},
                    UpdateExpression=expression, ExpressionAttributeValues=values, **extra,
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return exc
        return None

    async def _refusing(self, job_id: str, refused: ClientError) -> dict[str, Any]:
        """The item that failed a condition, as DynamoDB returned it with the refusal; read
        (consistently) when the refusal lacks it: no item, or an emulator that omits it."""
        item = refused.response.get("Item")
        if item is not None:
            return stored.record(item)
        return await self._item(job_id) or {}

    async def schedule(self, job_id: str, request: JobRequest, not_before: datetime) -> None:
        await put_scheduled(self._ddb, self._table, job_id, request, not_before, self._clock())

    async def wait(self, job_id: str, request: JobRequest) -> None:
        await waits.put_waiting(self._ddb, self._table, job_id, request, self._clock())

    async def add_dependent(self, parent_id: str, job_id: str) -> bool:
        return await waits.add_dependent(self._ddb, self._table, parent_id, job_id)

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self._item(job_id)
        return stored.typed(raw) if raw is not None else None

    async def _item(self, job_id: str) -> dict[str, Any] | None:
        with aws_errors("dynamodb:GetItem"):
            resp = await self._ddb.get_item(
                TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            )
        item = resp.get("Item")
        return stored.record(item) if item is not None else None

    async def recent(self, status: str | None = None, limit: int = 20) -> list[JobRecord]:
        """The newest ``limit`` jobs (by creation), optionally of one status, summarized:
        no request or result. A Scan reads the whole table: fine for an operator's look at
        a jobs table; a status/created_at index is the way once the table is large."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "job_id, #s, preset, input_bucket, input_key, attempts,"
            " created_at, updated_at, #e, progress, not_before",
            "ExpressionAttributeNames": {"#s": "status", "#e": "error"},
            # Batch records share the table (infra.batchstore): not jobs.
            "FilterExpression": "NOT begins_with(job_id, :batch)",
            "ExpressionAttributeValues": {":batch": {"S": BATCH_KEY_PREFIX}},
        }
        if status is not None:
            kwargs["FilterExpression"] += " AND #s = :status"
            kwargs["ExpressionAttributeValues"][":status"] = {"S": status}
        found = await stored.scan_pages(self._ddb, **kwargs)
        records = [stored.typed(stored.record(item)) for item in found]
        # A job refused before its claim has no created_at; its one write dates it.
        records.sort(key=lambda r: str(r.created_at or r.updated_at), reverse=True)
        return records[:limit]
