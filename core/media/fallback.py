"""Running one encode down the accelerator tiers, within one attempt.

The job is planned for the first tier its session offers. A failure with a GPU-class cause
(:func:`core.media.accel.fallback_reason`) discards whatever the failed run wrote, re-plans on the
next tier that can help and runs again from the same downloaded input; any other failure is
the job's, and is raised at once. Every step down is reported to the accelerator (its
circuit breaker and metrics) and recorded for ``job.json``. A tier the job cannot run on
(its encoder is not in the build) is left out, never tried. :class:`CpuOnly` is the
Accelerator of a machine without GPU tiers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from core.errors import FfapiError
from core.media.accel import (
    CPU_ONLY,
    AccelTier,
    TierChoice,
    TierFailure,
    fallback_reason,
    next_tier,
)
from core.ports import Accelerator

log = structlog.get_logger("ffapi.fallback")
T = TypeVar("T")


@dataclass(slots=True)
class TierRun(Generic[T]):
    result: T
    tier: AccelTier
    fallbacks: list[TierFailure] = field(default_factory=list)

    @property
    def fallback_reason(self) -> str | None:
        """Why the job left the tier it started on."""
        return self.fallbacks[0].reason if self.fallbacks else None


async def run_on_tiers(
    accel: Accelerator,
    attempt: Callable[[TierChoice], Awaitable[T]],
    discard: Callable[[], Awaitable[None]],
    can_run: Callable[[AccelTier], bool] = lambda _: True,
) -> TierRun[T]:
    """``can_run``: whether the job can run on a tier at all (its encoder is in the build);
    a tier that cannot is left out of the order, never tried (nor counted as a failure)."""
    async with accel.session() as offered:
        choices = tuple(c for c in offered if can_run(c.tier)) or (CPU_ONLY,)
        order = tuple(c.tier for c in choices)
        fallbacks: list[TierFailure] = []
        choice = choices[0]
        while True:
            try:
                result = await attempt(choice)
            except FfapiError as exc:
                reason = fallback_reason(exc, choice.tier)
                if reason is None:
                    raise
                accel.failed(choice.tier, reason)
                nxt = next_tier(order, choice.tier, reason)
                if nxt is None:
                    raise
                log.warning(
                    "job.fallback",
                    tier=choice.tier.value,
                    to=nxt.value,
                    reason=reason,
                    error=exc.message,
                )
                fallbacks.append(TierFailure(tier=choice.tier, reason=reason, message=exc.message))
                await discard()  # partial segments of the failed run must not be published
                choice = next(c for c in choices if c.tier is nxt)
                continue
            if choice.tier.on_gpu:
                accel.succeeded(choice.tier)
            return TierRun(result, choice.tier, fallbacks)


class CpuOnly:
    """The Accelerator of a machine without GPU tiers (Lambda, or ``FFAPI_ACCEL=cpu``)."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[tuple[TierChoice, ...]]:
        yield (CPU_ONLY,)

    def failed(self, tier: AccelTier, reason: str) -> None:
        pass  # the CPU tier has no GPU-class failures

    def succeeded(self, tier: AccelTier) -> None:
        pass
