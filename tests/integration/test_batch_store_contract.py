"""The BatchStore port's contract, held by both of its adapters: DynamoDB (moto's server, over
HTTP, the jobs table) and the in-memory store the dispatcher's unit tests run on
(``infra.memory_batches``): the record written once, endings as sets (one added twice is
one), a job of no batch refused, and the announcement taken by one ending only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from core.jobs.batch_model import MAX_BATCH_JOBS, BatchDoc, BatchPlan, Ending
from core.jobs.batch_plan import plan_batch
from core.jobs.watch import IntakeConfig, WatchRule
from core.models import OutputLocation
from core.ports import BatchStore
from infra.aws import open_clients
from infra.batchstore import DynamoBatchStore
from infra.jobstore import DynamoJobStore
from infra.memory_batches import MemoryBatchStore

from .conftest import Stack

pytestmark = pytest.mark.integration

_: BatchStore = MemoryBatchStore()  # mypy holds the memory store to the port
Opener = Callable[[], AbstractAsyncContextManager[BatchStore]]
OUT = OutputLocation(bucket="out-bucket", prefix="outputs")
INTAKE = IntakeConfig(
    rules=(WatchRule(bucket="in-bucket", prefix="in/", preset="mp4-720p", output=OUT),),
    default_output=OUT,
)


@pytest.fixture(params=["dynamodb", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    @asynccontextmanager
    async def dynamodb() -> AsyncIterator[BatchStore]:
        async with open_clients(stack.settings) as clients:
            yield DynamoBatchStore(clients.dynamodb, stack.settings.jobs_table)

    @asynccontextmanager
    async def memory() -> AsyncIterator[BatchStore]:
        yield MemoryBatchStore()

    return dynamodb if request.param == "dynamodb" else memory


def a_plan(jobs: int = 3, chained: bool = False) -> BatchPlan:
    """``chained``: every other job waits for the one before it (and is kept whole)."""
    docs: list[dict[str, Any]] = [
        {"name": f"n{i}", "input": {"bucket": "in-bucket", "key": f"in/{i}.mp4"}}
        for i in range(jobs)
    ]
    for i, doc in enumerate(docs):
        if chained and i % 2:
            doc["after"] = [f"n{i - 1}"]
    batch = {"id": f"batch-{uuid.uuid4().hex[:8]}", "jobs": docs}
    return plan_batch(BatchDoc.model_validate(batch), INTAKE).plan


def contract(opened: Opener, check: Callable[[BatchStore, BatchPlan], Awaitable[None]]) -> None:
    async def run() -> None:
        async with opened() as store:
            await check(store, a_plan())

    asyncio.run(run())


def test_the_record_is_written_once(opened: Opener) -> None:
    async def check(store: BatchStore, plan: BatchPlan) -> None:
        assert await store.get(plan.key) is None
        assert await store.create(plan)
        assert not await store.create(plan)
        record = await store.get(plan.key)
        assert record is not None
        assert (record.plan, record.ended, record.fanned_out, record.announced) == (
            plan, 0, False, False,
        )  # fmt: skip
        await store.mark_fanned_out(plan.key)
        record = await store.get(plan.key)
        assert record is not None
        assert record.fanned_out

    contract(opened, check)


def test_endings_are_sets_and_only_the_batchs_jobs_count(opened: Opener) -> None:
    async def check(store: BatchStore, plan: BatchPlan) -> None:
        first, second, third = (j.job_id for j in plan.jobs)
        assert await store.record_end(plan.key, first, Ending.COMPLETED) is None  # no record yet
        await store.create(plan)
        one = await store.record_end(plan.key, first, Ending.COMPLETED)
        again = await store.record_end(plan.key, first, Ending.COMPLETED)
        assert one is not None
        assert again is not None
        assert (one.ended, again.ended) == (1, 1)
        assert await store.record_end(plan.key, "j-not-of-this-batch", Ending.FAILED) is None
        await store.record_end(plan.key, second, Ending.FAILED)
        last = await store.record_end(plan.key, third, Ending.CANCELLED)
        assert last is not None
        assert (last.completed, last.failed, last.cancelled) == (
            frozenset({first}), frozenset({second}), frozenset({third}),
        )  # fmt: skip
        assert [last.ending_of(j) for j in (first, second, third)] == list(Ending)

    contract(opened, check)


def test_one_ending_takes_the_announcement(opened: Opener) -> None:
    async def check(store: BatchStore, plan: BatchPlan) -> None:
        first, second, _ = (j.job_id for j in plan.jobs)
        await store.create(plan)
        assert await store.claim_announcement(plan.key, first)
        assert not await store.claim_announcement(plan.key, second)
        assert await store.claim_announcement(plan.key, first)  # its own redelivery, before
        await store.mark_announced(plan.key)
        assert not await store.claim_announcement(plan.key, first)  # ... not after
        record = await store.get(plan.key)
        assert record is not None
        assert (record.announced_by, record.announced) == (first, True)

    contract(opened, check)


def test_jobs_listing_leaves_batch_records_out(stack: Stack) -> None:
    async def run() -> list[str]:
        async with open_clients(stack.settings) as clients:
            table = stack.settings.jobs_table
            await DynamoBatchStore(clients.dynamodb, table).create(a_plan())
            return [r.job_id for r in await DynamoJobStore(clients.dynamodb, table).recent()]

    assert asyncio.run(run()) == []


def test_a_failed_job_that_completes_after_a_redrive_counts_completed(opened: Opener) -> None:
    async def check(store: BatchStore, plan: BatchPlan) -> None:
        first = plan.jobs[0].job_id
        await store.create(plan)
        await store.record_end(plan.key, first, Ending.FAILED)
        record = await store.record_end(plan.key, first, Ending.COMPLETED)
        assert record is not None
        assert (record.completed, record.failed, record.ended) == (
            frozenset({first}),
            frozenset(),
            1,
        )

    contract(opened, check)


def test_a_batch_of_the_largest_size_fits_its_record(opened: Opener) -> None:
    async def run() -> None:
        plan = a_plan(MAX_BATCH_JOBS, chained=True)  # a thousand of them wait, kept whole
        async with opened() as store:
            assert await store.create(plan)
            for job in plan.jobs[:: MAX_BATCH_JOBS // 4]:
                await store.record_end(plan.key, job.job_id, Ending.FAILED)
            record = await store.get(plan.key)
            assert record is not None
            assert record.plan == plan
            assert record.ended == 4

    asyncio.run(run())
