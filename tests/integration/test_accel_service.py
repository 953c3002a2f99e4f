"""infra.accel.GpuAccelerator and infra.health: GPU slots per device, the circuit breaker with
its re-probe, the fallback counter, /healthz and /metrics. No GPU, ffmpeg or moto: the prober
and the clock are fakes."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from core.media.accel import CPU_ONLY, AccelTier, Capabilities, Device, TierCheck, TierChoice
from infra.accel import AccelConfig, GpuAccelerator
from infra.health import serve_health

pytestmark = pytest.mark.integration

GPU, GPU_DECODE, CPU = AccelTier.GPU, AccelTier.GPU_DECODE, AccelTier.CPU


def capabilities(*, gpu: bool = True, gpu_decode: bool = True, devices: int = 1) -> Capabilities:
    return Capabilities(
        devices=[Device(index=i, name="NVIDIA A10G", memory_mib=23028) for i in range(devices)],
        nvenc_encoders=["h264_nvenc", "hevc_nvenc"],
        cuvid_decoders=["h264_cuvid"],
        hwaccels=["cuda"],
        cuda_filters=["scale_cuda"],
        checks=[
            TierCheck(tier=GPU, ok=gpu, reason=None if gpu else "test encode failed"),
            TierCheck(tier=GPU_DECODE, ok=gpu_decode, reason=None if gpu_decode else "no CUDA"),
            TierCheck(tier=CPU, ok=True, seconds=0.4),
        ],
    )


class FakeProber:
    """Answers with ``caps``; records the ``fresh`` flag of every call."""

    def __init__(self, caps: Capabilities) -> None:
        self.caps = caps
        self.calls: list[bool] = []

    async def __call__(self, fresh: bool) -> Capabilities:
        self.calls.append(fresh)
        return self.caps


class FakeClock:
    def __init__(self) -> None:
        self.times = [5_000.0]

    def __call__(self) -> float:
        return self.times[-1]

    def advance(self, seconds: float) -> None:
        self.times.append(self.times[-1] + seconds)


def accelerator(
    prober: FakeProber, clock: FakeClock | None = None, **config: Any
) -> GpuAccelerator:
    return GpuAccelerator(AccelConfig(**config), prober, clock or FakeClock())


async def offered(accel: GpuAccelerator) -> tuple[TierChoice, ...]:
    async with accel.session() as choices:
        return choices


def gpu_tiers(device: int) -> tuple[TierChoice, ...]:
    return (TierChoice(GPU, device), TierChoice(GPU_DECODE, device), CPU_ONLY)


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def fallbacks(tier: str, reason: str) -> float:
    labels = {"tier": tier, "reason": reason}
    return REGISTRY.get_sample_value("ffapi_accel_fallbacks_total", labels) or 0.0


# --- slots ---------------------------------------------------------------------------------


def test_a_session_offers_every_passed_tier_on_device_0() -> None:
    prober = FakeProber(capabilities())
    accel = accelerator(prober, mode="auto", jobs_per_device=2)
    assert asyncio.run(offered(accel)) == gpu_tiers(0)
    assert prober.calls == [False]  # the first probe may answer from the cache


def test_gpu_slots_are_bounded_per_device_and_given_back() -> None:
    accel = accelerator(FakeProber(capabilities()), mode="auto", jobs_per_device=2)

    async def scenario() -> None:
        async with accel.session() as first, accel.session() as second:
            assert first == gpu_tiers(0)
            assert second == gpu_tiers(0)
            assert accel.health()["gpu_jobs"] == {"in_use": 2, "capacity": 2}
            async with accel.session() as third:
                assert third == (CPU_ONLY,)  # every slot is taken
        assert accel.health()["gpu_jobs"]["in_use"] == 0
        async with accel.session() as later:
            assert later == gpu_tiers(0)

    asyncio.run(scenario())


def test_a_slot_freed_by_one_job_goes_to_the_next() -> None:
    accel = accelerator(FakeProber(capabilities()), jobs_per_device=2)

    async def scenario() -> None:
        async with accel.session() as second:
            async with accel.session() as first:
                assert first[0].tier is GPU
            async with accel.session() as third:
                assert (second[0].tier, third[0].tier) == (GPU, GPU)

    asyncio.run(scenario())


def test_two_devices_take_one_job_each() -> None:
    accel = accelerator(FakeProber(capabilities(devices=2)), jobs_per_device=1)

    async def scenario() -> None:
        async with accel.session() as first, accel.session() as second:
            assert {first[0].device, second[0].device} == {0, 1}
            assert first == gpu_tiers(first[0].device)
            async with accel.session() as third:
                assert third == (CPU_ONLY,)

    asyncio.run(scenario())


def test_mode_cpu_never_probes() -> None:
    prober = FakeProber(capabilities())
    accel = accelerator(prober, mode="cpu")
    assert asyncio.run(offered(accel)) == (CPU_ONLY,)
    assert prober.calls == []
    assert accel.health()["tiers"] == ["cpu"]


def test_a_slot_held_across_the_half_open_reprobe_stays_taken() -> None:
    clock = FakeClock()
    accel = accelerator(FakeProber(capabilities()), clock, jobs_per_device=1, breaker_failures=1)

    async def scenario() -> None:
        async with accel.session() as long_job:  # a long encode, started before the breaker
            assert long_job == gpu_tiers(0)
            accel.failed(GPU, "cuda_error")  # opens
            clock.advance(AccelConfig().breaker_cooldown)
            async with accel.session() as during:  # half-open: re-probes
                assert during == (CPU_ONLY,)  # device 0's only slot is still the long job's
        assert accel.health()["gpu_jobs"]["in_use"] == 0

    asyncio.run(scenario())


def test_a_device_gone_at_the_reprobe_takes_back_no_slot_and_raises_nothing() -> None:
    clock = FakeClock()
    prober = FakeProber(capabilities(devices=2))
    accel = accelerator(prober, clock, jobs_per_device=1, breaker_failures=1)

    async def scenario() -> None:
        async with accel.session() as first, accel.session() as second:
            assert {first[0].device, second[0].device} == {0, 1}
            accel.failed(GPU, "cuda_error")
            clock.advance(AccelConfig().breaker_cooldown)
            one = capabilities()  # device 1 is gone; device 0 is still the first job's
            prober.caps = one.model_copy(update={"devices": [one.devices[0]]})
            async with accel.session() as during:
                assert during == (CPU_ONLY,)
        assert accel.health()["gpu_jobs"] == {"in_use": 0, "capacity": 1}

    asyncio.run(scenario())


# --- the circuit breaker ------------------------------------------------------------------

BREAKER = {"breaker_failures": 2, "breaker_window": 60, "breaker_cooldown": 100}


def test_failures_open_the_breaker_and_a_reprobe_and_a_success_close_it() -> None:
    prober, clock = FakeProber(capabilities()), FakeClock()
    accel = accelerator(prober, clock, **BREAKER)
    assert asyncio.run(offered(accel)) == gpu_tiers(0)

    with capture_logs() as logs:
        accel.failed(GPU, "cuda_error")
        clock.advance(5)
        accel.failed(GPU, "cuda_error")
    assert len(events(logs, "accel.breaker_open")) == 1
    assert asyncio.run(offered(accel)) == (CPU_ONLY,)
    breaker = accel.health()["breaker"]
    assert breaker["state"] == "open"
    assert breaker["reopens_in"] == pytest.approx(100)
    assert accel.health()["tiers"] == ["cpu"]

    clock.advance(60)
    assert accel.health()["breaker"]["reopens_in"] == pytest.approx(40)
    assert asyncio.run(offered(accel)) == (CPU_ONLY,)
    assert prober.calls == [False]  # no re-probe during the cool-down

    clock.advance(41)
    with capture_logs() as logs:

        async def half_open() -> None:
            async with accel.session() as choices:
                assert choices == gpu_tiers(0)
                assert accel.health()["breaker"]["state"] == "half-open"
                accel.succeeded(GPU)

        asyncio.run(half_open())
    assert prober.calls == [False, True]  # re-probed, fresh, before trusting the GPU
    assert len(events(logs, "accel.breaker_half_open")) == 1
    assert len(events(logs, "accel.breaker_closed")) == 1
    assert events(logs, "accel.breaker_open") == []
    breaker = accel.health()["breaker"]
    assert (breaker["state"], breaker["reopens_in"], breaker["recent_failures"]) == (
        "closed",
        None,
        0,
    )
    assert asyncio.run(offered(accel)) == gpu_tiers(0)
    assert prober.calls == [False, True]  # closed again: no more probes


def test_a_failure_in_half_open_reopens_the_breaker() -> None:
    prober, clock = FakeProber(capabilities()), FakeClock()
    accel = accelerator(prober, clock, **BREAKER)
    accel.failed(GPU, "cuda_error")
    accel.failed(GPU, "cuda_error")
    clock.advance(100)
    assert asyncio.run(offered(accel)) == gpu_tiers(0)
    with capture_logs() as logs:
        accel.failed(GPU, "gpu_out_of_memory")
    assert len(events(logs, "accel.breaker_open")) == 1
    assert accel.health()["breaker"]["state"] == "open"
    assert asyncio.run(offered(accel)) == (CPU_ONLY,)


def test_a_reprobe_without_a_usable_gpu_keeps_the_breaker_open() -> None:
    prober, clock = FakeProber(capabilities()), FakeClock()
    accel = accelerator(prober, clock, mode="auto", **BREAKER)
    assert asyncio.run(offered(accel)) == gpu_tiers(0)
    accel.failed(GPU, "cuda_error")
    accel.failed(GPU, "cuda_error")

    clock.advance(150)
    prober.caps = capabilities(gpu=False, gpu_decode=False)
    with capture_logs() as logs:
        assert asyncio.run(offered(accel)) == (CPU_ONLY,)
    assert prober.calls == [False, True]
    assert len(events(logs, "accel.breaker_open")) == 1
    breaker = accel.health()["breaker"]
    assert breaker["state"] == "open"
    assert breaker["reopens_in"] == pytest.approx(100)  # a new cool-down from the re-probe

    # the next cool-down ends, the GPU is back: the breaker half-opens again
    clock.advance(100)
    prober.caps = capabilities()
    assert asyncio.run(offered(accel)) == gpu_tiers(0)
    assert prober.calls == [False, True, True]


def test_the_fallback_counter_counts_every_failed_call() -> None:
    accel = accelerator(FakeProber(capabilities()), breaker_failures=100)
    before = fallbacks("gpu", "cuda_error")
    other = fallbacks("gpu-decode", "cuda_error")
    for _ in range(3):
        accel.failed(GPU, "cuda_error")
    assert fallbacks("gpu", "cuda_error") - before == 3
    assert fallbacks("gpu-decode", "cuda_error") == other


# --- /healthz and /metrics ----------------------------------------------------------------


def test_healthz_and_metrics_over_http() -> None:
    accel = accelerator(FakeProber(capabilities()))
    accel.failed(GPU, "cuda_error")  # so the counter has a sample to export

    async def scenario() -> tuple[int, dict[str, Any], int, str]:
        await offered(accel)  # the first probe
        async with serve_health(accel, 0) as port, aiohttp.ClientSession() as http:
            assert port != 0
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/healthz") as health:
                body = await health.json()
                health_status = health.status
            async with http.get(f"{base}/metrics") as metrics:
                return health_status, body, metrics.status, await metrics.text()

    health_status, body, metrics_status, text = asyncio.run(scenario())
    assert health_status == 200
    assert body["status"] == "ok"
    assert body["accel"]["tiers"] == ["gpu", "gpu-decode", "cpu"]
    assert body["accel"]["breaker"]["state"] == "closed"
    assert body["accel"]["breaker"]["recent_failures"] == 1
    assert metrics_status == 200
    assert "ffapi_accel_fallbacks_total" in text
    samples = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ffapi_accel_fallbacks_total"
    ]
    assert any(
        s.labels == {"tier": "gpu", "reason": "cuda_error"} and s.value >= 1 for s in samples
    )
