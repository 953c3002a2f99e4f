"""core.media.fallback.run_on_tiers: one encode walked down the tiers its session offers, within one
attempt, on an in-memory Accelerator and a scripted attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from core.errors import AcceleratorFailed, FfapiError, InvalidMedia
from core.media.accel import CPU_ONLY, AccelTier, TierChoice, TierFailure
from core.media.fallback import CpuOnly, TierRun, run_on_tiers
from core.ports import Accelerator

GPU, GPU_DECODE, CPU = AccelTier.GPU, AccelTier.GPU_DECODE, AccelTier.CPU
EVERY_TIER = (TierChoice(GPU, 0), TierChoice(GPU_DECODE, 0), CPU_ONLY)


class FakeAccelerator:
    """Offers a fixed tuple of choices; records what the fallback reports."""

    def __init__(self, choices: tuple[TierChoice, ...] = EVERY_TIER) -> None:
        self.choices = choices
        self.sessions = 0
        self.open_sessions = 0
        self.failures: list[tuple[AccelTier, str]] = []
        self.successes: list[AccelTier] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[tuple[TierChoice, ...]]:
        self.sessions += 1
        self.open_sessions += 1
        try:
            yield self.choices
        finally:
            self.open_sessions -= 1

    def failed(self, tier: AccelTier, reason: str) -> None:
        self.failures.append((tier, reason))

    def succeeded(self, tier: AccelTier) -> None:
        self.successes.append(tier)


class Script:
    """An attempt that raises the error scripted for its tier, else returns "<tier> ok"; and
    a discard that counts its calls."""

    def __init__(self, errors: dict[AccelTier, FfapiError] | None = None) -> None:
        self.errors = errors or {}
        self.calls: list[TierChoice] = []
        self.discards = 0

    async def attempt(self, choice: TierChoice) -> str:
        self.calls.append(choice)
        if choice.tier in self.errors:
            raise self.errors[choice.tier]
        return f"{choice.tier.value} ok"

    async def discard(self) -> None:
        self.discards += 1


def run(accel: Accelerator, script: Script) -> TierRun[str]:
    return asyncio.run(run_on_tiers(accel, script.attempt, script.discard))


def gpu_failure(reason: str) -> AcceleratorFailed:
    return AcceleratorFailed(f"ffmpeg failed: {reason} happened", reason=reason)


def test_the_fake_satisfies_the_port() -> None:
    accel: Accelerator = FakeAccelerator()  # mypy checks the protocol
    assert accel is not None


def test_first_tier_success_runs_once_without_fallback() -> None:
    accel, script = FakeAccelerator(), Script()
    outcome = run(accel, script)
    assert (outcome.result, outcome.tier) == ("gpu ok", GPU)
    assert outcome.fallbacks == []
    assert outcome.fallback_reason is None
    assert [c.tier for c in script.calls] == [GPU]
    assert accel.successes == [GPU]
    assert (accel.failures, script.discards, accel.open_sessions) == ([], 0, 0)


def test_cuda_unavailable_on_gpu_skips_gpu_decode_and_runs_on_the_cpu() -> None:
    accel, script = FakeAccelerator(), Script({GPU: gpu_failure("cuda_unavailable")})
    outcome = run(accel, script)
    assert [c.tier for c in script.calls] == [GPU, CPU]
    assert (outcome.result, outcome.tier) == ("cpu ok", CPU)
    assert outcome.fallbacks == [
        TierFailure(
            tier=GPU, reason="cuda_unavailable", message="ffmpeg failed: cuda_unavailable happened"
        )
    ]
    assert outcome.fallback_reason == "cuda_unavailable"
    assert script.discards == 1
    assert accel.failures == [(GPU, "cuda_unavailable")]
    assert accel.successes == []  # a CPU success says nothing about the GPU


def test_nvenc_unavailable_on_gpu_tries_gpu_decode() -> None:
    accel, script = FakeAccelerator(), Script({GPU: gpu_failure("nvenc_unavailable")})
    outcome = run(accel, script)
    assert [c.tier for c in script.calls] == [GPU, GPU_DECODE]
    assert (outcome.result, outcome.tier) == ("gpu-decode ok", GPU_DECODE)
    assert outcome.fallback_reason == "nvenc_unavailable"
    assert accel.failures == [(GPU, "nvenc_unavailable")]
    assert accel.successes == [GPU_DECODE]
    assert script.discards == 1


def test_two_failures_walk_the_whole_chain_in_order() -> None:
    errors: dict[AccelTier, FfapiError] = {
        GPU: gpu_failure("nvenc_session_failed"),
        GPU_DECODE: gpu_failure("gpu_out_of_memory"),
    }
    accel, script = FakeAccelerator(), Script(errors)
    outcome = run(accel, script)
    assert [c.tier for c in script.calls] == [GPU, GPU_DECODE, CPU]
    assert outcome.tier is CPU
    assert [(f.tier, f.reason) for f in outcome.fallbacks] == [
        (GPU, "nvenc_session_failed"),
        (GPU_DECODE, "gpu_out_of_memory"),
    ]
    assert outcome.fallback_reason == "nvenc_session_failed"  # where it started
    assert script.discards == 2
    assert accel.failures == [(GPU, "nvenc_session_failed"), (GPU_DECODE, "gpu_out_of_memory")]
    assert accel.successes == []


def test_a_failure_of_the_input_on_gpu_is_raised_as_is() -> None:
    bad = InvalidMedia("ffmpeg failed: not a readable media file")
    accel, script = FakeAccelerator(), Script({GPU: bad})
    with pytest.raises(InvalidMedia) as raised:
        run(accel, script)
    assert raised.value is bad
    assert [c.tier for c in script.calls] == [GPU]
    assert script.discards == 0
    assert accel.failures == []
    assert accel.successes == []
    assert accel.open_sessions == 0  # the session (and its GPU slot) was released


def test_an_accelerator_failure_on_the_cpu_tier_is_raised() -> None:
    failure = gpu_failure("cuda_unavailable")
    accel, script = FakeAccelerator((CPU_ONLY,)), Script({CPU: failure})
    with pytest.raises(AcceleratorFailed) as raised:
        run(accel, script)
    assert raised.value is failure
    assert [c.tier for c in script.calls] == [CPU]
    assert (script.discards, accel.failures, accel.successes) == (0, [], [])


def test_an_accelerator_failure_with_no_tier_left_is_raised_after_being_counted() -> None:
    failure = gpu_failure("cuda_error")
    accel, script = FakeAccelerator((TierChoice(GPU, 0),)), Script({GPU: failure})
    with pytest.raises(AcceleratorFailed) as raised:
        run(accel, script)
    assert raised.value is failure
    assert accel.failures == [(GPU, "cuda_error")]
    assert script.discards == 0


def test_the_attempt_gets_the_sessions_device() -> None:
    choices = (TierChoice(GPU, 1), TierChoice(GPU_DECODE, 1), CPU_ONLY)
    accel = FakeAccelerator(choices)
    script = Script({GPU: gpu_failure("nvenc_unavailable"), GPU_DECODE: gpu_failure("cuda_error")})
    run(accel, script)
    assert script.calls == [TierChoice(GPU, 1), TierChoice(GPU_DECODE, 1), CPU_ONLY]
    assert accel.sessions == 1  # one session for the whole walk


def test_cpu_only_offers_exactly_the_cpu() -> None:
    async def choices() -> tuple[TierChoice, ...]:
        async with CpuOnly().session() as offered:
            return offered

    assert asyncio.run(choices()) == (CPU_ONLY,)


def test_cpu_only_runs_the_attempt_on_the_cpu() -> None:
    script = Script()
    outcome = run(CpuOnly(), script)
    assert (outcome.result, outcome.tier, outcome.fallbacks) == ("cpu ok", CPU, [])
    assert script.calls == [CPU_ONLY]
