"""DynamoDB batch records, in the jobs table: each under ``b-`` and a hash of the batch id
(job records are ``j-``; ``ffapi jobs`` leaves batches out).

The item: the plan, packed (``BatchPlan.packed``: JSON, compressed; written once, by a
conditional write), ``job_ids`` (a string
set: the jobs that may end in it), one string set per ending (``completed``, ``failed``,
``cancelled``: an ending added twice is one), ``fanned_out``, and the announcement's two
marks. ``record_end`` is one UpdateItem (ADD to the set, on condition that the job is one
of the batch's) returning the item as it left it: of jobs ending at once, the last write
is the one that sees every ending. ``claim_announcement`` is a conditional SET of
``announced_by`` (taken by the first job whose ending completes the batch, and by that
job's own redelivery while ``announced`` is unset), so one ending announces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from core.jobs.batch_model import BatchPlan, BatchRecord, Ending
from infra.aws import aws_errors, error_code

_deserializer = TypeDeserializer()


class DynamoBatchStore:
    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._ddb = dynamodb
        self._table = table
        self._clock = clock

    async def create(self, plan: BatchPlan) -> bool:
        # An UpdateItem, not a PutItem: the worker's role writes the jobs table by UpdateItem.
        values = {
            ":type": {"S": "batch"}, ":batch": {"S": plan.batch_id}, ":digest": {"S": plan.digest},
            ":total": {"N": str(plan.total)}, ":plan": {"B": plan.packed()},
            ":ids": {"SS": [j.job_id for j in plan.jobs]},
            ":at": {"S": datetime.fromtimestamp(self._clock(), UTC).isoformat()},
        }  # fmt: skip
        return await self._conditional(
            "dynamodb:UpdateItem",
            self._ddb.update_item(
                TableName=self._table, Key={"job_id": {"S": plan.key}},
                UpdateExpression="SET record_type = :type, batch_id = :batch, digest = :digest,"
                " #total = :total, #plan = :plan, job_ids = :ids, created_at = :at",
                ConditionExpression="attribute_not_exists(job_id)",
                ExpressionAttributeNames={"#total": "total", "#plan": "plan"},
                ExpressionAttributeValues=values,
            ),
        )  # fmt: skip

    async def get(self, key: str) -> BatchRecord | None:
        with aws_errors("dynamodb:GetItem"):
            resp = await self._ddb.get_item(
                TableName=self._table, Key={"job_id": {"S": key}}, ConsistentRead=True
            )
        item = resp.get("Item")
        return _record(item) if item is not None and "plan" in item else None

    async def mark_fanned_out(self, key: str) -> None:
        await self._set(key, "fanned_out")

    async def record_end(self, key: str, job_id: str, ending: Ending) -> BatchRecord | None:
        with aws_errors("dynamodb:UpdateItem"):
            try:
                resp = await self._ddb.update_item(
                    TableName=self._table, Key={"job_id": {"S": key}},
                    # A job redriven from the DLQ and completed is no longer counted failed.
                    UpdateExpression="ADD #ending :ids"
                    + (" DELETE failed :ids" if ending == Ending.COMPLETED else ""),
                    ConditionExpression="attribute_exists(#plan) AND contains(job_ids, :id)",
                    ExpressionAttributeNames={"#ending": ending.value, "#plan": "plan"},
                    ExpressionAttributeValues={":ids": {"SS": [job_id]}, ":id": {"S": job_id}},
                    ReturnValues="ALL_NEW",
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return None
        return _record(resp["Attributes"])

    async def claim_announcement(self, key: str, job_id: str) -> bool:
        return await self._conditional(
            "dynamodb:UpdateItem",
            self._ddb.update_item(
                TableName=self._table, Key={"job_id": {"S": key}},
                UpdateExpression="SET announced_by = :id",
                ConditionExpression="attribute_exists(#plan) AND attribute_not_exists(announced)"
                " AND (attribute_not_exists(announced_by) OR announced_by = :id)",
                ExpressionAttributeNames={"#plan": "plan"},
                ExpressionAttributeValues={":id": {"S": job_id}},
            ),
        )  # fmt: skip

    async def mark_announced(self, key: str) -> None:
        await self._set(key, "announced")

    async def _set(self, key: str, flag: str) -> None:
        with aws_errors("dynamodb:UpdateItem"):
            await self._ddb.update_item(
                TableName=self._table, Key={"job_id": {"S": key}},
                UpdateExpression="SET #f = :t", ConditionExpression="attribute_exists(job_id)",
                ExpressionAttributeNames={"#f": flag},
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )  # fmt: skip

    async def _conditional(self, action: str, call: Any) -> bool:
        with aws_errors(action):
            try:
                await call
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return False
        return True


def _record(item: dict[str, Any]) -> BatchRecord:
    plain = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return BatchRecord(
        plan=BatchPlan.unpacked(bytes(plain["plan"])),
        completed=frozenset(plain.get("completed", ())),
        failed=frozenset(plain.get("failed", ())),
        cancelled=frozenset(plain.get("cancelled", ())),
        fanned_out=bool(plain.get("fanned_out", False)),
        announced_by=plain.get("announced_by"),
        announced=bool(plain.get("announced", False)),
    )
