"""The jobs queue as a batch's fan-out sends on it, where the worker holds no queue of its own
(Lambda: the event source mapping reads it): its URL resolved on the first send only, so a
worker that never meets a batch never asks for it."""

from __future__ import annotations

from typing import Any

from infra.queue import SqsQueue


class QueueSender:
    def __init__(self, sqs: Any, name_or_url: str) -> None:
        self._sqs = sqs
        self._name = name_or_url
        self._queue: SqsQueue | None = None

    async def send(self, body: str) -> str:
        if self._queue is None:
            self._queue = await SqsQueue.open(self._sqs, self._name)
        return await self._queue.send(body)
