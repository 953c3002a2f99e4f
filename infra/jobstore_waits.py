"""The job store's WAITING record and its parents' ``dependents`` (``core.jobs.job_deps``).

A dependent is recorded WAITING once, where it has no record yet (a claimed or finished job
is never set back), with its request: the parent's ending reads it from there to send it.
Each unfinished parent gets the dependent's id in ``dependents``, a string set on its own
item (``ADD``: the same id twice is once), only where the parent has a record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from core.jobs.results import JobStatus
from core.models import JobRequest
from infra.aws import aws_errors, error_code


async def put_waiting(ddb: Any, table: str, job_id: str, request: JobRequest, now: float) -> None:
    at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    values = {
        ":waiting": {"S": JobStatus.WAITING}, ":ts": {"S": at},
        ":req": {"S": request.model_dump_json()}, ":bucket": {"S": request.input.bucket},
        ":key": {"S": request.input.key}, ":preset": {"S": request.preset_name or "-"},
    }  # fmt: skip
    update = (
        "SET #s = :waiting, updated_at = :ts, created_at = if_not_exists(created_at, :ts),"
        " #q = :req, input_bucket = :bucket, input_key = :key, preset = :preset"
    )
    await _conditional(
        ddb, TableName=table, Key={"job_id": {"S": job_id}}, UpdateExpression=update,
        ConditionExpression="attribute_not_exists(job_id) OR #s = :waiting",
        ExpressionAttributeValues=values,
        ExpressionAttributeNames={"#s": "status", "#q": "request"},
    )  # fmt: skip


async def add_dependent(ddb: Any, table: str, parent_id: str, job_id: str) -> bool:
    return await _conditional(
        ddb, TableName=table, Key={"job_id": {"S": parent_id}},
        UpdateExpression="ADD dependents :d", ConditionExpression="attribute_exists(job_id)",
        ExpressionAttributeValues={":d": {"SS": [job_id]}},
    )  # fmt: skip


async def _conditional(ddb: Any, **request: Any) -> bool:
    """One UpdateItem; False when its condition does not hold. No write token: both writes
    are the same when resent (an if-absent write, a set's ADD)."""
    with aws_errors("dynamodb:UpdateItem"):
        try:
            await ddb.update_item(**request)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
    return True
