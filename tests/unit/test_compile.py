"""core.steps.compile: a steps job's passes, planned without running anything."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import PurePosixPath

import pytest

from core.errors import InvalidMessage
from core.events.progress import EncodeProgress
from core.jobs.results import resolve_preset
from core.media.accel import AccelTier, TierChoice
from core.media.probe import AudioStream, ProbeResult, StreamFacts, VideoStream
from core.models import JobRequest
from core.presets import StepsPreset, builtin_catalog
from core.steps.compile import StepsPlan, compile_steps
from core.steps.quality_pass import planned_quality
from core.steps.run import PassProgress
from core.steps.stage import Attached
from tests.step_docs import StepDocs

SOURCE = PurePosixPath("/job/input/source")
OUT = PurePosixPath("/job/out")
LABEL = re.compile(r"\[([A-Za-z0-9_:]+)\]")
VIDEO = VideoStream("h264", 1280, 720, 30.0, 0, Fraction(1), "yuv420p", duration=12.0, index=0)
PROBE = ProbeResult(
    "mov,mp4,m4a,3gp,3g2,mj2",
    12.0,
    1_000_000,
    VIDEO,
    AudioStream("aac", 2, 48000, index=1),
    (StreamFacts(0, "video", "h264", 1280, 720, 12.0), StreamFacts(1, "audio", "aac")),
)
LOGO = ProbeResult(
    "png_pipe",
    0.0,
    400,
    VideoStream("png", 200, 100, 25.0, 0, Fraction(1), "rgba"),
    None,
    (StreamFacts(0, "video", "png", 200, 100),),
)
ATTACHED = {"steps[1].image": Attached("steps[1].image", PurePosixPath("/job/attach/0"), LOGO)}
# the multi-step job: trim + overlay + text + web-hls + frames + preview
BENCH: StepDocs = [
    {"op": "trim", "start": 1.0, "end": 11.0},
    {"op": "overlay", "image": {"key": "brand/logo.png"}, "width": 0.12, "opacity": 0.85},
    {"op": "text", "text": "FFAPI", "position": "bottom-left", "box": True},
    {"op": "encode", "preset": "web-hls"},
    {"op": "frames", "every": 2.0},
    {"op": "preview", "format": "gif", "duration": 3.0},
]


def steps(listed: Sequence[Mapping[str, object]]) -> StepsPreset:
    request = JobRequest.model_validate(
        {"version": 2, "input": {"bucket": "ffapi-input", "key": "in.mp4"}, "steps": listed}
    )
    preset = resolve_preset(builtin_catalog(), request)
    assert isinstance(preset, StepsPreset)
    return preset


def plan(listed: Sequence[Mapping[str, object]], choice: TierChoice | None = None) -> StepsPlan:
    chosen = choice or TierChoice(AccelTier.CPU)
    return compile_steps(steps(listed), PROBE, SOURCE, OUT, ATTACHED, chosen)


def graph_of(argv: tuple[str, ...]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def test_the_benchmark_job_is_one_pass_with_one_decode() -> None:
    compiled = plan(BENCH)
    argv = compiled.main.argv
    assert argv.count("file:/job/input/source") == 1  # the input, read once
    assert [t.folder for t in compiled.targets] == ["encode", "frames", "preview"]
    assert "[vmain]split=3[out3v][out4v][out5v]" in graph_of(argv)
    assert "[amain]asplit=1[out3a]" in graph_of(argv)
    assert planned_quality(compiled, OUT, PurePosixPath("q")) is None  # no second pass


def test_every_label_is_made_once_and_used_once() -> None:
    for listed in (BENCH, [*BENCH, {"op": "encode", "preset": "mp4-480p"}]):
        argv = plan(listed).main.argv
        graph = graph_of(argv)
        made: Counter[str] = Counter()
        used: Counter[str] = Counter()
        for statement in graph.split(";"):
            head = re.match(r"^((?:\[[^\]]+\])*)", statement)
            assert head is not None
            inputs = LABEL.findall(head.group(1))
            used.update(i for i in inputs if not re.match(r"^\d+:", i))
            made.update(LABEL.findall(statement[len(head.group(1)) :]))
        maps = [argv[i + 1] for i, a in enumerate(argv) if a == "-map"]
        mapped = Counter(m.strip("[]") for m in maps if m.startswith("["))
        assert all(n == 1 for n in made.values()), made
        assert made == used + mapped


def test_the_quality_pass_reads_back_every_rung() -> None:
    compiled = plan([{"op": "encode", "preset": "web-hls"}, {"op": "quality"}])
    argv = planned_quality(compiled, OUT, PurePosixPath("qc-quality"))
    assert argv is not None
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [
        "file:/job/input/source",
        "file:qc-quality/encode-720p.bin",
        "file:qc-quality/encode-480p.bin",
        "file:qc-quality/encode-360p.bin",
    ]
    assert "[amain]anullsink" in graph_of(argv)  # the reference's sound is not compared


def test_on_the_gpu_the_plan_says_which_steps_need_cpu_frames() -> None:
    compiled = plan(BENCH, TierChoice(AccelTier.GPU, 0))
    assert compiled.main.tier is AccelTier.GPU
    assert "NVDEC decodes, NVENC encodes" in compiled.main.why
    assert "steps[1] overlay" in compiled.main.why
    assert "steps[2] text" in compiled.main.why
    argv = compiled.main.argv
    assert argv[argv.index("-hwaccel") + 1] == "cuda"
    assert "hwupload_cuda" in graph_of(argv)
    assert "h264_nvenc" in argv


def test_outputs_without_an_encode_run_on_the_cpu() -> None:
    compiled = plan([{"op": "frames", "count": 3}], TierChoice(AccelTier.GPU, 0))
    assert compiled.main.tier is AccelTier.CPU


def test_too_many_pictures_in_all_are_refused() -> None:
    listed = [{"op": "frames", "count": 300}, {"op": "frames", "count": 300}]
    with pytest.raises(InvalidMessage) as refused:
        plan(listed)
    assert refused.value.code == "invalid_request"
    assert "600 pictures" in refused.value.message


def test_progress_runs_once_from_zero_to_a_hundred_over_the_passes() -> None:
    seen: list[EncodeProgress] = []
    passes = PassProgress((30.0, 10.0), seen.append)
    first, second = passes.of(0, 10.0), passes.of(1, 10.0)
    assert first is not None
    assert second is not None
    first(EncodeProgress(5.0, 1.0, False))
    first(EncodeProgress(10.0, 1.0, True))  # the first pass ends: not the job
    second(EncodeProgress(5.0, 1.0, False))
    second(EncodeProgress(10.0, 1.0, True))
    assert [(p.out_seconds, p.done) for p in seen] == [
        (15.0, False),
        (30.0, False),
        (35.0, False),
        (40.0, True),
    ]
    assert passes.total == 40.0


def test_a_keyframe_trim_alone_copies_and_decodes_nothing() -> None:
    compiled = plan([{"op": "trim", "start": 2.5, "end": 6.5, "mode": "keyframe"}])
    argv = compiled.main.argv
    assert "-filter_complex" not in argv
    assert argv[argv.index("-noaccurate_seek") : argv.index("-noaccurate_seek") + 3] == (
        "-noaccurate_seek",
        "-ss",
        "2.500",
    )
    assert argv[argv.index("-c") + 1] == "copy"
    assert argv[-1] == "file:/job/out/clip/clip.mp4"
    assert [t.folder for t in compiled.targets] == ["clip"]


def test_a_keyframe_trim_before_outputs_copies_beside_them() -> None:
    compiled = plan(
        [{"op": "trim", "start": 2.5, "mode": "keyframe"}, {"op": "frames", "count": 2}]
    )
    assert [t.folder for t in compiled.targets] == ["clip", "frames"]
    assert "-filter_complex" in compiled.main.argv
    assert "-t" not in compiled.main.argv  # to the end: the copy has no length to keep
