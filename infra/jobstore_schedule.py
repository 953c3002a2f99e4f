"""The job store's SCHEDULED record (``core.jobs.schedule``): a job waiting for its
``not_before``, written once, by the first worker that requeues it, and only where the job has
no record yet (a later copy finds it there; a claimed or finished job is never set back)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from core.jobs.results import JobStatus
from core.models import JobRequest
from infra.aws import aws_errors, error_code

_UNRECORDED = "attribute_not_exists(job_id) OR #s = :scheduled"


async def put_scheduled(
    ddb: Any, table: str, job_id: str, request: JobRequest, not_before: datetime, now: float
) -> None:
    at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    values = {
        ":scheduled": {"S": JobStatus.SCHEDULED}, ":ts": {"S": at},
        ":nb": {"S": not_before.isoformat()}, ":req": {"S": request.model_dump_json()},
        ":bucket": {"S": request.input.bucket}, ":key": {"S": request.input.key},
        ":preset": {"S": request.preset_name or "-"},
    }  # fmt: skip
    update = (
        "SET #s = :scheduled, not_before = :nb, updated_at = :ts,"
        " created_at = if_not_exists(created_at, :ts), #q = :req, input_bucket = :bucket,"
        " input_key = :key, preset = :preset"
    )
    with aws_errors("dynamodb:UpdateItem"):
        try:
            await ddb.update_item(
                TableName=table, Key={"job_id": {"S": job_id}}, UpdateExpression=update,
                ConditionExpression=_UNRECORDED, ExpressionAttributeValues=values,
                ExpressionAttributeNames={"#s": "status", "#q": "request"},
            )  # fmt: skip
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise  # a claimed or finished job keeps its record
