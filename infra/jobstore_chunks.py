"""DynamoDB's split jobs (``core.jobs.chunks``): a parent's chunk plan, its chunks'
endings and its end, on the parent's own item. Mixed into ``infra.jobstore.DynamoJobStore``
(its conditional writes, with their write tokens, and its reads).

The item keeps ``chunk_plan`` (the plan, compressed JSON), ``chunk_total``, ``chunks_sent``,
``chunk_ends`` (a map: index -> the ending, compressed JSON; made empty by the split, so
each ending sets one key of it), ``stitch_by`` and ``closed_by``. A chunk's ending is one
conditional write (``#s = SPLIT``) setting its key (twice is once) and returning the item;
when the set is complete, a second conditional write takes the stitch for that index (if
nobody holds it, or that index does: its redelivery). The parent's end is one conditional
write from SPLIT, naming the chunk job that closed it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkTally, SplitClose, SplitRecord
from core.jobs.results import JobStatus
from infra import jobstore_items as stored
from infra.aws import aws_errors, error_code

_SPLIT = {":split": {"S": JobStatus.SPLIT}}


class DynamoJobChunks:
    """Mixed into ``DynamoJobStore``, whose client, table and writes it uses."""

    _ddb: Any
    _table: str
    _clock: Callable[[], float]
    _update: Callable[..., Coroutine[Any, Any, bool]]
    _conditional: Callable[..., Coroutine[Any, Any, dict[str, Any] | None]]
    _item: Callable[[str], Coroutine[Any, Any, dict[str, Any] | None]]
    _expiry: Callable[[], dict[str, Any]]
    _expires: Callable[[], str]

    async def split(self, job_id: str, plan: ChunkPlan, attempt: int) -> bool:
        values = {
            **_SPLIT, ":plan": {"B": plan.packed()}, ":total": {"N": str(plan.total)},
            ":empty": {"M": {}},
        }  # fmt: skip
        expression = (
            "SET #s = :split, chunk_plan = :plan, chunk_total = :total, chunk_ends = :empty,"
            " updated_at = :ts REMOVE lease_until"
        )
        if await self._update(job_id, expression, values, fenced_by=attempt):
            return True
        item = await self._item(job_id)  # split already: a redelivery of the parent
        return item is not None and item.get("status") == JobStatus.SPLIT

    async def mark_chunks_sent(self, job_id: str) -> None:
        await self._update(
            job_id, "SET chunks_sent = :yes, updated_at = :ts", {":yes": {"BOOL": True}},
            condition="attribute_exists(job_id)",
        )  # fmt: skip

    async def get_split(self, job_id: str) -> SplitRecord | None:
        item = await self._item(job_id)
        if item is None or "chunk_plan" not in item:
            return None
        stitch_by = item.get("stitch_by")
        return SplitRecord(
            plan=ChunkPlan.unpacked(_bytes(item["chunk_plan"])),
            sent=bool(item.get("chunks_sent")), ended=_endings(item),
            stitch_by=int(stitch_by) if stitch_by is not None else None,
            closed_by=item.get("closed_by"),
        )  # fmt: skip

    async def end_chunk(self, job_id: str, ending: ChunkEnding) -> ChunkTally | None:
        item = await self._set_end(job_id, ending)
        if item is None:
            return None
        total, ended = int(item["chunk_total"]), _endings(item)
        stitch = False
        if len(ended) >= total and item.get("stitch_by") in (None, ending.index):
            mine = {**_SPLIT, ":i": {"N": str(ending.index)}}
            stitch = await self._update(
                job_id, "SET stitch_by = :i, updated_at = :ts", mine,
                condition="#s = :split AND (attribute_not_exists(stitch_by) OR stitch_by = :i)",
            )  # fmt: skip
        return ChunkTally(total=total, ended=ended, stitch=stitch)

    async def _set_end(self, job_id: str, ending: ChunkEnding) -> dict[str, Any] | None:
        """The ending's key set, and the item as it left it; None when not SPLIT. No write
        token: resent, it sets the same value again."""
        with aws_errors("dynamodb:UpdateItem"):
            try:
                resp = await self._ddb.update_item(
                    TableName=self._table, Key={"job_id": {"S": job_id}},
                    UpdateExpression="SET chunk_ends.#i = :end, updated_at = :ts",
                    ConditionExpression="#s = :split",
                    ExpressionAttributeNames={"#s": "status", "#i": str(ending.index)},
                    ExpressionAttributeValues={
                        **_SPLIT, ":end": {"B": ending.packed()},
                        ":ts": {"S": stored.iso(self._clock())},
                    },
                    ReturnValues="ALL_NEW",
                )  # fmt: skip
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return None
        return stored.record(resp["Attributes"])

    async def close_split(self, job_id: str, close: SplitClose) -> bool:
        values: dict[str, Any] = {**_SPLIT, ":by": {"S": close.by}, ":no": {"BOOL": False}}
        names: dict[str, str] = {}
        if close.result is not None:
            result = close.result.model_dump_json()
            values |= {":st": {"S": JobStatus.COMPLETED}, ":r": {"S": result}}
            names["#r"] = "result"
            outcome = "#r = :r"
        else:
            assert close.error is not None
            values |= {
                ":st": {"S": JobStatus.FAILED},
                ":err": {"S": close.error.model_dump_json(exclude_none=True)},
            }
            outcome = "#e = :err, retryable = :no"
        values |= self._expiry()
        expression = (
            f"SET #s = :st, {outcome}, closed_by = :by, announced = :no,"
            f" updated_at = :ts{self._expires()}"
        )
        refused = await self._conditional(job_id, expression, values, "#s = :split", names)
        if refused is None:
            return True
        return refused.get("closed_by") == close.by and refused.get("announced") is False


def _bytes(value: Any) -> bytes:
    return bytes(value.value) if isinstance(value, Binary) else bytes(value)


def _endings(item: dict[str, Any]) -> tuple[ChunkEnding, ...]:
    ends = item.get("chunk_ends") or {}
    return tuple(ChunkEnding.unpacked(_bytes(ends[k])) for k in sorted(ends, key=int))
