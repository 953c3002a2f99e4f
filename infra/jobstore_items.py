"""The job store's items: a DynamoDB item as the typed :class:`JobRecord` the port hands
out, and the small encodings its writes share (write tokens, times, scans)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from boto3.dynamodb.types import TypeDeserializer
from pydantic import ValidationError

from core.jobs.job_record import JobRecord
from core.jobs.results import JobResult
from core.models import JobRequest
from infra.aws import aws_errors
from infra.jobstore_segments import carried

_deserializer = TypeDeserializer()
log = structlog.get_logger("ffapi.jobstore")


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def write_token() -> str:
    return uuid.uuid4().hex


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


async def scan_pages(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        with aws_errors("dynamodb:Scan"):
            resp = await ddb.scan(**kwargs)
        items.extend(resp.get("Items", []))
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def record(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python; the fields stored as JSON text (no float surprises)
    parsed back."""
    record = {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}
    for field in ("request", "result", "error", "progress"):
        if isinstance(record.get(field), str):
            record[field] = json.loads(record[field])
    if isinstance(record.get("webhooks"), list):
        record["webhooks"] = [json.loads(d) for d in record["webhooks"]]
    return record


def typed(raw: dict[str, Any]) -> JobRecord:
    """The record as the port hands it out. A request or result that this version's models
    no longer read (written by an older worker) is left out, and said so, rather than
    making the whole record unreadable."""
    fields = dict(raw)
    fields["segments"] = carried(raw, str(raw.get("job_id")))
    for name, model in (("request", JobRequest), ("result", JobResult)):
        if fields.get(name) is not None:
            try:
                fields[name] = model.model_validate(fields[name])
            except ValidationError as exc:
                log.warning("job.record_field_unread", job_id=raw.get("job_id"), field=name,
                            errors=exc.error_count())  # fmt: skip
                fields[name] = None
    return JobRecord.model_validate(fields)
