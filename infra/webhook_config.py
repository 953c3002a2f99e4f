"""What webhook delivery is configured with, read from the settings, and the destination
policy each kind of delivery is judged by: a job's own webhooks never get private addresses,
the deployment's endpoints may (``FFAPI_WEBHOOK_ENDPOINTS_ALLOW_PRIVATE``)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from core.events.destinations import DestinationPolicy
from core.events.webhooks import WebhookEndpoint
from infra.setting_groups import EventSettings


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secrets: tuple[SecretStr, ...] = ()  # sign the jobs' own endpoints
    endpoints: tuple[WebhookEndpoint, ...] = ()  # every job's events, each its own secrets
    deadline: float = 600.0
    backoff_base: float = 1.0
    backoff_max: float = 120.0
    timeout: float = 10.0
    allow_loopback: bool = False  # development only: http:// and loopback destinations
    endpoints_allow_private: bool = False  # the deployment's endpoints only, never a job's

    @classmethod
    def from_settings(cls, settings: EventSettings) -> WebhookConfig:
        return cls(
            secrets=tuple(settings.webhook_secrets),
            endpoints=tuple(settings.webhook_endpoints),
            deadline=settings.webhook_deadline,
            backoff_base=settings.webhook_backoff_base,
            backoff_max=settings.webhook_backoff_max,
            timeout=settings.webhook_timeout,
            allow_loopback=settings.webhook_allow_loopback,
            endpoints_allow_private=settings.webhook_endpoints_allow_private,
        )

    def policy(self, configured: bool) -> DestinationPolicy:
        """Where a delivery may go: a deployment endpoint's (``configured``) or a job's."""
        private = configured and self.endpoints_allow_private
        return DestinationPolicy(allow_loopback=self.allow_loopback, allow_private=private)
