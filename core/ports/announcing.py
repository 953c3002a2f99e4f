"""Where events go: the topic and the webhooks (:mod:`core.ports`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.events.cloudevent import CloudEvent
from core.events.webhooks import WebhookTarget


class EventPublisher(Protocol):
    async def publish(self, event: CloudEvent) -> None: ...


class WebhookSender(Protocol):
    def send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        """Deliver ``event`` to ``targets`` (the job's own endpoints) and the deployment's, in
        the background: it never raises and never waits for a delivery."""
        ...
