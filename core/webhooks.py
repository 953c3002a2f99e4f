"""Webhook endpoints: where a job's events are POSTed, and which of them.

A request may name its own endpoints (``JobRequest.webhooks``); the deployment may add global
ones (``FFAPI_WEBHOOK_ENDPOINTS``), each with its own signing secrets. Per-job endpoints are
signed with the deployment's ``FFAPI_WEBHOOK_SECRETS``: a secret never travels in a message.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from core.events import EventType

# http(s) only, no whitespace or control characters; where it may point is checked on delivery.
WebhookUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://[\x21-\x7e]+$")
]
MAX_JOB_WEBHOOKS = 4


class WebhookTarget(BaseModel):
    """A per-job endpoint, as a request names it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    url: WebhookUrl
    # The event types to deliver; None: every type.
    events: (
        Annotated[
            tuple[Annotated[EventType, Field(strict=False)], ...],
            Field(strict=False, min_length=1),
        ]
        | None
    ) = None

    def wants(self, type_: EventType) -> bool:
        return self.events is None or type_ in self.events


class WebhookEndpoint(WebhookTarget):
    """A deployment-wide endpoint: every job's events, signed with its own secrets (several
    while one is rotated out; each signs, and the receiver accepts any it knows)."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    secrets: Annotated[tuple[SecretStr, ...], Field(min_length=1)]
