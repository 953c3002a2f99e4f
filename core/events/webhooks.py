"""Webhook endpoints: where a job's events are POSTed, and which of them.

A request may name its own endpoints (``JobRequest.webhooks``); the deployment may add global
ones (``FFAPI_WEBHOOK_ENDPOINTS``), each with its own signing secrets. Per-job endpoints are
signed with the deployment's ``FFAPI_WEBHOOK_SECRETS``: a secret never travels in a message.

Deliveries are signed as Standard Webhooks (https://www.standardwebhooks.com/) sign them:
HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` with the key a ``whsec_`` secret
encodes, one ``v1,<base64>`` signature per secret in ``webhook-signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from core.events.cloudevent import EventType

# http(s) only, no whitespace or control characters; where it may point: core/events/destinations.py
# (webhook_url_problem before anything is sent, each resolved address on delivery).
WebhookUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://[\x21-\x7e]+$")
]
MAX_JOB_WEBHOOKS = 4

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
# The spec's bounds for an HMAC key: at least 192 bits, at most 512.
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


class WebhookSecretError(ValueError):
    """A signing secret that is not ``whsec_`` + base64 of a 24 to 64 byte key. The message
    never repeats the secret."""


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret encodes."""
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretError(f"a webhook secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError(
            f"a webhook secret must be {SECRET_PREFIX!r} followed by standard base64"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise WebhookSecretError(
            f"a webhook secret's key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
            f"not {len(key)}"
        )
    return key


def _checked(secret: SecretStr) -> SecretStr:
    secret_key(secret.get_secret_value())
    return secret


# A signing secret, refused where it is configured (settings load) rather than at first use.
WebhookSecret = Annotated[SecretStr, AfterValidator(_checked)]


def signature_headers(
    secrets: Sequence[SecretStr], msg_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt; one signature per secret, so a
    receiver holding either key while it is rotated verifies."""
    if not secrets:
        raise WebhookSecretError("nothing to sign with: no webhook secret configured")
    if "." in msg_id:  # the signed content is dot-delimited: an id must not shift its parts
        raise ValueError("a webhook id must not contain '.'")
    content = f"{msg_id}.{timestamp}.{body}".encode()
    signatures = (
        hmac.new(secret_key(s.get_secret_value()), content, hashlib.sha256).digest()
        for s in secrets
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(f"v1,{base64.b64encode(sig).decode()}" for sig in signatures),
    }


def without_query(url: str) -> str:
    """``url`` as logs and job records show it: scheme, host and path. A query, a fragment
    or user info may carry a token."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


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

    secrets: Annotated[tuple[WebhookSecret, ...], Field(min_length=1)]
