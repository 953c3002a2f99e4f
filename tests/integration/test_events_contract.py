"""The EventPublisher port's contract, held by both of its adapters: SNS (moto's server, over
HTTP, read back from a queue subscribed with raw delivery, as a consumer has it) and the
in-memory publisher shipped with the worker (``infra.memory.MemoryEvents``, read back from
its list), which the dispatcher's unit tests run on (``tests/unit/fakes.FakeEvents``): what
is published arrives whole, CloudEvents JSON within the contract, once each.

Where they differ, by design: SNS's message attributes and subscription filter policies
(``test_events_topic.py``, ``test_delivery.py``) and its order (a standard queue does not
keep it; the memory list does) are not compared."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.ports import EventPublisher
from infra.aws import open_clients
from infra.memory import MemoryEvents
from infra.notify import SnsPublisher
from tests.event_contract import check_event

from .conftest import Stack, drain_events, subscribe_queue

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONTEXT = {"input": {"bucket": "in-bucket", "key": "clip.mp4"}, "preset": "web-hls", "attempt": 1}
_: EventPublisher = MemoryEvents()  # mypy holds the memory publisher to the port


@dataclass
class Rig:
    publisher: EventPublisher
    received: Callable[[], list[dict[str, Any]]]  # what a subscriber has read, parsed


Opener = Callable[[], AbstractAsyncContextManager[Rig]]


@pytest.fixture(params=["sns", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    @asynccontextmanager
    async def sns() -> AsyncIterator[Rig]:
        url = subscribe_queue(stack)
        async with open_clients(stack.settings) as clients:
            publisher = SnsPublisher(clients.sns, stack.resources.topic_arn)
            yield Rig(publisher, lambda: drain_events(stack, url))

    @asynccontextmanager
    async def memory() -> AsyncIterator[Rig]:
        events = MemoryEvents()
        yield Rig(events, lambda: [check_event(e.to_json()) for e in events.published])

    return sns if request.param == "sns" else memory


def contract(opened: Opener, check: Callable[[Rig], Awaitable[None]]) -> None:
    async def run() -> None:
        async with opened() as rig:
            await check(rig)

    asyncio.run(run())


def test_published_events_arrive_whole_once_each(opened: Opener) -> None:
    async def check(rig: Rig) -> None:
        started = job_event(EventType.STARTED, "j-0123456789abcdef01234567", NOW, CONTEXT, 1)
        failed = job_event(
            EventType.FAILED, "j-0123456789abcdef01234567", NOW,
            {**CONTEXT, "error": {"code": "invalid_media", "message": "x", "retryable": False}},
            1,
        )  # fmt: skip
        await rig.publisher.publish(started)
        await rig.publisher.publish(failed)
        received = sorted(rig.received(), key=lambda e: str(e["type"]))
        assert [CloudEvent.model_validate(e) for e in received] == [failed, started]
        assert [json.dumps(e, sort_keys=True) for e in received] == [
            json.dumps(json.loads(e.to_json()), sort_keys=True) for e in (failed, started)
        ]

    contract(opened, check)
