"""A delivery that finds its own message's earlier delivery holding the job's lease waits the
lease out in place, then claims once more: BUSY kept off the queue's receive budget.

That earlier delivery's worker died mid-job (kill -9, a lost host): its lease runs on for up
to a lease period after the message reappears. Handed back BUSY, the message would spend a
receive on a job that nobody ran, and a job whose workers keep dying would reach the DLQ
having run fewer attempts than ``maxReceiveCount``. Waiting here costs one slot for at most
one lease; the wait shows life (``core.jobs.pulse``), so the heartbeat keeps the message hidden
meanwhile. A lease that is still held after the wait belongs to a worker that is alive and
renewing it: the delivery goes back BUSY, as before. Only a delivery of the carrier itself
waits: a duplicate message is dropped at once (core.jobs.dispatch).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from core.jobs import pulse
from core.jobs.keepalive import Sleep
from core.ports import Claim

log = structlog.get_logger("ffapi.dispatch")

BEAT_SECONDS = 1.0  # the wait shows life this often: a stall time may be shorter than a lease
MARGIN_SECONDS = 1.0  # leases are stored in whole seconds


async def claim_after_lease(
    claim: Claim,
    carrier: str,
    most: float,
    again: Callable[[], Awaitable[Claim]],
    sleep: Sleep,
) -> Claim:
    """``claim`` itself unless it is BUSY under ``carrier`` with at most ``most`` seconds of
    lease left; else, after that lease, ``again()``."""
    if claim.outcome != "busy" or claim.carrier != carrier or claim.lease_remaining > most:
        return claim
    left = claim.lease_remaining + MARGIN_SECONDS
    log.info("job.lease_awaited", lease_remaining=round(claim.lease_remaining, 1))
    while left > 0:
        pulse.beat()
        step = min(BEAT_SECONDS, left)
        await sleep(step)
        left -= step
    return await again()
