"""The Queue port's contract, held by both of its adapters: SQS (moto's server, over HTTP)
and the in-memory queue shipped for tests (``infra.memory``). The consumer loop's unit tests
run on the second; this is what lets them speak for the first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from core.errors import FfapiError
from core.ports import Queue
from infra.aws import open_clients
from infra.memory import MemoryQueue
from infra.queue import SqsQueue

from .conftest import Stack

pytestmark = pytest.mark.integration

VISIBILITY = 30
Opener = Callable[[], AbstractAsyncContextManager[Queue]]


@pytest.fixture(params=["sqs", "memory"])
def opened(request: pytest.FixtureRequest, stack: Stack) -> Opener:
    return queue_opener(request.param, stack)


def queue_opener(kind: str, stack: Stack) -> Opener:
    """A fresh queue of ``kind``: an SQS queue on moto's server, or the in-memory one."""

    @asynccontextmanager
    async def sqs() -> AsyncIterator[Queue]:
        name = f"contract-{uuid.uuid4().hex[:8]}"
        url = stack.client("sqs").create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY)}
        )["QueueUrl"]
        async with open_clients(stack.settings) as clients:
            yield SqsQueue(clients.sqs, url)

    @asynccontextmanager
    async def memory() -> AsyncIterator[Queue]:
        yield MemoryQueue(VISIBILITY)

    return sqs if kind == "sqs" else memory


def contract(opened: Opener, check: Callable[[Queue], Awaitable[None]]) -> None:
    async def run() -> None:
        async with opened() as queue:
            await check(queue)

    asyncio.run(run())


def test_a_sent_message_is_received_once_then_hidden(opened: Opener) -> None:
    async def check(queue: Queue) -> None:
        sent = await queue.send('{"hello": "world"}')
        [got] = await queue.receive(10, 1)
        assert (got.message.message_id, got.message.body) == (sent, '{"hello": "world"}')
        assert got.message.receive_count == 1
        assert got.sent_at is not None
        assert await queue.receive(10, 0) == []  # hidden for the visibility timeout

    contract(opened, check)


def test_a_released_message_is_delivered_again_with_its_count(
    opened: Opener,
) -> None:
    async def check(queue: Queue) -> None:
        await queue.send("again")
        [first] = await queue.receive(1, 1)
        await queue.release(first)
        [second] = await queue.receive(1, 1)
        assert second.message.message_id == first.message.message_id
        assert second.message.receive_count == 2
        assert second.receipt_handle != first.receipt_handle  # each receipt its own

    contract(opened, check)


def test_an_extension_that_runs_out_makes_it_visible_again(opened: Opener) -> None:
    async def check(queue: Queue) -> None:
        await queue.send("short")
        [got] = await queue.receive(1, 1)
        await queue.extend(got, 1)  # the holder shortened it: one second from now
        assert await queue.receive(1, 0) == []
        again = await queue.receive(1, 5)  # a long poll sees it come back
        assert [d.message.receive_count for d in again] == [2]

    contract(opened, check)


def test_a_deleted_message_is_gone(opened: Opener) -> None:
    async def check(queue: Queue) -> None:
        await queue.send("done")
        [got] = await queue.receive(1, 1)
        await queue.delete(got)
        await queue.delete(got)  # twice: harmless
        with pytest.raises(FfapiError):  # a beat for a message that is gone: said
            await queue.extend(got, VISIBILITY)
        assert await queue.receive(10, 1) == []

    contract(opened, check)


def test_a_long_poll_returns_a_message_sent_while_it_waits(opened: Opener) -> None:
    async def check(queue: Queue) -> None:
        poll = asyncio.create_task(queue.receive(1, 10))
        await asyncio.sleep(0.3)
        await queue.send("late")
        got = await asyncio.wait_for(poll, 15)
        assert [d.message.body for d in got] == ["late"]

    contract(opened, check)


def test_a_receive_takes_at_most_what_it_asks_for(opened: Opener) -> None:
    async def check(queue: Queue) -> None:
        for n in range(3):
            await queue.send(str(n))
        got = await queue.receive(2, 1)
        assert 1 <= len(got) <= 2
        rest = await queue.receive(10, 1)
        assert sorted(d.message.body for d in [*got, *rest]) == ["0", "1", "2"]

    contract(opened, check)
