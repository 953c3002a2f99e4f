"""The end of every encode: no output runs far past what the input states, however its
timestamps are damaged (core.media.plan.encode_cap, and where the planners put it)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import PurePosixPath

import pytest

from core.media.plan import encode_cap, plan_mp4
from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream, parse_probe
from core.media.probe_doc import probe_doc
from core.presets import Mp4Preset, StreamingPreset, builtin_catalog
from core.streaming.renditions import plan_streaming

SOURCE = PurePosixPath("/w/in/source")
OUT = PurePosixPath("/w/out")
CATALOG = builtin_catalog().presets
AAC = AudioStream(codec="aac", channels=2, sample_rate=48000, index=1)


def probe(
    file: float = 12.0, video: float | None = 12.0, start: float = 0.0, audio_tail: float = 0.0
) -> ProbeResult:
    picture = VideoStream(
        codec="h264",
        width=640,
        height=360,
        fps=30.0,
        rotation=0,
        sample_aspect=Fraction(1),
        pix_fmt="yuv420p",
        duration=video or 0.0,
        start=start,
    )
    streams = (
        StreamFacts(0, "video", "h264", 640, 360, video or 0.0),
        StreamFacts(1, "audio", "aac", duration=file + audio_tail),
    )
    return ProbeResult("mpegts", file, 1, picture if video is not None else None, AAC, streams)


def after(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def first_chain(argv: tuple[str, ...]) -> str:
    return after(argv, "-filter_complex").split(";")[0]


def test_the_cap_is_half_again_what_the_input_states_and_two_seconds() -> None:
    assert encode_cap(probe(file=12.0)) == pytest.approx(20.0)
    # the longest length any stream states counts (an audio tail past the file's own)
    assert encode_cap(probe(file=12.0, audio_tail=8.0)) == pytest.approx(32.0)


def test_an_input_that_states_no_length_has_no_cap() -> None:
    assert encode_cap(probe(file=0.0, video=0.0)) == 0.0


def mp4_argv(source: ProbeResult) -> tuple[str, ...]:
    preset = CATALOG["mp4-480p"]
    assert isinstance(preset, Mp4Preset)
    return plan_mp4(preset, source, SOURCE, OUT).argv


def test_the_mp4_output_stops_at_the_cap_and_the_poster_is_not_held_to_it() -> None:
    argv = mp4_argv(probe(file=12.0))
    assert after(argv, "-t") == "20.000"
    assert argv.count("-t") == 1
    video_out = argv.index("file:/w/out/video.mp4")
    assert argv.index("-map") < argv.index("-t") < video_out  # an option of video.mp4's
    assert argv.index("file:/w/out/poster.jpg") > video_out


def test_an_mp4_of_an_input_that_states_no_length_is_not_cut() -> None:
    assert "-t" not in mp4_argv(probe(file=0.0, video=0.0))


def streaming_graph(source: ProbeResult, preset: str = "web-hls") -> str:
    chosen = CATALOG[preset]
    assert isinstance(chosen, StreamingPreset)
    return after(plan_streaming(chosen, source, SOURCE, OUT).argv, "-filter_complex")


def test_a_ladder_picture_ends_where_the_video_does_before_the_split() -> None:
    chain = streaming_graph(probe(file=12.0, video=10.0)).split(";")[0]
    assert "fps=30,trim=end=10.000,split=" in chain
    # the sound is cut at the same point: no drift for the QC to find
    assert "apad=whole_dur=10.000,atrim=end=10.000" in streaming_graph(probe(video=10.0))


def test_a_picture_that_starts_late_ends_late_by_as_much() -> None:
    # ffmpeg times frames from the file's start: a video starting 0.5 s in ends at 12.5 s
    assert "trim=end=12.500," in streaming_graph(probe(file=12.5, video=12.0, start=0.5))


def test_a_picture_that_states_no_length_ends_at_the_cap() -> None:
    assert "trim=end=20.000," in streaming_graph(probe(file=12.0, video=0.0))


def test_sound_alone_stops_at_the_cap() -> None:
    graph = streaming_graph(probe(file=12.0, video=None), "audio-only")
    assert "aresample=async=1:first_pts=0,atrim=end=20.000," in graph
    assert "apad" not in graph


def test_the_probe_reads_how_late_the_video_starts() -> None:
    doc = {
        "format": {"format_name": "mpegts", "duration": "2.02", "start_time": "1.512000"},
        "streams": [
            {
                "index": 0,
                "codec_type": "video",
                "codec_name": "h264",
                "width": 320,
                "height": 180,
                "avg_frame_rate": "15/1",
                "start_time": "1.533333",
                "duration": "2.0",
            }
        ],
    }
    video = parse_probe(probe_doc(doc)).video
    assert video is not None
    assert video.start == pytest.approx(0.021333)


@pytest.mark.parametrize(
    ("stream_start", "file_start"),
    [(None, "1.5"), ("1.5", None), ("1.0", "1.5"), ("nan", "1.5"), ("N/A", "0.0")],
)
def test_an_unknown_or_early_start_reads_as_none(
    stream_start: str | None, file_start: str | None
) -> None:
    stream = {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 2, "height": 2}
    if stream_start is not None:
        stream["start_time"] = stream_start
    fmt = {"format_name": "mov"} | ({"start_time": file_start} if file_start else {})
    video = parse_probe(probe_doc({"format": fmt, "streams": [stream]})).video
    assert video is not None
    assert video.start == 0.0
