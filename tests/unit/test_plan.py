"""core.media.plan: the ffmpeg argv and the filter graph, from hand-built probes (output sizing on
its own: test_plan_sizing.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from pathlib import PurePosixPath

import pytest

from core.errors import UnsupportedMedia
from core.media.hardening import SOURCE_GUARD, InputGuard
from core.media.plan import packets_argv, plan_mp4, probe_argv, reads_as_one
from core.media.probe import AudioStream, ProbeResult, VideoStream
from core.presets import Mp4Preset
from tests.shipped_presets import shipped

P720 = shipped("mp4-720p", Mp4Preset)
P480 = shipped("mp4-480p", Mp4Preset)
SOURCE = PurePosixPath("/tmp/ffapi/j-0123456789abcdef01234567/input")
OUT_DIR = PurePosixPath("/tmp/ffapi/j-0123456789abcdef01234567/out")
AAC = AudioStream(codec="aac", channels=2, sample_rate=48000)

# Everything a filter graph built from numbers and fixed filter names may contain.
SAFE_GRAPH = re.compile(r"^[A-Za-z0-9\[\]:=,;._-]+$")


def video(
    width: int = 1920,
    height: int = 1080,
    fps: float = 30.0,
    rotation: int = 0,
    sample_aspect: Fraction = Fraction(1),
    duration: float = 0.0,
    index: int = 0,
) -> VideoStream:
    return VideoStream(
        codec="h264",
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        sample_aspect=sample_aspect,
        pix_fmt="yuv420p",
        duration=duration,
        index=index,
    )


def probe(
    v: VideoStream | None = None,
    audio: AudioStream | None = AAC,
    duration: float = 20.0,
) -> ProbeResult:
    return ProbeResult(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=duration,
        size=1_234_567,
        video=v if v is not None else video(),
        audio=audio,
    )


def graph_of(argv: tuple[str, ...]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def scale_of(graph: str) -> tuple[int, int]:
    m = re.search(r"\[0:\d+\]scale=(\d+):(\d+):", graph)
    assert m, graph
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------- plan_mp4


def test_argv_shape_and_hardening() -> None:
    plan = plan_mp4(P720, probe(), SOURCE, OUT_DIR)
    argv = plan.argv
    assert isinstance(argv, tuple)
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == "ffmpeg"
    assert "-nostdin" in argv
    i = argv.index("-i")
    wl = argv.index("-protocol_whitelist")
    assert wl < i
    assert argv[wl + 1] == "file"
    flags = SOURCE_GUARD.flags("mov")
    assert tuple(argv[wl : wl + len(flags)]) == flags  # the probed demuxer, named with -f
    assert argv[argv.index("-f") + 1] == "mov"
    assert "hls" not in argv[wl + 3].split(",")
    assert "concat" not in argv[wl + 3].split(",")
    assert argv[i + 1] == f"file:{SOURCE}"
    assert argv.count("-i") == 1


def test_the_plan_reads_the_source_under_the_guard_it_is_given() -> None:
    guard = InputGuard(codecs=("h264", "aac"), max_pixels=1920 * 1080, max_streams=4)
    argv = plan_mp4(P720, probe(), SOURCE, OUT_DIR, guard=guard).argv
    i = argv.index("-i")
    assert argv[argv.index("-codec_whitelist") + 1] == "h264,aac,aac_fixed"
    assert argv[argv.index("-max_pixels") + 1] == str(1920 * 1080)
    assert argv[argv.index("-max_streams") + 1] == "4"
    assert max(argv.index(f) for f in ("-codec_whitelist", "-max_pixels", "-f")) < i


def test_outputs_are_file_paths_inside_out_dir() -> None:
    plan = plan_mp4(P720, probe(), SOURCE, OUT_DIR)
    written = [a for a in plan.argv[plan.argv.index("-i") + 2 :] if a.startswith("file:")]
    assert written == [f"file:{OUT_DIR / o.name}" for o in plan.outputs]
    for arg in written:
        path = PurePosixPath(arg.removeprefix("file:"))
        assert path.parent == OUT_DIR
    assert [(o.name, o.role, o.content_type) for o in plan.outputs] == [
        ("video.mp4", "video", "video/mp4"),
        ("poster.jpg", "poster", "image/jpeg"),
    ]


def test_filter_graph_numbers_and_safe_characters() -> None:
    plan = plan_mp4(P720, probe(duration=20.0), SOURCE, OUT_DIR)
    graph = graph_of(plan.argv)
    assert SAFE_GRAPH.match(graph), graph
    assert scale_of(graph) == (1280, 720) == (plan.width, plan.height)
    assert "trim=start=2.000" in graph
    assert "scale=640:360[poster]" in graph
    assert plan.poster_at == pytest.approx(2.0)
    assert "fps=" not in graph
    assert plan.argv.index("[mp4]") < plan.argv.index("[poster]")


@pytest.mark.parametrize(
    "name",
    [
        "in put; rm -rf ~ $(reboot) `id` | cat > /etc/passwd & 'q' \"d\".mp4",
        "[0:v:0]scale=1:1,drawtext=text=pwn[mp4];movie=http://evil.example/x.mp4",
        "-i http:x -f lavfi",
        "ünïcødé\nnewline\ttab.mov",
    ],
)
def test_hostile_source_name_never_reaches_the_filter_graph(name: str) -> None:
    source = PurePosixPath("/tmp/ffapi/j-x") / name
    plan = plan_mp4(P720, probe(), source, OUT_DIR)
    graph = graph_of(plan.argv)
    assert SAFE_GRAPH.match(graph), graph
    assert name not in graph
    assert str(source) not in graph
    assert "drawtext" not in graph
    assert "movie" not in graph
    # The name travels as exactly one argv element (no shell, no splitting).
    assert plan.argv[plan.argv.index("-i") + 1] == f"file:{source}"
    assert sum(str(source) in a for a in plan.argv) == 1
    # Identical graph to a boring name: the path contributes nothing to it.
    assert graph == graph_of(plan_mp4(P720, probe(), SOURCE, OUT_DIR).argv)


def test_audio_is_mapped_when_present() -> None:
    plan = plan_mp4(P720, probe(), SOURCE, OUT_DIR)
    argv = plan.argv
    assert plan.has_audio
    assert "0:a:0" in argv
    assert argv[argv.index("-c:a") + 1] == "aac"
    assert argv[argv.index("-b:a") + 1] == "128k"
    assert argv[argv.index("-ac") + 1] == "2"
    assert "-an" not in argv


def test_no_audio_stream_means_an_and_no_audio_map() -> None:
    plan = plan_mp4(P720, probe(audio=None), SOURCE, OUT_DIR)
    assert not plan.has_audio
    assert "-an" in plan.argv
    assert "0:a:0" not in plan.argv
    assert "-c:a" not in plan.argv


def test_fps_under_the_cap_adds_no_fps_filter() -> None:
    plan = plan_mp4(P720, probe(video(fps=50.0)), SOURCE, OUT_DIR)
    assert "fps=" not in graph_of(plan.argv)
    assert plan.fps == 50.0
    assert plan.argv[plan.argv.index("-g") + 1] == "100"


def test_fps_over_the_cap_is_limited() -> None:
    plan = plan_mp4(P720, probe(video(fps=120.0)), SOURCE, OUT_DIR)
    graph = graph_of(plan.argv)
    assert "fps=60," in graph
    assert SAFE_GRAPH.match(graph)
    assert plan.fps == 60.0
    assert plan.argv[plan.argv.index("-g") + 1] == "120"


def test_unknown_fps_falls_back_to_the_cap() -> None:
    plan = plan_mp4(P720, probe(video(fps=0.0)), SOURCE, OUT_DIR)
    assert plan.fps == 60.0
    assert "fps=" not in graph_of(plan.argv)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_source_yields_portrait_output(rotation: int) -> None:
    # fitted by the short side, as the ladders are: 720 wide, not 720 tall
    plan = plan_mp4(P720, probe(video(1920, 1080, rotation=rotation)), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == (720, 1280)
    graph = graph_of(plan.argv)
    assert scale_of(graph) == (720, 1280)
    assert "scale=360:640[poster]" in graph  # the video's shape, its long side the poster's


@pytest.mark.parametrize(
    ("size", "preset", "fitted", "poster"),
    [
        ((1080, 1920), P480, (480, 854), (360, 640)),  # portrait: the ladder's 480p is 486x864
        ((1920, 1080), P480, (854, 480), (640, 360)),
        ((720, 1280), P720, (720, 1280), (360, 640)),  # never upscaled
        ((1080, 1080), P480, (480, 480), (480, 480)),  # square: never larger than the video
    ],
)
def test_mp4_fits_the_short_side_and_the_poster_follows_the_shape(
    size: tuple[int, int], preset: Mp4Preset, fitted: tuple[int, int], poster: tuple[int, int]
) -> None:
    plan = plan_mp4(preset, probe(video(*size)), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == fitted
    assert f"scale={poster[0]}:{poster[1]}[poster]" in graph_of(plan.argv)


def test_rotation_180_keeps_landscape() -> None:
    plan = plan_mp4(P720, probe(video(1920, 1080, rotation=180)), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == (1280, 720)


def test_anamorphic_source_gets_square_pixels() -> None:
    # DVD NTSC 16:9: 720x480 coded, SAR 32:27 -> 853.33x480 displayed.
    v = video(720, 480, sample_aspect=Fraction(32, 27))
    plan = plan_mp4(P720, probe(v), SOURCE, OUT_DIR)
    true_width = 720 * 32 / 27
    assert plan.height == 480  # not upscaled to 720
    assert plan.width % 2 == 0
    assert abs(plan.width - true_width) <= 2
    assert abs(plan.width / plan.height - 16 / 9) / (16 / 9) < 0.01
    graph = graph_of(plan.argv)
    assert scale_of(graph) == (plan.width, plan.height)
    assert "setsar=1" in graph


def test_anamorphic_source_width_is_the_nearest_even_display_width() -> None:
    v = video(720, 480, sample_aspect=Fraction(32, 27))
    plan = plan_mp4(P720, probe(v), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == (854, 480)


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_hdr_is_tone_mapped_to_sdr_before_the_scale_and_tagged_bt709(transfer: str) -> None:
    """An iPhone's HLG or an HDR10 PQ source: the 8-bit H.264 MP4 (and its poster) are SDR
    BT.709, as the ladders are; left alone they kept the source's HDR tags on 8 bits."""
    hdr = replace(video(), pix_fmt="yuv420p10le", color_transfer=transfer, codec="hevc")
    plan = plan_mp4(P720, probe(hdr), SOURCE, OUT_DIR)
    graph = graph_of(plan.argv)
    assert graph.startswith("[0:0]zscale=t=linear:npl=100,")
    assert (
        graph.index("tonemap=tonemap=hable") < graph.index("scale=1280:720") < graph.index("split")
    )
    tags = plan.argv[plan.argv.index("-color_trc") - 2 : plan.argv.index("-color_trc") + 4]
    assert tags == ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
    sdr = plan_mp4(P720, probe(), SOURCE, OUT_DIR)
    assert "tonemap" not in graph_of(sdr.argv)
    assert "-color_trc" not in sdr.argv  # an SDR source's own tags pass through


def test_audio_only_probe_is_unsupported() -> None:
    audio_only = ProbeResult(
        format_name="mp3", duration=180.0, size=4_000_000, video=None, audio=AAC
    )
    with pytest.raises(UnsupportedMedia) as info:
        plan_mp4(P720, audio_only, SOURCE, OUT_DIR)
    err = info.value
    assert err.code == "unsupported_media"
    assert err.retryable is False
    assert err.to_dict()["retryable"] is False


@pytest.mark.parametrize(
    ("duration", "poster_at", "trim"),
    [
        (0.5, 0.0, "trim=start=0.000"),
        (5.0, 0.5, "trim=start=0.500"),
        (20.0, 2.0, "trim=start=2.000"),
        (100.0, 10.0, "trim=start=10.000"),
        (3600.0, 10.0, "trim=start=10.000"),  # capped at 10 s
    ],
)
def test_poster_time(duration: float, poster_at: float, trim: str) -> None:
    plan = plan_mp4(P720, probe(duration=duration), SOURCE, OUT_DIR)
    assert plan.poster_at == pytest.approx(poster_at)
    assert plan.poster_at <= duration
    assert trim + "," in graph_of(plan.argv)


def test_480p_preset_caps_at_480() -> None:
    plan = plan_mp4(P480, probe(video(1920, 1080)), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == (854, 480)
    assert scale_of(graph_of(plan.argv)) == (854, 480)
    assert plan.argv[plan.argv.index("-crf") + 1] == "24"
    assert plan.argv[plan.argv.index("-b:a") + 1] == "96k"


def test_480p_preset_never_upscales_small_sources() -> None:
    plan = plan_mp4(P480, probe(video(426, 240)), SOURCE, OUT_DIR)
    assert (plan.width, plan.height) == (426, 240)


def test_encoder_settings_come_from_the_preset() -> None:
    plan = plan_mp4(P720, probe(), SOURCE, OUT_DIR)
    argv = plan.argv
    assert plan.encoder == "libx264"
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv[argv.index("-preset") + 1] == "veryfast"
    assert argv[argv.index("-crf") + 1] == "23"
    assert argv[argv.index("-map_metadata") + 1] == "-1"
    assert argv[argv.index("-movflags") + 1] == "+faststart"


# --------------------------------------------------------------------------- probe_argv


def test_probe_argv() -> None:
    path = PurePosixPath("/tmp/ffapi/j-x/input; $(reboot)")
    argv = probe_argv(path)
    assert isinstance(argv, tuple)
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == "ffprobe"
    assert argv[argv.index("-print_format") + 1] == "json"
    assert "-show_format" in argv
    assert "-show_streams" in argv
    wl = argv.index("-protocol_whitelist")
    assert argv[wl + 1] == "file"
    assert argv[-1] == f"file:{path}"
    assert wl < len(argv) - 1
    # the same flags as ffmpeg's, without -f (the demuxer is what ffprobe finds out)
    assert tuple(argv[wl : wl + len(SOURCE_GUARD.flags())]) == SOURCE_GUARD.flags()
    assert "-f" not in argv


def test_the_graph_maps_the_probed_video_stream_by_index() -> None:
    # Cover art or a data track may come first; the planner uses the stream the probe chose.
    plan = plan_mp4(P720, probe(v=video(index=2)), SOURCE, OUT_DIR)
    assert graph_of(plan.argv).startswith("[0:2]scale=")


def test_the_poster_is_timed_on_the_picture_not_the_file() -> None:
    # 0.5 s of video in a 20 s file (a long audio tail): the poster must fall inside the video.
    plan = plan_mp4(P720, probe(v=video(duration=0.5), duration=20.0), SOURCE, OUT_DIR)
    assert plan.poster_at == 0.0
    assert "trim=start=0.000" in graph_of(plan.argv)


def test_a_files_parts_are_read_in_place_when_one_argument_can_name_them() -> None:
    parts = ["cmaf/init-0.m4s", *(f"cmaf/seg-0-{n:05d}.m4s" for n in range(1, 4))]
    assert reads_as_one(parts)
    argv = packets_argv(["init-0.m4s", "seg-0-00001.m4s"], ("mov",), "v")
    assert argv[-1] == "concat:init-0.m4s|seg-0-00001.m4s"
    assert argv[argv.index("-protocol_whitelist") + 1] == "file,concat"
    one = packets_argv(["rendition.mp4"], ("mov",), "v")
    assert one[-1] == "file:rendition.mp4"
    assert one[one.index("-protocol_whitelist") + 1] == "file"  # no concat for one file
    # a six-hour rendition in 1 s segments: too long for one argument, joined instead
    assert not reads_as_one([f"cmaf/seg-0-{n:05d}.m4s" for n in range(21_600)])
    assert not reads_as_one(["cmaf/init-0.m4s", "hls/seg-0-00001.ts"])  # two directories
    assert not reads_as_one(["cmaf/init-0.m4s", "cmaf/seg|0.m4s"])  # not a plain name
