"""One announcement, every channel: SNS first (the queue message waits for it), then webhooks
(in the background: a slow or failing endpoint never holds up a job or the queue)."""

from __future__ import annotations

from collections.abc import Sequence

from core.events.cloudevent import CloudEvent
from core.events.webhooks import WebhookTarget
from core.ports import EventPublisher, WebhookSender


class NoWebhooks:
    """A deployment without webhook delivery (no endpoints, nothing to sign with)."""

    def send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        return None


class Announcer:
    def __init__(self, events: EventPublisher, hooks: WebhookSender | None = None) -> None:
        self._events = events
        self._hooks = hooks or NoWebhooks()

    async def announce(self, event: CloudEvent, targets: Sequence[WebhookTarget] = ()) -> None:
        """Raises what the topic raises (StorageUnavailable); then the event is handed to the
        webhooks, so an event that failed to publish is not delivered until it is re-sent
        (under the same id)."""
        await self._events.publish(event)
        self._hooks.send(event, targets)
