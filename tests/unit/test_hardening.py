"""core.media.hardening: the one set of input flags ffprobe and ffmpeg read uploads with, the
demuxer ffmpeg is told, and the kernel limits per tier."""

from __future__ import annotations

import pytest

from core.errors import UnsupportedFormat
from core.media.accel import AccelTier
from core.media.hardening import (
    DEFAULT_CODECS,
    DEFAULT_MAX_PIXELS,
    OUTPUT_GUARD,
    SOURCE_FORMATS,
    SOURCE_GUARD,
    InputGuard,
    ResourceLimits,
    decoders,
)


def value(flags: tuple[str, ...], name: str) -> str:
    return flags[flags.index(name) + 1]


def test_the_probe_flags_name_every_cap() -> None:
    flags = SOURCE_GUARD.flags()
    assert value(flags, "-protocol_whitelist") == "file"
    assert value(flags, "-format_whitelist").split(",") == list(SOURCE_FORMATS)
    assert value(flags, "-max_pixels") == str(DEFAULT_MAX_PIXELS)
    assert value(flags, "-max_streams") == "32"
    assert int(value(flags, "-max_alloc")) >= DEFAULT_MAX_PIXELS * 16
    assert set(decoders(DEFAULT_CODECS)) <= set(value(flags, "-codec_whitelist").split(","))
    assert "-f" not in flags  # ffprobe finds the demuxer out (among the allowed)


def test_ffmpeg_is_told_the_probed_demuxer_and_mov_keeps_external_tracks_off() -> None:
    mov = SOURCE_GUARD.flags("mov")
    assert mov[: len(SOURCE_GUARD.flags())] == SOURCE_GUARD.flags()
    assert mov[len(SOURCE_GUARD.flags()) :] == (
        "-f", "mov", "-enable_drefs", "0", "-use_absolute_path", "0",
    )  # fmt: skip
    # the mov demuxer's private options would be an error for any other demuxer
    assert SOURCE_GUARD.flags("matroska")[-2:] == ("-f", "matroska")
    assert "-enable_drefs" not in SOURCE_GUARD.flags("matroska")


@pytest.mark.parametrize(
    ("format_name", "demuxer"),
    [
        ("mov,mp4,m4a,3gp,3g2,mj2", "mov"),
        ("matroska,webm", "matroska"),
        ("mpegts", "mpegts"),
        ("wav", "wav"),
        ("ogg", "ogg"),
    ],
)
def test_ffprobes_format_name_maps_to_a_demuxer_on_the_allowlist(
    format_name: str, demuxer: str
) -> None:
    assert SOURCE_GUARD.demuxer(format_name) == demuxer


@pytest.mark.parametrize("format_name", ["hls", "concat", "image2", "tee", "", "webm"])
def test_a_format_off_the_allowlist_has_no_demuxer(format_name: str) -> None:
    with pytest.raises(UnsupportedFormat):
        SOURCE_GUARD.demuxer(format_name)


def test_no_allowed_demuxer_opens_further_files() -> None:
    # playlists, scripts, patterns, multiplexers of other files, external subtitle pairs
    opens_others = {
        "hls", "applehttp", "dash", "concat", "image2", "image2pipe", "tee", "imf", "vobsub",
        "sdp", "rtsp", "rtp", "webm_dash_manifest", "lavfi", "segment", "ffmetadata", "data",
        "subfile", "avisynth", "vapoursynth",
    }  # fmt: skip
    assert not opens_others & set(SOURCE_FORMATS)


def test_codec_names_become_every_decoder_name_ffmpeg_may_pick() -> None:
    assert decoders(("av1",)) == ("libdav1d", "libaom-av1", "av1")
    assert decoders(("mp3", "subrip")) == ("mp3float", "mp3", "subrip", "srt")
    assert decoders(("h264", "pcm_s16le")) == ("h264", "pcm_s16le")  # same name
    assert decoders(("aac", "aac")) == ("aac", "aac_fixed")
    hardware = [d for d in decoders(DEFAULT_CODECS) if d.endswith(("_cuvid", "_qsv", "2m"))]
    assert hardware == []  # NVDEC runs inside the native decoder (-hwaccel cuda)


def test_a_narrower_guard_narrows_every_flag() -> None:
    guard = InputGuard(formats=("mov",), codecs=("h264",), max_pixels=640 * 480, max_streams=2)
    flags = guard.flags("mov")
    assert value(flags, "-format_whitelist") == "mov"
    assert value(flags, "-codec_whitelist") == "h264"
    assert value(flags, "-max_pixels") == "307200"
    assert value(flags, "-max_alloc") == str(256 * 1024**2)  # never below a sane floor
    assert value(flags, "-max_streams") == "2"


def test_our_own_outputs_are_read_with_the_format_whitelist_alone() -> None:
    flags = OUTPUT_GUARD.flags()
    assert flags == ("-protocol_whitelist", "file", "-format_whitelist", "mov,image2,jpeg_pipe")


def test_the_memory_limit_is_for_the_cpu_tier_only() -> None:
    limits = ResourceLimits(cpu_seconds=7200, memory_bytes=4 << 30, file_bytes=1 << 34)
    assert limits.for_tier(AccelTier.CPU) == limits
    for tier in (AccelTier.GPU, AccelTier.GPU_DECODE):  # CUDA maps huge virtual ranges
        assert limits.for_tier(tier) == ResourceLimits(7200, None, 1 << 34)
