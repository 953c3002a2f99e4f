"""core.media.accel: the tiers a job tries, when a failure falls back, and to which tier; and the
GPU-class failures core.media.diagnose reads from ffmpeg 5.1's stderr."""

from __future__ import annotations

import pytest

from core.errors import (
    AcceleratorFailed,
    FfapiError,
    InvalidMedia,
    QcFailed,
    ResourceExhausted,
    TranscodeFailed,
    TranscodeTimeout,
)
from core.media.accel import (
    AccelMode,
    AccelTier,
    Capabilities,
    Device,
    TierCheck,
    fallback_reason,
    next_tier,
    tier_order,
)
from core.media.diagnose import classify_ffmpeg_failure

GPU, GPU_DECODE, CPU = AccelTier.GPU, AccelTier.GPU_DECODE, AccelTier.CPU
ALL = (GPU, GPU_DECODE, CPU)
MODES: tuple[AccelMode, ...] = ("auto", "gpu", "gpu-decode", "cpu")


def caps(gpu: bool, gpu_decode: bool) -> Capabilities:
    return Capabilities(
        devices=[Device(index=0, name="NVIDIA A10G")],
        checks=[
            TierCheck(tier=GPU, ok=gpu, reason=None if gpu else "no NVENC"),
            TierCheck(tier=GPU_DECODE, ok=gpu_decode, reason=None if gpu_decode else "no CUDA"),
            TierCheck(tier=CPU, ok=True),
        ],
    )


# --- tier_order ---------------------------------------------------------------------------


def test_auto_with_both_gpu_checks_passed_tries_every_tier() -> None:
    assert tier_order("auto", caps(True, True), gpu_allowed=True) == ALL


def test_auto_on_an_nvdec_only_machine_starts_on_gpu_decode() -> None:
    # p4/p5: NVDEC and CUDA, no NVENC
    assert tier_order("auto", caps(False, True), gpu_allowed=True) == (GPU_DECODE, CPU)


def test_auto_with_no_gpu_check_passed_is_cpu_only() -> None:
    assert tier_order("auto", caps(False, False), gpu_allowed=True) == (CPU,)


def test_auto_before_any_probe_is_cpu_only() -> None:
    assert tier_order("auto", None, gpu_allowed=True) == (CPU,)


def test_forced_gpu_is_tried_whatever_the_probe_said() -> None:
    assert tier_order("gpu", caps(False, False), gpu_allowed=True) == ALL
    assert tier_order("gpu", None, gpu_allowed=True) == ALL


def test_forced_gpu_decode_skips_nvenc() -> None:
    assert tier_order("gpu-decode", caps(True, True), gpu_allowed=True) == (GPU_DECODE, CPU)


def test_forced_cpu_is_cpu_only() -> None:
    assert tier_order("cpu", caps(True, True), gpu_allowed=True) == (CPU,)


@pytest.mark.parametrize("mode", MODES)
def test_an_open_breaker_leaves_only_the_cpu_whatever_the_mode(mode: AccelMode) -> None:
    assert tier_order(mode, caps(True, True), gpu_allowed=False) == (CPU,)


# --- fallback_reason ----------------------------------------------------------------------


def test_accelerator_failure_on_gpu_falls_back_with_its_reason() -> None:
    error = AcceleratorFailed("no session", reason="nvenc_session_failed")
    assert fallback_reason(error, GPU) == "nvenc_session_failed"
    assert fallback_reason(error, GPU_DECODE) == "nvenc_session_failed"


def test_qc_failure_on_gpu_falls_back_as_gpu_output_qc() -> None:
    assert fallback_reason(QcFailed("keyframes misaligned"), GPU) == "gpu_output_qc"


@pytest.mark.parametrize(
    "error",
    [
        InvalidMedia("not a readable media file"),
        TranscodeTimeout("wall-clock limit hit"),
        TranscodeFailed("unrecognised"),
    ],
    ids=["invalid-media", "timeout", "transcode-failed"],
)
def test_failures_of_the_job_itself_do_not_fall_back(error: FfapiError) -> None:
    assert fallback_reason(error, GPU) is None


def test_nothing_falls_back_from_the_cpu() -> None:
    assert fallback_reason(AcceleratorFailed("?", reason="cuda_error"), CPU) is None
    assert fallback_reason(QcFailed("bad"), CPU) is None


# --- next_tier ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["nvenc_unavailable", "nvenc_session_failed"])
def test_an_nvenc_failure_on_gpu_tries_gpu_decode(reason: str) -> None:
    assert next_tier(ALL, GPU, reason) is GPU_DECODE


@pytest.mark.parametrize(
    "reason",
    [
        "cuda_unavailable",
        "cuda_error",
        "gpu_out_of_memory",
        "gpu_device_failed",
        "nvdec_unsupported",
    ],
)
def test_a_cuda_failure_on_gpu_skips_gpu_decode(reason: str) -> None:
    assert next_tier(ALL, GPU, reason) is CPU


@pytest.mark.parametrize("reason", ["nvenc_unavailable", "cuda_error", "gpu_output_qc"])
def test_from_gpu_decode_everything_goes_to_the_cpu(reason: str) -> None:
    assert next_tier(ALL, GPU_DECODE, reason) is CPU
    assert next_tier((GPU_DECODE, CPU), GPU_DECODE, reason) is CPU


def test_there_is_nothing_below_the_cpu() -> None:
    assert next_tier(ALL, CPU, "cuda_error") is None
    assert next_tier((CPU,), CPU, "nvenc_unavailable") is None


def test_an_nvenc_failure_goes_to_the_cpu_when_gpu_decode_is_not_offered() -> None:
    assert next_tier((GPU, CPU), GPU, "nvenc_unavailable") is CPU


# --- GPU-class failures in ffmpeg's stderr ------------------------------------------------

# This machine's real output for a CUDA argv without a GPU (ffmpeg 5.1).
NO_CUDA_DECODE = (
    "[AVHWDeviceContext @ 0x55ff8759ca40] Cannot load libcuda.so.1\n"
    "[AVHWDeviceContext @ 0x55ff8759ca40] Could not dynamically load CUDA\n"
    "Device creation failed: -1.\n"
    "[h264 @ 0x55ff875801c0] No device available for decoder: device type cuda needed for "
    "codec h264.\n"
    "Device setup failed for decoder on input stream #0:0 : Operation not permitted\n"
)
NO_CUDA_ENCODE = (
    "[h264_nvenc @ 0x559ea4055f00] Cannot load libcuda.so.1\n"
    "Error initializing output stream 0:0 -- Error while opening encoder for output stream "
    "#0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n"
)
NVENC_SESSION = (
    "[h264_nvenc @ 0x5612] OpenEncodeSessionEx failed: out of memory (10): (no details)\n"
)
NVENC_NO_DEVICE = "[h264_nvenc @ 0x5612] No capable devices found\n"
NVENC_NOT_BUILT = "Unknown encoder 'hevc_nvenc'\n"
GPU_OOM = (
    "[AVHWFramesContext @ 0x1] cu->cuMemAlloc(&data, size) failed -> "
    "CUDA_ERROR_OUT_OF_MEMORY: out of memory\n"
)
CUDA_LAUNCH = (
    "[h264_cuvid @ 0x1] ctx->cvdl->cuvidDecodePicture(...) failed -> "
    "CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure\n"
)
NVDEC_UNSUPPORTED = (
    "[h264 @ 0x1] Failed setup for format cuda: hwaccel initialisation returned error.\n"
)
CUDA_FILTER = (
    "Impossible to convert between the formats supported by the filter 'Parsed_scale_cuda_1' "
    "and the filter 'auto_scale_0'\n"
)
CPU_FILTER = (
    "Impossible to convert between the formats supported by the filter 'Parsed_scale_0' "
    "and the filter 'auto_scale_1'\n"
)
HOST_OOM = (
    "[libx264 @ 0x55f3c8a2b440] malloc of size 4147200 failed\n"
    "Error initializing output stream 0:0 -- Error while opening encoder for output stream "
    "#0:0 - maybe incorrect parameters such as bit_rate, rate, width or height\n"
    "Cannot allocate memory\n"
)
INVALID_DATA = "file:/tmp/ffapi/j-0123/input: Invalid data found when processing input\n"


@pytest.mark.parametrize(
    ("stderr", "reason", "line"),
    [
        (
            NO_CUDA_DECODE,
            "cuda_unavailable",
            "[AVHWDeviceContext @ 0x55ff8759ca40] Cannot load libcuda.so.1",
        ),
        (
            NO_CUDA_ENCODE,
            "cuda_unavailable",
            "[h264_nvenc @ 0x559ea4055f00] Cannot load libcuda.so.1",
        ),
        (NVENC_SESSION, "nvenc_session_failed", NVENC_SESSION.strip()),
        (NVENC_NO_DEVICE, "nvenc_unavailable", NVENC_NO_DEVICE.strip()),
        (NVENC_NOT_BUILT, "nvenc_unavailable", NVENC_NOT_BUILT.strip()),
        (GPU_OOM, "gpu_out_of_memory", GPU_OOM.strip()),
        (CUDA_LAUNCH, "cuda_error", CUDA_LAUNCH.strip()),
        (NVDEC_UNSUPPORTED, "nvdec_unsupported", NVDEC_UNSUPPORTED.strip()),
        (CUDA_FILTER, "gpu_filter_failed", CUDA_FILTER.strip()),
    ],
    ids=[
        "no-cuda-decode",
        "no-cuda-encode",
        "nvenc-session",
        "nvenc-no-device",
        "nvenc-not-built",
        "gpu-oom",
        "cuda-launch",
        "nvdec-unsupported",
        "cuda-filter",
    ],
)
def test_gpu_class_stderr_is_an_accelerator_failure(stderr: str, reason: str, line: str) -> None:
    error = classify_ffmpeg_failure(stderr)
    assert isinstance(error, AcceleratorFailed)
    assert error.reason == reason
    assert error.details == {"reason": reason}
    assert error.code == "accelerator_failed"
    assert error.retryable is True
    assert error.message.endswith(f": {line}")  # the line that said so


def test_an_nvenc_session_out_of_memory_is_not_the_hosts() -> None:
    assert not isinstance(classify_ffmpeg_failure(NVENC_SESSION), ResourceExhausted)


def test_host_out_of_memory_stays_resource_exhausted() -> None:
    error = classify_ffmpeg_failure(HOST_OOM)
    assert type(error) is ResourceExhausted
    assert error.code == "resource_exhausted"


def test_an_unreadable_input_stays_invalid_media() -> None:
    error = classify_ffmpeg_failure(INVALID_DATA)
    assert type(error) is InvalidMedia
    assert error.retryable is False


def test_a_software_filter_mismatch_is_not_a_gpu_failure() -> None:
    error = classify_ffmpeg_failure(CPU_FILTER)
    assert not isinstance(error, AcceleratorFailed)
    assert type(error) is TranscodeFailed
