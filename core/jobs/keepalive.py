"""Keeping a running job's claims alive: its message's visibility (the worker's heartbeat) and
its lease in the job store (the dispatcher's renewal). Each is held for a period and renewed
every third of it, so a renewal may fail twice before the claim runs out.

What matters is that the claims do not run out after the store is back. A failed renewal
that waited a whole interval for the next one, or one left in the SDK's retry backoff
(infra.aws: sleeps of up to 1, 2, 4, 8 and 16 s between attempts), came back seconds after
the store did: in the chaos suite a 6 s outage, shorter than the lease, left the message
visible for a second or more, and another worker found the lease 0.8 s, then 0 s, from
lapsing (it would have taken over a healthy job and encoded it again). So a renewal gets
``MAX_WAIT_SECONDS`` and one that failed is tried again a second later: once the store is
back, the claims are renewed within about 3 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from core.errors import FfapiError

log = structlog.get_logger("ffapi.keepalive")

RETRY_SECONDS = 1.0  # after a failed renewal: the store may be back by then
# A renewal unanswered by then is waiting in the SDK's backoff, not on the store (SQS and
# DynamoDB answer in milliseconds): it is abandoned and tried afresh.
MAX_WAIT_SECONDS = 2.0

Renewal = Callable[[], Awaitable[bool]]  # False: the claim is lost (another holder)
Sleep = Callable[[float], Awaitable[None]]


async def keep_alive(
    renew: Renewal,
    interval: float,
    failed: str,
    *,
    first: float | None = None,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Call ``renew`` every ``interval`` seconds (the first after ``first``, by default an
    interval) until it returns False. A renewal that raises, or is unanswered after
    ``min(interval, MAX_WAIT_SECONDS)``, is logged as ``failed`` and tried again after
    ``RETRY_SECONDS``."""
    delay = interval if first is None else first
    while True:
        await sleep(delay)
        delay = min(RETRY_SECONDS, interval)  # unless this renewal is answered
        try:
            async with asyncio.timeout(min(interval, MAX_WAIT_SECONDS)):
                if not await renew():
                    return
            delay = interval
        except FfapiError as exc:
            log.warning(failed, code=exc.code, reason=exc.message)
        except TimeoutError:
            log.warning(failed, code="timeout", reason="no answer; trying again")
