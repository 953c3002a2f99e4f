"""A preset whose encoder the running ffmpeg lacks is refused before the job starts, with a
permanent error that names both; a GPU tier whose encoder the build lacks is never tried."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.errors import EncoderUnavailable
from core.jobs.outcome import Disposition
from core.jobs.results import resolve_preset
from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.encoders import missing_encoder, needed_encoders
from core.media.fallback import CpuOnly, run_on_tiers
from core.models import JobRequest, S3ObjectRef
from core.presets import builtin_catalog
from tests.unit.fakes import FakeJobs, FakeObjects, FakeWorkspace
from tests.unit.test_disk_reservation import handle
from tests.unit.test_fallback import EVERY_TIER, FakeAccelerator, Script

CATALOG = builtin_catalog()
GPU, GPU_DECODE, CPU = AccelTier.GPU, AccelTier.GPU_DECODE, AccelTier.CPU
# ffmpeg 5.1 built with NVENC and SVT-AV1, as the GPU image is: no av1_nvenc before ffmpeg 6
GPU_BUILD = frozenset(
    {"libx264", "libx265", "libsvtav1", "h264_nvenc", "hevc_nvenc", "aac", "mjpeg"}
)
WITHOUT_SVT = GPU_BUILD - {"libsvtav1"}


def pipeline(encoders: frozenset[str] | None) -> JobPipeline:
    limits = PipelineLimits(60.0, encoders=encoders)
    return JobPipeline(
        FakeObjects(),
        cast(Any, None),
        cast(Any, None),
        limits,
        lambda: datetime.now(UTC),
        CpuOnly(),
    )


def request(preset: str) -> JobRequest:
    return JobRequest(
        input=S3ObjectRef(bucket="ffapi-input", key="incoming/a.mov", size=10), preset=preset
    )


def test_each_tier_needs_its_own_video_encoder_and_aac() -> None:
    av1, hls, audio = (CATALOG.presets[n] for n in ("web-av1", "web-hls", "audio-only"))
    assert needed_encoders(av1, GPU) == ("av1_nvenc", "aac")
    assert needed_encoders(av1, GPU_DECODE) == needed_encoders(av1, CPU) == ("libsvtav1", "aac")
    assert needed_encoders(hls, GPU) == ("h264_nvenc", "aac")
    assert needed_encoders(CATALOG.presets["mp4-720p"], CPU) == ("libx264", "aac")
    assert needed_encoders(audio, GPU) == ("aac",)  # no picture: no video encoder anywhere
    assert missing_encoder(av1, GPU, GPU_BUILD) == "av1_nvenc"
    assert missing_encoder(av1, CPU, GPU_BUILD) is None
    assert missing_encoder(av1, CPU, WITHOUT_SVT) == "libsvtav1"


def test_a_preset_whose_encoder_the_build_lacks_is_refused_permanently_by_name() -> None:
    with pytest.raises(EncoderUnavailable) as info:
        pipeline(WITHOUT_SVT).admit(request("web-av1"), CATALOG.presets["web-av1"])
    error = info.value
    assert (error.code, error.retryable) == ("encoder_unavailable", False)
    assert "web-av1" in error.message
    assert "libsvtav1" in error.message
    assert error.details == {"preset": "web-av1", "encoder": "libsvtav1"}


def test_every_shipped_preset_is_admitted_by_a_build_with_its_encoders() -> None:
    for name, preset in CATALOG.presets.items():
        pipeline(GPU_BUILD).admit(request(name), preset)
        pipeline(None).admit(request(name), preset)  # a build not asked: nothing refused
    audio = CATALOG.presets["audio-only"]
    pipeline(frozenset({"aac"})).admit(request("audio-only"), audio)
    with pytest.raises(EncoderUnavailable):
        pipeline(frozenset({"aac"})).admit(request("mp4-720p"), CATALOG.presets["mp4-720p"])


def test_a_gpu_tier_without_its_encoder_is_skipped_not_failed() -> None:
    """web-av1 on the GPU image: no av1_nvenc, so NVDEC decodes and SVT-AV1 encodes, with no
    failed try (which would also count against the circuit breaker)."""
    accel, script = FakeAccelerator(), Script()
    can_run = pipeline(GPU_BUILD)._can_run(CATALOG.presets["web-av1"])
    assert [can_run(t) for t in (GPU, GPU_DECODE, CPU)] == [False, True, True]
    run = asyncio.run(run_on_tiers(accel, script.attempt, script.discard, can_run))
    assert (run.result, run.tier, run.fallbacks) == ("gpu-decode ok", GPU_DECODE, [])
    assert script.calls == [TierChoice(GPU_DECODE, 0)]
    assert accel.failures == []
    web = pipeline(GPU_BUILD)._can_run(CATALOG.presets["web-hls"])
    assert all(web(t) for t in (GPU, GPU_DECODE, CPU))


def test_with_no_tier_left_the_cpu_runs_the_job() -> None:
    accel, script = FakeAccelerator(EVERY_TIER[:2]), Script()
    run = asyncio.run(run_on_tiers(accel, script.attempt, script.discard, lambda t: False))
    assert (run.result, script.calls) == ("cpu ok", [CPU_ONLY])


def test_the_dispatcher_fails_such_a_job_at_once_before_any_disk_or_download() -> None:
    """The watch rule's preset (mp4-720p) needs libx264; a build without it: one permanent
    failure, the message acknowledged, nothing reserved, nothing downloaded or encoded."""
    workspace, jobs = FakeWorkspace(), FakeJobs()
    outcome = handle(workspace, pipeline(WITHOUT_SVT - {"libx264"}), jobs)  # type: ignore[arg-type]
    assert outcome.disposition is Disposition.ACK
    [job] = outcome.jobs
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == ("encoder_unavailable", False)
    assert "mp4-720p" in job.error.message
    assert "libx264" in job.error.message
    assert workspace.reserved == []
    assert jobs.records[job.job_id]["error"]["code"] == "encoder_unavailable"


def test_a_steps_job_needs_its_encodes_and_its_pictures_encoders() -> None:
    steps = JobRequest.model_validate(
        {
            "version": 2,
            "input": {"bucket": "ffapi-input", "key": "incoming/a.mov", "size": 10},
            "steps": [
                {"op": "encode", "preset": "web-hls"},
                {"op": "frames", "count": 3, "format": "png"},
                {"op": "preview", "format": "webp"},
            ],
        }
    )
    preset = resolve_preset(CATALOG, steps)
    assert needed_encoders(preset, GPU) == ("h264_nvenc", "aac", "png", "libwebp")
    with pytest.raises(EncoderUnavailable) as info:
        pipeline(GPU_BUILD | {"png"}).admit(steps, preset)
    assert "libwebp" in info.value.message
