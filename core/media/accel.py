"""Accelerator tiers: what the machine can do, which tiers a job tries, and when to fall back.

Three tiers run the same job plan::

    gpu         NVDEC decode, scale_cuda, NVENC encode        (g4dn, g5, g6: NVENC present)
    gpu-decode  NVDEC decode, scale_cuda, CPU encode          (p4, p5: NVDEC, no NVENC)
    cpu         software decode, scale, libx264/libx265       (everywhere; the floor)

A job starts on the best tier that passed its test encode (or the one ``FFAPI_ACCEL``
forces) and walks down on a GPU-class failure, in the same attempt, from the same input.
Which failures are GPU-class is decided by their text (:mod:`core.media.diagnose`), never by an
exit code. An NVENC cause (``NVENC_REASONS``) tries ``gpu-decode`` next; a CUDA cause goes
straight to the CPU (:func:`next_tier`). :func:`tier_order` gives the tiers a job tries:
the probe's verdicts or the forced tier, and the CPU alone while the breaker is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from core.errors import AcceleratorFailed, FfapiError, QcFailed
from core.events.scrub import scrub


class AccelTier(StrEnum):
    GPU = "gpu"
    GPU_DECODE = "gpu-decode"
    CPU = "cpu"

    @property
    def on_gpu(self) -> bool:
        return self is not AccelTier.CPU


TIERS: tuple[AccelTier, ...] = (AccelTier.GPU, AccelTier.GPU_DECODE, AccelTier.CPU)
AccelMode = Literal["auto", "gpu", "gpu-decode", "cpu"]

# GPU-class causes, by stable name (the `reason` of AcceleratorFailed and of a fallback).
# The NVENC ones leave NVDEC usable, so gpu-decode is worth a try; the others mean CUDA
# itself is unusable, and the next tier that can help is the CPU.
NVENC_REASONS = frozenset({"nvenc_unavailable", "nvenc_session_failed", "gpu_output_qc"})
QC_ON_GPU = "gpu_output_qc"  # a GPU tier's package failed QC: the CPU's may not


@dataclass(frozen=True, slots=True)
class TierChoice:
    """A tier to plan for, and on a GPU tier the CUDA device index its job holds."""

    tier: AccelTier
    device: int = 0


CPU_ONLY = TierChoice(AccelTier.CPU)


class Device(BaseModel):
    index: int
    name: str
    driver: str | None = None
    memory_mib: int | None = None


class TierCheck(BaseModel):
    """One tier's verdict: a real one-second encode on it passed, or why it was not usable."""

    tier: AccelTier
    ok: bool
    reason: str | None = None  # why not: a missing part, or the test encode's failure
    seconds: float | None = None  # the test encode's wall time


class Capabilities(BaseModel):
    """What the machine and the ffmpeg build offer, measured at start and on refresh."""

    devices: list[Device] = Field(default_factory=list)
    device_note: str | None = None  # why no device is listed
    ffmpeg_version: str = ""
    nvenc_encoders: list[str] = Field(default_factory=list)
    cuvid_decoders: list[str] = Field(default_factory=list)
    hwaccels: list[str] = Field(default_factory=list)
    cuda_filters: list[str] = Field(default_factory=list)
    checks: list[TierCheck] = Field(default_factory=list)
    probed_at: datetime | None = None

    def passed(self, tier: AccelTier) -> bool:
        return any(c.tier is tier and c.ok for c in self.checks)

    def usable(self) -> tuple[AccelTier, ...]:
        """Tiers whose test encode passed, best first; the CPU is always last."""
        return (*(t for t in TIERS if t.on_gpu and self.passed(t)), AccelTier.CPU)


def tier_order(
    mode: AccelMode, caps: Capabilities | None, gpu_allowed: bool
) -> tuple[AccelTier, ...]:
    """The tiers a job tries, in order. A forced tier is tried whatever the probe said (an
    operator asked for it) and falls back like any other; the circuit breaker
    (``gpu_allowed=False``) overrides both and leaves the CPU alone."""
    if not gpu_allowed or mode == "cpu":
        return (AccelTier.CPU,)
    if mode != "auto":
        start = TIERS.index(AccelTier(mode))
        return TIERS[start:]
    return caps.usable() if caps is not None else (AccelTier.CPU,)


def fallback_reason(error: FfapiError, tier: AccelTier) -> str | None:
    """Why a failed encode on ``tier`` should be run again lower down; None when it should
    not (a corrupt input or a timeout fails the same way everywhere: no doubled work)."""
    if not tier.on_gpu:
        return None
    if isinstance(error, AcceleratorFailed):
        return error.reason
    if isinstance(error, QcFailed):
        return QC_ON_GPU  # NVENC output that fails our checks: the CPU's may pass them
    return None


def next_tier(order: tuple[AccelTier, ...], tier: AccelTier, reason: str) -> AccelTier | None:
    """The tier after ``tier`` that can help with ``reason``: with CUDA itself broken,
    gpu-decode would fail the same way, so it is skipped."""
    rest = order[order.index(tier) + 1 :]
    if reason not in NVENC_REASONS:
        rest = tuple(t for t in rest if not t.on_gpu)
    return rest[0] if rest else None


class TierFailure(BaseModel):
    """A tier the job left, and why (``job.json``'s ``fallbacks``)."""

    tier: AccelTier
    reason: str
    message: str  # the tool's words, scrubbed: job.json and events carry it

    @field_validator("message")
    @classmethod
    def _public(cls, message: str) -> str:
        return scrub(message)  # the job.fallback log line keeps it raw
