"""core.media.preflight: a probe held against the limits, each refusal with its own code; a
preset's own limits are applied when they are the stricter."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, cast

import pytest

from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.errors import FfapiError
from core.media.fallback import CpuOnly
from core.media.preflight import MediaLimits, check_media, check_size, input_byte_limit
from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream
from core.models import JobRequest, S3ObjectRef
from core.presets import OutputPreset, builtin_catalog
from tests.unit.fakes import FakeObjects

CATALOG = builtin_catalog().presets
WEB = CATALOG["web-hls"]
MP4 = CATALOG["mp4-720p"]
AUDIO_ONLY = CATALOG["audio-only"]
LIMITS = MediaLimits()


def source(
    width: int = 1920,
    height: int = 1080,
    fps: float = 30.0,
    duration: float = 60.0,
    video_codec: str = "h264",
    audio_codec: str = "aac",
    size: int | None = 50_000_000,
    extra: tuple[StreamFacts, ...] = (),
) -> ProbeResult:
    video = VideoStream(
        codec=video_codec,
        width=width,
        height=height,
        fps=fps,
        rotation=0,
        sample_aspect=Fraction(1),
        pix_fmt="yuv420p",
        duration=duration,
    )
    audio = AudioStream(codec=audio_codec, channels=2, sample_rate=48000, index=1)
    streams = (
        StreamFacts(0, "video", video_codec, width, height, duration),
        StreamFacts(1, "audio", audio_codec, duration=duration),
        *extra,
    )
    return ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", duration, size, video, audio, streams)


def refused(probe: ProbeResult, preset: OutputPreset = WEB, limits: MediaLimits = LIMITS) -> str:
    with pytest.raises(FfapiError) as info:
        check_media(probe, limits, preset)
    assert info.value.retryable is False  # every refusal is permanent: the same input again
    return info.value.code


def streams(kind: str, n: int, first: int = 2) -> tuple[StreamFacts, ...]:
    return tuple(StreamFacts(first + i, kind, "mov_text") for i in range(n))


def test_an_ordinary_upload_passes_every_check() -> None:
    for preset in (WEB, MP4, AUDIO_ONLY):
        check_media(source(), LIMITS, preset)


@pytest.mark.parametrize(
    ("width", "height"),
    [(8200, 1000), (1000, 8200), (8192, 8192)],  # wide, tall, and too many pixels in all
)
def test_a_frame_too_large_each_way(width: int, height: int) -> None:
    assert refused(source(width, height)) == "frame_too_large"


def test_the_largest_frames_allowed_pass() -> None:
    check_media(source(8192, 4320), LIMITS, WEB)
    check_media(source(4320, 8192), LIMITS, WEB)  # portrait 8K


def test_cover_art_over_the_cap_is_refused_too() -> None:
    # ffprobe and ffmpeg decode cover art to read it, whatever the job uses
    art = StreamFacts(2, "video", "png", 16000, 16000, attached=True)
    assert refused(source(extra=(art,))) == "frame_too_large"


def test_a_frame_rate_over_the_cap() -> None:
    assert refused(source(fps=1000.0)) == "frame_rate_too_high"
    check_media(source(fps=240.0), LIMITS, WEB)  # phone slow motion


def test_the_stated_duration_over_the_cap() -> None:
    assert refused(source(duration=10 * 3600.0)) == "input_too_long"
    check_media(source(duration=6 * 3600.0), LIMITS, WEB)


def test_a_stream_claiming_more_than_the_file_counts() -> None:
    claim = StreamFacts(2, "audio", "aac", duration=36000.0)
    assert refused(source(extra=(claim,))) == "input_too_long"


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (streams("subtitle", 31), "33 streams in all"),
        (streams("attachment", 17), "17 attachments"),
        (streams("data", 9), "9 data streams"),
    ],
)
def test_too_many_streams(extra: tuple[StreamFacts, ...], why: str) -> None:
    assert refused(source(extra=extra)) == "too_many_streams", why


def test_the_stream_caps_are_inclusive() -> None:
    check_media(source(extra=streams("subtitle", 30)), LIMITS, WEB)
    check_media(source(extra=streams("attachment", 16)), LIMITS, WEB)
    check_media(source(extra=streams("data", 8)), LIMITS, WEB)


def test_a_decoded_stream_off_the_codec_allowlist() -> None:
    no_h264 = MediaLimits(codecs=tuple(c for c in LIMITS.codecs if c != "h264"))
    assert refused(source(), WEB, no_h264) == "unsupported_codec"
    assert refused(source(), MP4, no_h264) == "unsupported_codec"
    assert refused(source(audio_codec="cook")) == "unsupported_codec"


def test_only_the_streams_a_preset_decodes_are_held_to_the_allowlist() -> None:
    # audio-only never decodes the picture; a video preset with audio decodes both
    check_media(source(video_codec="cinepak"), LIMITS, AUDIO_ONLY)
    assert refused(source(video_codec="cinepak"), WEB) == "unsupported_codec"
    silent = WEB.model_copy(update={"audio": ()})
    check_media(source(audio_codec="cook"), LIMITS, silent)


def test_a_presets_own_limits_win_when_stricter() -> None:
    short = MP4.model_copy(update={"max_duration_seconds": 30.0, "max_input_bytes": 1_000_000})
    assert refused(source(duration=60.0, size=500_000), short) == "input_too_long"
    assert refused(source(duration=20.0, size=2_000_000), short) == "input_too_large"
    check_media(source(duration=20.0, size=900_000), LIMITS, short)
    generous = MP4.model_copy(update={"max_duration_seconds": 1e9, "max_input_bytes": 10**15})
    assert refused(source(duration=7 * 3600.0), generous) == "input_too_long"  # global wins
    assert input_byte_limit(LIMITS, generous) == LIMITS.max_input_bytes


def test_the_size_check_before_the_download() -> None:
    small = WEB.model_copy(update={"max_input_bytes": 1000})
    check_size(None, LIMITS, small)  # unknown: measured again once downloaded
    check_size(1000, LIMITS, small)
    with pytest.raises(FfapiError) as info:
        check_size(1001, LIMITS, small)
    assert (info.value.code, info.value.retryable) == ("input_too_large", False)
    with pytest.raises(FfapiError):
        check_size(LIMITS.max_input_bytes + 1, LIMITS, WEB)


def test_the_limits_make_the_input_guard() -> None:
    limits = MediaLimits(max_pixels=1000, max_streams=3, codecs=("h264",))
    guard = limits.guard
    assert (guard.max_pixels, guard.max_streams, guard.codecs) == (1000, 3, ("h264",))
    assert guard.formats == LIMITS.formats


def test_the_pipeline_admits_by_the_stricter_byte_limit() -> None:
    # asked by the dispatcher before any disk is reserved or byte downloaded
    limits = PipelineLimits(60.0, MediaLimits(max_input_bytes=5_000))
    pipeline = JobPipeline(
        FakeObjects(),
        cast(Any, None),
        cast(Any, None),
        limits,
        lambda: datetime.now(UTC),
        CpuOnly(),
    )
    ref = S3ObjectRef(bucket="ffapi-input", key="incoming/a.mov", size=4_000)
    request = JobRequest(input=ref, preset="mp4-720p")
    pipeline.admit(request, MP4)
    strict = MP4.model_copy(update={"max_input_bytes": 3_000})
    with pytest.raises(FfapiError) as info:
        pipeline.admit(request, strict)
    assert info.value.code == "input_too_large"
    big = request.model_copy(update={"input": ref.model_copy(update={"size": 5_001})})
    with pytest.raises(FfapiError):
        pipeline.admit(big, MP4)
