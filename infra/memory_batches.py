"""Batch records in memory: ``infra.batchstore.DynamoBatchStore``'s conditions on a dict.

For the dispatcher's unit tests and trying the core without AWS. Each write applies, or
refuses, on the condition the DynamoDB adapter sends; what it does not model is what the
job store's memory twin does not (lost answers, writers on other machines).
``tests/integration/test_batch_store_contract.py`` holds both adapters to one contract.
"""

from __future__ import annotations

from dataclasses import replace

from core.jobs.batch_model import BatchPlan, BatchRecord, Ending


class MemoryBatchStore:
    def __init__(self) -> None:
        self.records: dict[str, BatchRecord] = {}

    async def create(self, plan: BatchPlan) -> bool:
        if plan.key in self.records:
            return False
        self.records[plan.key] = BatchRecord(plan)
        return True

    async def get(self, key: str) -> BatchRecord | None:
        return self.records.get(key)

    async def mark_fanned_out(self, key: str) -> None:
        if (record := self.records.get(key)) is not None:
            self.records[key] = replace(record, fanned_out=True)

    async def record_end(self, key: str, job_id: str, ending: Ending) -> BatchRecord | None:
        record = self.records.get(key)
        if record is None or record.plan.job(job_id) is None:
            return None
        ids = getattr(record, ending.value) | {job_id}
        record = replace(record, **{ending.value: ids})
        if ending == Ending.COMPLETED:  # redriven from the DLQ and completed: not failed
            record = replace(record, failed=record.failed - {job_id})
        self.records[key] = record
        return record

    async def claim_announcement(self, key: str, job_id: str) -> bool:
        record = self.records.get(key)
        if record is None or record.announced or record.announced_by not in (None, job_id):
            return False
        self.records[key] = replace(record, announced_by=job_id)
        return True

    async def mark_announced(self, key: str) -> None:
        if (record := self.records.get(key)) is not None:
            self.records[key] = replace(record, announced=True)
