"""core.streaming.renditions: the one ffmpeg argv of an adaptive-streaming job, from hand-built
probes, and its properties over many sources (hypothesis)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import UnsupportedMedia
from core.media.hardening import SOURCE_GUARD
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.renditions import StreamingPlan, plan_streaming

SOURCE = PurePosixPath("/w/in/source")
OUT = PurePosixPath("/w/out")
PRESETS = {
    name: p for name, p in builtin_catalog().presets.items() if isinstance(p, StreamingPreset)
}
AAC = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)
SAFE_GRAPH = re.compile(r"^[A-Za-z0-9\[\]:=,;._\-/()\\]+$")


def source(
    width: int = 1280,
    height: int = 720,
    fps: float = 30.0,
    *,
    rotation: int = 0,
    sar: Fraction = Fraction(1),
    pix_fmt: str = "yuv420p",
    transfer: str | None = None,
    audio: bool = True,
    video: bool = True,
    duration: float = 12.0,
) -> ProbeResult:
    stream = VideoStream(
        codec="h264",
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        sample_aspect=sar,
        pix_fmt=pix_fmt,
        duration=duration,
        color_transfer=transfer,
    )
    return ProbeResult(
        format_name="mov",
        duration=duration,
        size=1,
        video=stream if video else None,
        audio=AAC if audio else None,
    )


def plan(probe: ProbeResult, preset: str = "web-hls") -> StreamingPlan:
    return plan_streaming(PRESETS[preset], probe, SOURCE, OUT)


def after(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def muxer(argv: tuple[str, ...]) -> str:
    """The output's format (the ``-f`` before ``-i`` names the input's demuxer)."""
    return after(argv[argv.index("-i") :], "-f")


def graph(p: StreamingPlan) -> str:
    return after(p.argv, "-filter_complex")


def maps(argv: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-map"]


def test_web_hls_argv_for_a_720p_source_with_audio() -> None:
    p = plan(source())
    argv = p.argv
    assert isinstance(argv, tuple)
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == "ffmpeg"
    assert argv.count("-i") == 1
    i = argv.index("-i")
    assert argv[i + 1] == "file:/w/in/source"
    flags = SOURCE_GUARD.flags("mov")  # the hardened input, and the demuxer ffprobe found
    assert argv[i - len(flags) : i] == flags
    assert argv.count("-filter_complex") == 1

    # 1080p is dropped (never upscale): three rungs, each scaled to its fitted size.
    assert [(v.name, v.width, v.height) for v in p.video] == [
        ("720p", 1280, 720),
        ("480p", 864, 486),
        ("360p", 640, 360),
    ]
    g = graph(p)
    # the picture stops where the video says it ends, before the split (and the audio too)
    assert g.startswith("[0:0]format=yuv420p,fps=30,trim=end=12.000,split=6[r0][r1][r2][p][t][s];")
    for v in p.video:
        assert f"scale={v.width}:{v.height}:" in g
    assert "setsar=1[board]" in g
    assert "[0:1]aresample=async=1:first_pts=0,apad=whole_dur=12.000" in g
    assert "asplit=1[a0]" in g
    assert maps(argv)[:4] == ["[v0]", "[v1]", "[v2]", "[a0]"]
    assert maps(argv)[4:] == ["[poster]", "[thumbs]", "[board]"]

    assert muxer(argv) == "dash"
    assert after(argv, "-hls_playlist") == "1"
    assert after(argv, "-seg_duration") == "4"
    assert after(argv, "-force_key_frames:v") == "expr:gte(n,n_forced*120)"
    assert after(argv, "-g") == "120"
    assert after(argv, "-keyint_min") == "120"
    assert after(argv, "-sc_threshold") == "0"
    # the audio cut only where the video is (its own limit, twice the video's, never met)
    assert after(argv, "-adaptation_sets") == "id=0,streams=v id=1,seg_duration=8,streams=a"
    assert after(argv, "-b:v:0") == "2800k"
    assert after(argv, "-maxrate:v:2") == "856k"
    assert "file:/w/out/cmaf/manifest.mpd" in argv
    # the storyboard's tiles one by one in the pass, laid out into sheets afterwards
    assert "file:/w/out/.storyboard-tiles/tile-%05d.jpg" in argv
    assert "tile=" not in after(argv, "-filter_complex")
    assert p.storyboard is not None
    assert (p.storyboard.columns, p.storyboard.rows) == (10, 10)
    assert (p.kind, p.master, p.mpd, p.fps, p.notes) == (
        "cmaf",
        "cmaf/master.m3u8",
        "cmaf/manifest.mpd",
        30.0,
        (),
    )
    assert p.directories == ("cmaf", "thumbnails", ".storyboard-tiles")


def test_an_audio_only_source_under_web_hls_maps_no_video() -> None:
    p = plan(source(video=False))
    assert maps(p.argv) == ["[a0]"]
    assert after(p.argv, "-adaptation_sets") == "id=0,streams=a"
    assert graph(p).startswith("[0:1]aresample=")
    assert "apad" not in graph(p)  # no picture to match
    assert (p.video, p.thumbnails, p.storyboard, p.encoder) == ((), None, None, "aac")
    assert "-g" not in p.argv
    assert p.directories == ("cmaf",)


def test_the_audio_only_preset_ignores_the_picture() -> None:
    p = plan(source(), "audio-only")
    assert maps(p.argv) == ["[a0]", "[a1]"]
    assert after(p.argv, "-b:a:1") == "64k"
    assert "[0:0]" not in graph(p)


def test_a_source_without_audio_has_no_audio_branch() -> None:
    p = plan(source(audio=False))
    assert "[a0]" not in graph(p)
    assert "aresample" not in graph(p)
    assert after(p.argv, "-adaptation_sets") == "id=0,streams=v"
    assert p.audio == ()
    assert not any(a.startswith("-c:a") for a in p.argv)


def test_nothing_usable_is_refused() -> None:
    with pytest.raises(UnsupportedMedia):
        plan(source(audio=False), "audio-only")


def test_hls_ts_muxes_one_audio_copy_per_rung() -> None:
    p = plan(source(), "hls-ts")
    argv = p.argv
    assert muxer(argv) == "hls"
    assert after(argv, "-hls_playlist_type") == "event"  # made VOD after the encode
    assert after(argv, "-hls_flags") == "independent_segments+temp_file"
    assert after(argv, "-hls_segment_type") == "mpegts"
    assert after(argv, "-var_stream_map") == "v:0,a:0,name:0 v:1,a:1,name:1 v:2,a:2,name:2"
    assert after(argv, "-hls_time") == "6"
    assert after(argv, "-g") == "180"
    assert "asplit=3[a0][a1][a2]" in graph(p)
    assert "-hls_playlist" not in argv
    assert argv[-1] == "file:/w/out/thumbnails/thumb-%05d.jpg"
    assert "file:/w/out/hls/media_%v.m3u8" in argv
    assert (p.package_dir, p.master, p.mpd, len(p.audio)) == ("hls", "hls/master.m3u8", None, 1)
    assert p.storyboard is None


def test_hls_ts_without_audio() -> None:
    p = plan(source(audio=False), "hls-ts")
    assert after(p.argv, "-var_stream_map") == "v:0,name:0 v:1,name:1 v:2,name:2"


def test_hdr_is_tone_mapped_to_8_bit_sdr() -> None:
    p = plan(source(3840, 2160, 30.0, pix_fmt="yuv420p10le", transfer="smpte2084"))
    g = graph(p)
    assert "tonemap" in g
    assert "format=yuv420p," in g
    assert g.index("tonemap") < g.index("format=yuv420p,") < g.index("split=")
    assert any("HDR" in note for note in p.notes)
    assert after(p.argv, "-color_trc") == "bt709"
    assert [v.height for v in p.video] == [1080, 720, 486, 360]


def test_a_preset_may_keep_hdr_as_hevc_main10() -> None:
    keep = PRESETS["web-hls"].model_copy(update={"hdr": "keep", "video_codec": "libx265"})
    p = plan_streaming(keep, source(pix_fmt="yuv420p10le", transfer="arib-std-b67"), SOURCE, OUT)
    g = graph(p)
    assert "tonemap" not in g
    assert "format=yuv420p10le" in g
    assert after(p.argv, "-profile:v") == "main10"
    assert after(p.argv, "-color_trc") == "arib-std-b67"
    assert after(p.argv, "-tag:v") == "hvc1"
    assert "keyint=120:min-keyint=120:scenecut=0" in after(p.argv, "-x265-params")


def test_10_bit_sdr_is_reduced_to_8_bits_without_tone_mapping() -> None:
    p = plan(source(pix_fmt="yuv420p10le"))
    assert "tonemap" not in graph(p)
    assert any("8-bit" in note for note in p.notes)


@pytest.mark.parametrize(
    ("preset", "rate", "fps", "gop"),
    [("hls-ts", "30000/1001", 29.97, "180"), ("web-hls", "60000/1001", 59.94, "240")],
)
def test_ntsc_rates_stay_exact_fractions(preset: str, rate: str, fps: float, gop: str) -> None:
    p = plan(source(fps=59.94), preset)
    assert f"fps={rate}," in graph(p)
    assert p.fps == pytest.approx(fps, abs=1e-3)
    assert after(p.argv, "-g") == gop
    if preset == "hls-ts":
        assert any("capped to 29.97" in note for note in p.notes)


def test_a_rotated_source_gets_portrait_rungs() -> None:
    p = plan(source(rotation=90))
    assert [(v.width, v.height) for v in p.video] == [(720, 1280), (486, 864), (360, 640)]
    assert "scale=720:1280:" in graph(p)
    assert p.ladder is not None
    assert p.ladder.aspect == (9, 16)


sides = st.integers(min_value=16, max_value=4096)
rotations = st.sampled_from([0, 90, 180, 270])
rates = st.sampled_from([0.0, 12.0, 23.976, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0, 120.0, 240.0])
sars = st.sampled_from(
    [
        Fraction(1),
        Fraction(4, 3),
        Fraction(32, 27),
        Fraction(8, 9),
        Fraction(10, 11),
        Fraction(16, 11),
        Fraction(40, 33),
    ]
)


@given(
    w=sides,
    h=sides,
    rotation=rotations,
    fps=rates,
    sar=sars,
    audio=st.booleans(),
    preset=st.sampled_from(["web-hls", "hls-ts", "audio-only"]),
)
def test_every_plan_is_a_safe_argv_with_one_aspect_ratio(
    w: int, h: int, rotation: int, fps: float, sar: Fraction, audio: bool, preset: str
) -> None:
    probe = source(w, h, fps, rotation=rotation, sar=sar, audio=audio)
    try:
        p = plan(probe, preset)
    except UnsupportedMedia:
        assert preset == "audio-only"
        assert not audio
        return
    assert all(isinstance(arg, str) for arg in p.argv)
    assert p.argv.count("-i") == 1
    assert SAFE_GRAPH.match(graph(p)), graph(p)
    if PRESETS[preset].ladder:
        assert p.ladder is not None
        assert p.video
        num, den = p.ladder.aspect
        assert all(v.width * den == v.height * num for v in p.video), (p.video, p.ladder.aspect)
        assert all(v.width % 2 == 0 and v.height % 2 == 0 for v in p.video)
        assert 0 < p.fps <= PRESETS[preset].max_fps
    else:
        assert p.video == ()
    assert ("[a0]" in graph(p)) is audio
