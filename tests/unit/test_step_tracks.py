"""core.steps.tracks: a steps job's ladder keeps every audio track its selection keeps, each
with the chain's track-wise filters; a step that builds one soundtrack keeps the first."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import PurePosixPath

from core.media.accel import AccelTier, TierChoice
from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream
from core.steps.compile import StepsPlan, compile_steps
from core.steps.quality_pass import planned_quality
from tests.step_docs import StepDocs
from tests.unit.test_compile import ATTACHED, OUT, PROBE, SOURCE, graph_of, steps

VIDEO = VideoStream("h264", 640, 360, 25.0, 0, Fraction(1), "yuv420p", duration=8.0, index=0)
TRACKS = (
    AudioStream("aac", 2, 48000, index=1, track=0, language="eng", default=True),
    AudioStream("aac", 2, 48000, index=2, track=1, language="spa", commentary=True),
    AudioStream("aac", 6, 48000, index=3, track=2, language="fra"),
)
THREE = ProbeResult(
    "matroska,webm",
    8.0,
    1_000_000,
    VIDEO,
    TRACKS[0],
    (
        StreamFacts(0, "video", "h264", 640, 360, 8.0),
        *(StreamFacts(t.index, "audio", "aac") for t in TRACKS),
    ),
    audio_tracks=TRACKS,
)
TRIMMED: StepDocs = [
    {"op": "trim", "start": 1.0, "end": 5.0},
    {"op": "speed", "factor": 2.0},
    {"op": "text", "text": "FFAPI"},
    {"op": "encode", "preset": "web-hls"},
]


def plan(listed: Sequence[Mapping[str, object]], probe: ProbeResult = THREE) -> StepsPlan:
    return compile_steps(steps(listed), probe, SOURCE, OUT, ATTACHED, TierChoice(AccelTier.CPU))


def statements(compiled: StepsPlan) -> list[str]:
    return statements_of(compiled.main.argv)


def statements_of(argv: tuple[str, ...]) -> list[str]:
    return graph_of(argv).split(";")


def option(argv: tuple[str, ...], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_every_track_takes_the_chain_s_track_wise_filters() -> None:
    graph = statements(plan(TRIMMED))
    # the first trim seeks the input (every stream); speed's tempo on every track
    sound = "aresample=48000,aformat=channel_layouts=stereo,atempo=2"
    # each track's layout held at its end too, where the ladders split from it
    assert f"[0:2]{sound},aformat=channel_layouts=stereo[atrack1]" in graph
    five = "aresample=48000,aformat=channel_layouts=5.1,atempo=2,aformat=channel_layouts=5.1"
    assert f"[0:3]{five}[atrack2]" in graph  # a 5.1 track stays 5.1
    assert any(s.startswith(f"[0:1]{sound}") for s in graph)
    assert "[atrack1]asplit=1[out3t1]" in graph
    assert "[atrack2]asplit=1[out3t2]" in graph


def test_a_later_trim_cuts_every_track() -> None:
    graph = statements(
        plan(
            [
                {"op": "text", "text": "x"},
                {"op": "trim", "start": 2.0},
                {"op": "encode", "preset": "web-hls"},
            ]
        )
    )
    cut = "atrim=start=2.000:end=8.000,asetpts=PTS-STARTPTS"
    assert sum(cut in s for s in graph) == 3


def test_a_keyframe_trim_starts_every_track_at_zero() -> None:
    listed: StepDocs = [
        {"op": "trim", "start": 1.0, "end": 3.0, "mode": "keyframe"},
        {"op": "encode", "preset": "web-hls"},
    ]
    graph = statements(plan(listed))
    first = "atrim=end=2.000,asetpts=PTS-STARTPTS,aresample=48000"
    assert [s[:5] for s in graph if first in s] == ["[0:1]", "[0:2]", "[0:3]"]


def test_the_ladder_maps_each_track_with_its_language() -> None:
    compiled = plan(TRIMMED)
    argv = compiled.main.argv
    [encode] = compiled.encodes
    assert encode.package is not None
    audio = [(a.name, a.track, a.language, a.channels) for a in encode.package.audio]
    assert audio == [
        ("aac-128k-eng", 0, "eng", 2),
        ("aac-128k-spa", 1, "spa", 2),
        ("aac-128k-fra", 2, "fra", 2),  # the 5.1 track's stereo downmix...
        ("aac-5.1-fra", 2, "fra", 6),  # ...and its 5.1, kept 5.1 through the chain
    ]
    languages = [v for j in range(4) for v in option(argv, f"-metadata:s:a:{j}")]
    assert languages == ["language=eng", "language=spa", "language=fra", "language=fra"]
    assert option(argv, "-ac:a:3") == ["6"]
    assert option(argv, "-ac:a:2") == ["2"]
    graph = statements(compiled)
    assert any(s.startswith("[out3a]aresample=async=1") for s in graph)
    assert any(s.startswith("[out3t1]aresample=async=1") for s in graph)
    assert any(s.startswith("[out3t2]aresample=async=1") for s in graph)


def test_every_label_is_made_once_and_used_once() -> None:
    argv = plan(
        [*TRIMMED, {"op": "encode", "preset": "mp4-480p"}, {"op": "encode", "preset": "hls-ts"}]
    ).main.argv
    label = re.compile(r"\[([A-Za-z0-9_:]+)\]")
    made: Counter[str] = Counter()
    used: Counter[str] = Counter()
    for statement in graph_of(argv).split(";"):
        head = re.match(r"^((?:\[[^\]]+\])*)", statement)
        assert head is not None
        used.update(i for i in label.findall(head.group(1)) if not re.match(r"^\d+:", i))
        made.update(label.findall(statement[len(head.group(1)) :]))
    mapped = Counter(m.strip("[]") for m in option(argv, "-map") if m.startswith("["))
    assert all(n == 1 for n in made.values()), made
    assert made == used + mapped


def test_a_step_that_builds_one_soundtrack_keeps_the_first_track() -> None:
    for op in ({"op": "loudness", "target_lufs": -16.0}, {"op": "speed", "factor": 1.5}):
        compiled = plan([op, {"op": "encode", "preset": "web-hls"}])
        carried = "[atrack" in graph_of(compiled.main.argv)
        assert carried == (op["op"] == "speed")
        noted = [n for n in compiled.notes if "only the first audio track" in n]
        note = "steps[0] (loudness): one soundtrack; the package keeps only the first audio track"
        assert noted == ([] if carried else [note])
        [encode] = compiled.encodes
        assert encode.package is not None
        assert len(encode.package.audio) == (4 if carried else 1)


def test_an_mp4_alone_carries_no_other_track() -> None:
    graph = graph_of(plan([{"op": "encode", "preset": "mp4-480p"}]).main.argv)
    assert "[0:2]" not in graph
    assert "[0:3]" not in graph


def test_one_track_plans_as_before() -> None:
    argv = plan(TRIMMED, PROBE).main.argv
    assert "atrack" not in graph_of(argv)
    assert "-metadata:s:a:0" not in argv


def test_the_quality_pass_sinks_every_track() -> None:
    compiled = plan([*TRIMMED, {"op": "quality"}])
    argv = planned_quality(compiled, OUT, PurePosixPath("qc-quality"))
    assert argv is not None
    graph = statements_of(argv)
    assert {"[amain]anullsink", "[atrack1]anullsink", "[atrack2]anullsink"} <= set(graph)
