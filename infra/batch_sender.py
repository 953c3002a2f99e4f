"""The queues a batch's fan-out sends its jobs on, one per priority class
(``core.jobs.priority``): each URL resolved on its first send only, so a worker that never
meets a batch never asks for one (Lambda holds no queue of its own: its event source
mappings read them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.models import Priority
from infra.queue import SqsQueue


class QueueSender:
    def __init__(self, sqs: Any, names: Mapping[Priority, str]) -> None:
        self._sqs = sqs
        self._names = dict(names)  # name or URL of each class's queue
        self._queues: dict[Priority, SqsQueue] = {}

    async def send_job(self, body: str, priority: Priority) -> str:
        queue = self._queues.get(priority)
        if queue is None:
            queue = self._queues[priority] = await SqsQueue.open(self._sqs, self._names[priority])
        return await queue.send(body)
