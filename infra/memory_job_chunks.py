"""The in-memory job store's split jobs (``core.jobs.chunks``): the conditions of
``infra.jobstore_chunks`` on the dict of ``infra.memory_jobs``, held to the same contract
(``tests/integration/test_job_store_contract.py``).

The parent's item keeps ``chunk_plan`` (the plan, as JSON), ``chunks_sent``, ``chunk_ends``
(index -> the ending, as JSON), ``stitch_by`` (the index whose ending completed the set) and
``closed_by`` (the chunk job whose ending closed it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.jobs.chunk_model import ChunkEnding, ChunkPlan, ChunkTally, SplitClose, SplitRecord
from core.jobs.results import JobStatus


class MemoryJobChunks:
    """Mixed into ``MemoryJobStore``, whose records, writes and expiry it uses."""

    records: dict[str, dict[str, Any]]
    _set: Callable[..., None]
    _expiry: Callable[[], dict[str, Any]]

    async def split(self, job_id: str, plan: ChunkPlan, attempt: int) -> bool:
        rec = self.records.get(job_id)
        if rec is not None and rec.get("status") == JobStatus.SPLIT:
            return True
        if rec is None or rec.get("status") != JobStatus.RUNNING or rec.get("attempts") != attempt:
            return False
        plan_doc = plan.model_dump(mode="json", exclude_defaults=True)
        self._set(job_id, ("lease_until",), status=JobStatus.SPLIT, chunk_plan=plan_doc)
        return True

    async def mark_chunks_sent(self, job_id: str) -> None:
        if job_id in self.records:
            self._set(job_id, chunks_sent=True)

    async def get_split(self, job_id: str) -> SplitRecord | None:
        rec = self.records.get(job_id)
        if rec is None or "chunk_plan" not in rec:
            return None
        return SplitRecord(
            plan=ChunkPlan.model_validate(rec["chunk_plan"]),
            sent=bool(rec.get("chunks_sent")),
            ended=_endings(rec),
            stitch_by=rec.get("stitch_by"),
            closed_by=rec.get("closed_by"),
        )

    async def end_chunk(self, job_id: str, ending: ChunkEnding) -> ChunkTally | None:
        rec = self.records.get(job_id)
        if rec is None or rec.get("status") != JobStatus.SPLIT:
            return None
        ends = rec.setdefault("chunk_ends", {})
        ends[str(ending.index)] = ending.model_dump(mode="json", exclude_defaults=True)
        total = len(rec["chunk_plan"]["chunks"])
        stitch = False
        if len(ends) >= total and rec.get("stitch_by") in (None, ending.index):
            rec["stitch_by"], stitch = ending.index, True
        self._set(job_id)
        return ChunkTally(total=total, ended=_endings(rec), stitch=stitch)

    async def close_split(self, job_id: str, close: SplitClose) -> bool:
        rec = self.records.get(job_id)
        if rec is None:
            return False
        if rec.get("status") != JobStatus.SPLIT:  # closed: by this ending, not yet said?
            return rec.get("closed_by") == close.by and not rec.get("announced", True)
        if close.result is not None:
            fields: dict[str, Any] = {
                "status": JobStatus.COMPLETED, "result": close.result.model_dump(mode="json"),
            }  # fmt: skip
        else:
            assert close.error is not None
            fields = {
                "status": JobStatus.FAILED, "retryable": False,
                "error": close.error.model_dump(mode="json", exclude_none=True),
            }  # fmt: skip
        self._set(job_id, (), closed_by=close.by, announced=False, **fields, **self._expiry())
        return True


def _endings(rec: dict[str, Any]) -> tuple[ChunkEnding, ...]:
    ends = rec.get("chunk_ends", {})
    return tuple(ChunkEnding.model_validate(ends[k]) for k in sorted(ends, key=int))
