"""The argv of every accelerator tier, for the MP4 preset and the streaming ladder.

Golden files (tests/unit/golden/) pin each argv exactly; ``FFAPI_UPDATE_GOLDEN=1`` rewrites
them after a deliberate change (review the diff). The property tests say what must hold on
every tier whatever the golden text: one decode, scaling where the tier scales, and the same
keyframe alignment, so a fallback never changes a segment boundary.
"""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction
from pathlib import Path, PurePosixPath

import pytest

from core.media.accel import TIERS, AccelTier, TierChoice
from core.media.encoders import encoder_reserve_mib
from core.media.hardening import ResourceLimits
from core.media.plan import TranscodePlan, plan_mp4
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import Mp4Preset, StreamingPreset, builtin_catalog
from core.streaming.renditions import StreamingPlan, plan_streaming

GOLDEN = Path(__file__).parent / "golden"
SOURCE = PurePosixPath("/w/in/source")
OUT = PurePosixPath("/w/out")
CATALOG = builtin_catalog()
WEB_HLS = CATALOG.presets["web-hls"]
MP4 = CATALOG.presets["mp4-720p"]
AAC = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)


def probe(
    codec: str = "h264",
    pix_fmt: str = "yuv420p",
    *,
    rotation: int = 0,
    transfer: str | None = None,
    field_order: str | None = None,
) -> ProbeResult:
    video = VideoStream(
        codec=codec,
        width=1920,
        height=1080,
        fps=30.0,
        rotation=rotation,
        sample_aspect=Fraction(1),
        pix_fmt=pix_fmt,
        duration=12.0,
        color_transfer=transfer,
        field_order=field_order,
    )
    return ProbeResult(format_name="mov", duration=12.0, size=1, video=video, audio=AAC)


SOURCES = {
    "h264-1080p": probe(),
    # PQ, 10-bit, shot in portrait: tone mapping and rotation need the CPU after NVDEC
    "hevc-pq-rotated": probe("hevc", "yuv420p10le", rotation=90, transfer="smpte2084"),
    "prores": probe("prores", "yuv422p10le"),  # NVDEC cannot decode it: uploaded
    # broadcast 1080i: NVDEC decodes it, the CPU deinterlaces it, then it is uploaded
    "mpeg2-interlaced": probe("mpeg2video", field_order="tt"),
}


def streaming(source: str, tier: AccelTier, device: int = 0) -> StreamingPlan:
    assert isinstance(WEB_HLS, StreamingPreset)
    return plan_streaming(WEB_HLS, SOURCES[source], SOURCE, OUT, TierChoice(tier, device))


def mp4(source: str, tier: AccelTier, device: int = 0) -> TranscodePlan:
    assert isinstance(MP4, Mp4Preset)
    return plan_mp4(MP4, SOURCES[source], SOURCE, OUT, TierChoice(tier, device))


def check_golden(name: str, argv: tuple[str, ...]) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("FFAPI_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(list(argv), indent=1) + "\n")
    assert list(argv) == json.loads(path.read_text()), f"{name}: argv differs from golden"


@pytest.mark.parametrize("tier", TIERS, ids=str)
@pytest.mark.parametrize("source", SOURCES)
def test_streaming_argv_matches_its_golden_file(source: str, tier: AccelTier) -> None:
    check_golden(f"web-hls-{source}-{tier}", streaming(source, tier).argv)


@pytest.mark.parametrize("tier", TIERS, ids=str)
@pytest.mark.parametrize("source", ["h264-1080p", "hevc-pq-rotated"])
def test_mp4_argv_matches_its_golden_file(source: str, tier: AccelTier) -> None:
    check_golden(f"mp4-720p-{source}-{tier}", mp4(source, tier).argv)


def after(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def graph(argv: tuple[str, ...]) -> str:
    return after(argv, "-filter_complex")


@pytest.mark.parametrize("tier", TIERS, ids=str)
@pytest.mark.parametrize("source", SOURCES)
def test_every_tier_decodes_once_and_splits_to_every_rung(source: str, tier: AccelTier) -> None:
    plan = streaming(source, tier)
    assert plan.argv.count("-i") == 1
    assert after(plan.argv, "-i") == f"file:{SOURCE}"
    split = re.search(r"split=(\d+)", graph(plan.argv))
    assert split
    assert int(split.group(1)) == len(plan.video) + 3
    assert len(plan.video) == 4  # the same ladder on every tier


@pytest.mark.parametrize("source", SOURCES)
def test_keyframe_alignment_is_the_same_on_every_tier(source: str) -> None:
    """Same GOP length, the same forced keyframes (by frame number), no scene-cut keyframes."""
    plans = {tier: streaming(source, tier).argv for tier in TIERS}
    forced = {after(argv, "-force_key_frames:v") for argv in plans.values()}
    assert forced == {"expr:gte(n,n_forced*120)"}
    gops = {after(argv, "-g:v" if "-g:v" in argv else "-g") for argv in plans.values()}
    assert gops == {"120"}  # 4 s segments at 30 fps
    gpu = plans[AccelTier.GPU]
    assert after(gpu, "-forced-idr:v") == "1"
    assert after(gpu, "-no-scenecut:v") == "1"
    for tier in (AccelTier.GPU_DECODE, AccelTier.CPU):  # libx264 on both
        assert after(plans[tier], "-sc_threshold") == "0"
        assert after(plans[tier], "-keyint_min") == "120"


@pytest.mark.parametrize("source", SOURCES)
def test_gpu_tiers_scale_on_the_gpu_and_encode_where_they_say(source: str) -> None:
    gpu, decode, cpu = (streaming(source, tier) for tier in TIERS)
    for plan in (gpu, decode):
        rungs = re.findall(r"\[r\d\]([^;]*)\[v\d\]", graph(plan.argv))
        assert len(rungs) == 4
        assert all(r.startswith("scale_cuda=") for r in rungs)
        assert "flags=bicubic" not in graph(plan.argv)  # no CPU scaling of the rungs
    assert all("hwdownload" not in r for r in re.findall(r"\[r\d\]([^;]*)\[v", graph(gpu.argv)))
    assert all("hwdownload" in r for r in re.findall(r"\[r\d\]([^;]*)\[v", graph(decode.argv)))
    assert [after(gpu.argv, f"-c:v:{i}") for i in range(4)] == ["h264_nvenc"] * 4
    assert [after(decode.argv, f"-c:v:{i}") for i in range(4)] == ["libx264"] * 4
    assert (gpu.encoder, decode.encoder, cpu.encoder) == ("h264_nvenc", "libx264", "libx264")
    assert "cuda" not in " ".join(cpu.argv)  # the CPU tier never asks for a GPU


def test_sdr_h264_frames_stay_in_gpu_memory_from_nvdec_to_nvenc() -> None:
    argv = streaming("h264-1080p", AccelTier.GPU).argv
    assert after(argv, "-hwaccel") == "cuda"
    assert after(argv, "-hwaccel_output_format") == "cuda"
    # no CPU filter before the split; the picture ends where the video says (12 s)
    assert graph(argv).startswith("[0:0]fps=30,trim=end=12.000,split=")
    assert "hwupload_cuda" not in graph(argv)
    # pictures come from a few picked frames, copied out after the pick
    assert "[t]select=not(mod(n\\,300)),hwdownload,format=nv12,scale=" in graph(argv)


def test_tone_mapping_and_rotation_run_on_the_cpu_between_nvdec_and_the_upload() -> None:
    argv = streaming("hevc-pq-rotated", AccelTier.GPU).argv
    assert after(argv, "-hwaccel") == "cuda"
    assert "-hwaccel_output_format" not in argv
    first = graph(argv).split(";")[0]
    assert "tonemap=tonemap=hable" in first
    assert first.index("tonemap") < first.index("hwupload_cuda=device=0") < first.index("split")


def test_a_codec_nvdec_cannot_decode_is_decoded_by_software_then_uploaded() -> None:
    argv = streaming("prores", AccelTier.GPU).argv
    assert "-hwaccel" not in argv
    assert "format=yuv420p,fps=30,trim=end=12.000,hwupload_cuda=device=0,split=" in graph(argv)


@pytest.mark.parametrize("tier", TIERS)
def test_an_interlaced_source_is_deinterlaced_first_on_the_cpu(tier: AccelTier) -> None:
    """Broadcast and DVD MPEG-2 (top field first): bwdif, one frame a frame, before anything
    else and before any upload; NVDEC's frames are copied out for it."""
    for argv in (streaming("mpeg2-interlaced", tier).argv, mp4("mpeg2-interlaced", tier).argv):
        first = graph(argv).split(";")[0]
        assert first.startswith("[0:0]bwdif=mode=send_frame:parity=auto:deint=interlaced,")
        assert "-hwaccel_output_format" not in argv
        if tier.on_gpu:
            assert after(argv, "-hwaccel") == "cuda"
            assert first.index("bwdif") < first.index("hwupload_cuda")
    for argv in (streaming("h264-1080p", tier).argv, mp4("h264-1080p", tier).argv):
        assert "bwdif" not in graph(argv)  # progressive: untouched


def test_the_jobs_device_is_named_for_decode_and_upload() -> None:
    assert after(streaming("h264-1080p", AccelTier.GPU, device=1).argv, "-hwaccel_device") == "1"
    assert "hwupload_cuda=device=1" in graph(streaming("prores", AccelTier.GPU, 1).argv)


def test_hevc_main10_kept_hdr_uses_p010_on_the_gpu() -> None:
    keep = StreamingPreset.model_validate(
        {**WEB_HLS.model_dump(), "video_codec": "libx265", "hdr": "keep"}
    )
    source = probe("hevc", "yuv420p10le", transfer="smpte2084")
    gpu = plan_streaming(keep, source, SOURCE, OUT, TierChoice(AccelTier.GPU)).argv
    decode = plan_streaming(keep, source, SOURCE, OUT, TierChoice(AccelTier.GPU_DECODE)).argv
    assert after(gpu, "-c:v:0") == "hevc_nvenc"
    assert after(gpu, "-profile:v") == "main10"
    assert "format=p010le" in graph(gpu)
    assert ",hwdownload,format=p010le,format=yuv420p10le," in graph(decode)  # for libx265
    assert after(decode, "-c:v:0") == "libx265"


@pytest.mark.parametrize("tier", TIERS, ids=str)
def test_mp4_decodes_once_scales_once_and_names_its_encoder(tier: AccelTier) -> None:
    plan = mp4("h264-1080p", tier)
    assert plan.argv.count("-i") == 1
    assert (plan.width, plan.height) == (1280, 720)
    scaler = "scale_cuda=w=1280:h=720" if tier.on_gpu else "scale=1280:720"
    assert graph(plan.argv).count(scaler) == 1
    assert plan.encoder == ("h264_nvenc" if tier is AccelTier.GPU else "libx264")
    assert after(plan.argv, "-g") == "60"  # a keyframe every two seconds on every tier
    if tier is AccelTier.GPU:  # constant quality at the preset's CRF number
        assert after(plan.argv, "-cq:v") == "23"
        assert after(plan.argv, "-b:v") == "0"
        assert "[still]hwdownload,format=yuv420p,tpad=" in graph(plan.argv)  # tpad: CPU frames
    else:
        assert after(plan.argv, "-crf") == "23"


def av1(tier: AccelTier) -> StreamingPlan:
    preset = CATALOG.presets["web-av1"]
    assert isinstance(preset, StreamingPreset)
    return plan_streaming(preset, SOURCES["h264-1080p"], SOURCE, OUT, TierChoice(tier))


@pytest.mark.parametrize("tier", TIERS, ids=str)
def test_av1_ladder_argv_matches_its_golden_file(tier: AccelTier) -> None:
    check_golden(f"web-av1-h264-1080p-{tier}", av1(tier).argv)


def test_av1_is_nvenc_on_the_gpu_and_svt_elsewhere_with_the_same_keyframes() -> None:
    gpu, decode, cpu = (av1(tier) for tier in TIERS)
    assert [after(gpu.argv, f"-c:v:{i}") for i in range(4)] == ["av1_nvenc"] * 4
    for plan in (decode, cpu):
        assert [after(plan.argv, f"-c:v:{i}") for i in range(4)] == ["libsvtav1"] * 4
        assert after(plan.argv, "-preset") == "10"  # veryfast, in SVT-AV1's numbers
        # no scene-cut keyframes; the fewest threads and buffers per rung, whatever the host
        assert [after(plan.argv, f"-svtav1-params:v:{i}") for i in range(4)] == ["scd=0:lp=1"] * 4
        assert "-profile:v" not in plan.argv
    for plan in (gpu, decode, cpu):
        assert after(plan.argv, "-force_key_frames:v") == "expr:gte(n,n_forced*120)"
        assert after(plan.argv, "-g:v" if plan is gpu else "-g") == "120"


def test_an_svt_av1_ladder_widens_the_address_space_limit_by_what_its_rungs_reserve() -> None:
    """SVT-AV1 reserves its threads and picture buffers per rung: the plan says how much, and
    the run's RLIMIT_AS grows by that (the GPU tiers have no such cap; NVENC reserves none)."""
    base = ResourceLimits(cpu_seconds=10, memory_bytes=3072 * 1024**2, file_bytes=1)
    gpu, decode, cpu = (av1(tier) for tier in TIERS)
    assert gpu.encoder_reserve_mib == 0
    assert decode.encoder_reserve_mib == cpu.encoder_reserve_mib
    # 1080p, 720p, 480p, 360p: larger rungs reserve more, every one at least the fixed part
    reserves = [encoder_reserve_mib("libsvtav1", r.width, r.height) for r in cpu.video]
    assert reserves == sorted(reserves, reverse=True)
    assert min(reserves) > 300
    assert cpu.encoder_reserve_mib == sum(reserves)
    widened = cpu.limits(base)
    assert widened.memory_bytes == (3072 + sum(reserves)) * 1024**2
    assert (widened.cpu_seconds, widened.file_bytes) == (10, 1)
    assert cpu.limits(base.for_tier(AccelTier.GPU_DECODE)).memory_bytes is None


def test_an_x264_ladder_runs_under_the_deployments_limit_as_it_is() -> None:
    base = ResourceLimits(memory_bytes=3072 * 1024**2)
    plan = streaming("h264-1080p", AccelTier.CPU)
    assert plan.encoder_reserve_mib == 0
    assert plan.limits(base) == base
    assert "-svtav1-params" not in " ".join(plan.argv)
