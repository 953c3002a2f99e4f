"""The worker's accelerator: the probed capabilities, GPU slots per device, the circuit
breaker, and what ``/healthz`` and the metrics say about them.

One instance per worker process. Nothing here is shared with other workers: each measures
its own machine and trips its own breaker. ``GpuAccelerator`` (the Accelerator port) orders
the tiers from the probe and ``FFAPI_ACCEL``, offers the CPU alone while the breaker is
open or every GPU slot is taken, and re-probes when the breaker's cool-down ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from core.media.accel import CPU_ONLY, AccelMode, AccelTier, Capabilities, TierChoice, tier_order
from core.media.breaker import BreakerState, CircuitBreaker
from infra.metrics import ACCEL_FALLBACKS, BREAKER_OPEN, GPU_JOBS

log = structlog.get_logger("ffapi.accel")

Prober = Callable[[bool], Awaitable[Capabilities]]  # fresh: False may answer from a cache


@dataclass(frozen=True, slots=True)
class AccelConfig:
    mode: AccelMode = "auto"
    jobs_per_device: int = 2  # NVENC sessions are capped on consumer cards
    breaker_failures: int = 3
    breaker_window: float = 300.0
    breaker_cooldown: float = 600.0


class GpuSlots:
    """Jobs holding a GPU at once, per device; a job takes the least busy device."""

    def __init__(self, devices: list[int], per_device: int) -> None:
        self._busy = dict.fromkeys(devices or [0], 0)
        self._per_device = per_device

    def resized(self, devices: list[int]) -> GpuSlots:
        """The slots of a re-probed machine: jobs still running keep theirs."""
        slots = GpuSlots(devices, self._per_device)
        slots._busy.update({d: n for d, n in self._busy.items() if d in slots._busy})
        return slots

    def take(self) -> int | None:
        device = min(self._busy, key=lambda d: self._busy[d])
        if self._busy[device] >= self._per_device:
            return None
        self._busy[device] += 1
        GPU_JOBS.set(self.in_use)
        return device

    def give_back(self, device: int) -> None:
        if self._busy.get(device, 0) > 0:  # a device gone since the re-probe has no count
            self._busy[device] -= 1
        GPU_JOBS.set(self.in_use)

    @property
    def in_use(self) -> int:
        return sum(self._busy.values())

    @property
    def capacity(self) -> int:
        return len(self._busy) * self._per_device


class GpuAccelerator:
    """The Accelerator port on a machine that may have GPUs."""

    def __init__(
        self, config: AccelConfig, prober: Prober, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._prober = prober
        self._breaker = CircuitBreaker(
            config.breaker_failures, config.breaker_window, config.breaker_cooldown, clock
        )
        self._caps: Capabilities | None = None
        self._slots = GpuSlots([], config.jobs_per_device)
        self._lock = asyncio.Lock()
        self._reprobed = False  # in this half-open period

    @property
    def capabilities(self) -> Capabilities | None:
        return self._caps

    async def refresh(self, fresh: bool = True) -> Capabilities:
        """Probe again (``ffapi doctor``, worker start, the end of a breaker's cool-down)."""
        caps = await self._prober(fresh)
        self._caps = caps
        self._slots = self._slots.resized([d.index for d in caps.devices])
        log.info(
            "accel.capabilities",
            mode=self._config.mode,
            tiers=[t.value for t in self.order()],
            devices=[d.name for d in caps.devices],
            device_note=caps.device_note,
            checks={c.tier.value: c.reason or "ok" for c in caps.checks},
        )
        return caps

    def order(self) -> tuple[AccelTier, ...]:
        """The tiers a job would try now."""
        return tier_order(self._config.mode, self._caps, self._breaker.allows_gpu)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[tuple[TierChoice, ...]]:
        await self._ready()
        order = self.order()
        device = self._slots.take() if order[0].on_gpu else None
        if device is None:
            if order[0].on_gpu:
                log.info("accel.gpu_busy", in_use=self._slots.in_use)
            yield (CPU_ONLY,)
            return
        try:
            yield tuple(TierChoice(t, device if t.on_gpu else 0) for t in order)
        finally:
            self._slots.give_back(device)

    def failed(self, tier: AccelTier, reason: str) -> None:
        ACCEL_FALLBACKS.labels(tier.value, reason).inc()
        if self._breaker.record_failure():
            BREAKER_OPEN.set(1)
            self._reprobed = False
            log.error(
                "accel.breaker_open",
                reason=reason,
                threshold=self._breaker.threshold,
                window=self._breaker.window,
                cooldown=self._breaker.cooldown,
            )

    def succeeded(self, tier: AccelTier) -> None:
        if self._breaker.state is BreakerState.HALF_OPEN:
            log.info("accel.breaker_closed", tier=tier.value)
            BREAKER_OPEN.set(0)
        self._breaker.record_success()

    def health(self) -> dict[str, Any]:
        caps = self._caps
        return {
            "mode": self._config.mode,
            "tiers": [t.value for t in self.order()],
            "breaker": {
                "state": self._breaker.state.value,
                "recent_failures": self._breaker.recent_failures,
                "reopens_in": self._breaker.reopens_in,
            },
            "gpu_jobs": {"in_use": self._slots.in_use, "capacity": self._slots.capacity},
            "devices": [d.model_dump() for d in caps.devices] if caps else [],
            "checks": [c.model_dump(mode="json") for c in caps.checks] if caps else [],
        }

    async def _ready(self) -> None:
        """Probe once, lazily; and at the end of a cool-down, probe again before the GPU is
        trusted with a job (a forced tier is tried without asking the probe)."""
        if self._config.mode == "cpu":
            return  # nothing to probe: the CPU is the floor, and the only tier asked for
        async with self._lock:
            if self._caps is None:
                await self.refresh(fresh=False)
            if self._breaker.state is not BreakerState.HALF_OPEN or self._reprobed:
                return
            self._reprobed = True
            log.info("accel.breaker_half_open", cooldown=self._breaker.cooldown)
            caps = await self.refresh()
            if self._config.mode == "auto" and not any(t.on_gpu for t in caps.usable()):
                self._breaker.trip()
                self._reprobed = False
                log.error(
                    "accel.breaker_open",
                    reason="re-probe found no usable GPU tier",
                    cooldown=self._breaker.cooldown,
                )
