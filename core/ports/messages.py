"""The jobs queue and its dead letters: messages, deliveries, and where a batch sends its
jobs (:mod:`core.ports`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.models import Priority


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class Delivery:
    """One receipt of a message: the handle that settles it is this receipt's alone."""

    message: QueueMessage
    receipt_handle: str
    sent_at: datetime | None = None  # when the queue took it: queue lag is measured from it
    # Which of the worker's queues it came from (core.jobs.priority): settled there.
    queue: str = ""


class Queue(Protocol):
    """The jobs queue: at-least-once, each receipt hidden from other consumers for a
    visibility timeout that the holder extends, or shortens to hand the message back."""

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        """Up to ``max_messages``, waiting up to ``wait_seconds`` for the first."""
        ...

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        """Keep it hidden for ``seconds`` from now (the holder is still at work)."""
        ...

    async def release(self, delivery: Delivery, delay: int = 0) -> None:
        """Let it be delivered again after ``delay`` seconds (to any consumer)."""
        ...

    async def delete(self, delivery: Delivery) -> None: ...

    async def send(self, body: str) -> str:
        """Enqueue a message; its id."""
        ...

    async def requeue(self, delivery: Delivery, delay: int) -> None:
        """Send a fresh copy of the message to the queue it came from, hidden for ``delay``
        seconds (0..900), then delete this receipt: a wait that spends no receive count."""
        ...


class DeadLetterQueue(Protocol):
    """The jobs queue's dead-letter queue, read without taking it apart."""

    async def visit(self, limit: int, visitor: Callable[[QueueMessage], Awaitable[None]]) -> int:
        """Hand up to ``limit`` dead letters, one at a time, to ``visitor`` while they are
        hidden from other readers; each stays in the queue, visible again once its page is
        visited. How many were visited."""
        ...


class JobSender(Protocol):
    """Where a batch's jobs are sent: the queue of each job's priority class (the jobs queue
    for ``normal``, core.jobs.priority)."""

    async def send_job(self, body: str, priority: Priority) -> str:
        """Enqueue one job's request; its message id."""
        ...
