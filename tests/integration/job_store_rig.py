"""The job store's two adapters opened alike for its contract tests: DynamoDB (moto's server,
over HTTP, the stack's table) and ``infra.memory_jobs.MemoryJobStore``, each on one settable
clock (epoch seconds)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from core.jobs.results import JobResult, SourceInfo
from core.models import JobRequest, OutputLocation, S3ObjectRef
from core.ports import JobStore
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore
from infra.memory_jobs import MemoryJobStore
from tests.unit.fakes import NOW

from .conftest import Stack

LEASE = 60
REQUEST = JobRequest(input=S3ObjectRef(bucket="in-bucket", key="clip.mp4"), preset="web-hls")
_: JobStore = MemoryJobStore()  # mypy holds the memory store to the port


@dataclass
class Clock:
    now: float = 1_000.0


@dataclass
class Rig:
    store: DynamoJobStore | MemoryJobStore  # both: `recent` is beside the port
    clock: Clock

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds


Opener = Callable[..., AbstractAsyncContextManager[Rig]]


def opener(kind: str, stack: Stack) -> Opener:
    """``kind``: "dynamodb" or "memory"; the opener takes ``keep_days`` (default 0)."""

    @asynccontextmanager
    async def dynamodb(keep_days: int = 0) -> AsyncIterator[Rig]:
        clock = Clock()
        async with open_clients(stack.settings) as clients:
            table = stack.settings.jobs_table
            store = DynamoJobStore(clients.dynamodb, table, lambda: clock.now, keep_days=keep_days)
            yield Rig(store, clock)

    @asynccontextmanager
    async def memory(keep_days: int = 0) -> AsyncIterator[Rig]:
        clock = Clock()
        yield Rig(MemoryJobStore(lambda: clock.now, keep_days=keep_days), clock)

    return dynamodb if kind == "dynamodb" else memory


def contract(opened: Opener, check: Callable[[Rig, str], Awaitable[None]], **options: int) -> None:
    async def run() -> None:
        async with opened(**options) as rig:
            await check(rig, f"j-{uuid.uuid4().hex[:12]}")

    asyncio.run(run())


def result(job_id: str, attempt: int) -> JobResult:
    return JobResult(
        job_id=job_id,
        input=REQUEST.input,
        preset="web-hls",
        output=OutputLocation(bucket="out-bucket", prefix="outputs"),
        source=SourceInfo(format="mov", duration=2.0, size=1000),
        outputs=[],
        encoder="libx264",
        attempt=attempt,
        started_at=NOW,
        completed_at=NOW,
    )
