"""core.steps.encode_branch: the MP4 and ladder encoders as branches of a steps job's pass, and the
v1 argv of plan_mp4 / plan_streaming, byte for byte as before the encoders were shared."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest

from core.media.accel import CPU_ONLY, AccelTier, TierChoice
from core.media.frames import FramePath
from core.media.plan import TranscodePlan
from core.presets import Mp4Preset, OutputPreset, StreamingPreset, builtin_catalog
from core.steps.encode_branch import mp4_branch, streaming_branch
from core.steps.stage import Branch, Shape, shaped_probe
from core.streaming.renditions import StreamingPlan
from tests.unit.encode_golden import FIXTURE, all_argvs

GOLDEN: dict[str, list[str]] = json.loads(FIXTURE.read_text())


def test_the_golden_cases_are_all_recorded() -> None:
    assert sorted(all_argvs()) == sorted(GOLDEN)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_v1_argv_is_unchanged(case: str) -> None:
    assert all_argvs()[case] == GOLDEN[case]


# --- branches -----------------------------------------------------------------------------

OUT = PurePosixPath("/w/out")
SHAPE = Shape(width=1280, height=720, fps=50.0, duration=12.0)
GPU = TierChoice(AccelTier.GPU, 0)
LABEL = re.compile(r"\[[^\]]+\]")


def preset(name: str) -> OutputPreset:
    found = builtin_catalog().get(name)
    assert found is not None
    return found


def frames_for(choice: TierChoice, shape: Shape = SHAPE, pix_fmt: str = "yuv420p") -> FramePath:
    video = shaped_probe(shape).video
    assert video is not None
    return FramePath.plan(choice, video, pix_fmt, cpu_filters=True)


def mp4(choice: TierChoice = CPU_ONLY, audio: str | None = "[a0]") -> tuple[Branch, TranscodePlan]:
    chosen = preset("mp4-720p")
    assert isinstance(chosen, Mp4Preset)
    probe = shaped_probe(SHAPE)
    return mp4_branch(chosen, probe, OUT, "encode", frames_for(choice), "[v0]", audio, "s0")


def ladder(
    name: str = "web-hls", choice: TierChoice = CPU_ONLY, video: str | None = "[v1]"
) -> tuple[Branch, StreamingPlan]:
    chosen = preset(name)
    assert isinstance(chosen, StreamingPreset)
    probe = shaped_probe(SHAPE)
    frames = frames_for(choice, pix_fmt="yuv420p10le" if chosen.hdr == "keep" else "yuv420p")
    return streaming_branch(chosen, probe, OUT, "hls1", frames, video, "[a1]", "s1")


def wiring(branches: list[Branch]) -> tuple[list[str], list[str]]:
    """(labels made, labels consumed) over the branches' statements and ``-map``s."""
    made: list[str] = []
    used: list[str] = []
    for branch in branches:
        for statement in branch.graph:
            head = re.match(r"^(\[[^\]]+\])+", statement)
            tail = re.search(r"(\[[^\]]+\])+$", statement)
            assert head, statement
            assert tail, statement
            used += LABEL.findall(head.group(0))
            made += LABEL.findall(tail.group(0))
        args = branch.args
        used += [args[i + 1] for i, a in enumerate(args) if a == "-map"]
    return made, used


def test_mp4_branch_takes_its_labels_and_writes_under_its_folder() -> None:
    branch, plan = mp4()
    assert branch.graph[0].startswith("[v0]")
    assert "[a0]" in branch.args
    assert "0:a:0" not in branch.args
    assert branch.takes_audio
    assert branch.takes_video
    assert [o.name for o in plan.outputs] == ["encode/video.mp4", "encode/poster.jpg"]
    assert [a for a in branch.args if a.startswith("file:")] == [
        "file:/w/out/encode/video.mp4",
        "file:/w/out/encode/poster.jpg",
    ]
    assert branch.dirs == ("encode",)
    assert (plan.width, plan.height, plan.fps) == (1280, 720, 50.0)
    assert "fps=" not in branch.graph[0]  # the chain's rate is constant, under the preset's cap
    assert plan.argv == ()
    assert "-t" in branch.args  # the encode cap, from the shape's length


def test_mp4_branch_without_sound() -> None:
    branch, plan = mp4(audio=None)
    assert not branch.takes_audio
    assert not plan.has_audio
    assert "-an" in branch.args


def test_streaming_branch_writes_its_package_under_its_folder() -> None:
    branch, plan = ladder()
    assert branch.graph[0].startswith("[v1]")
    assert any(s.startswith("[a1]") for s in branch.graph)
    assert (plan.master, plan.mpd) == ("cmaf/master.m3u8", "cmaf/manifest.mpd")
    assert branch.dirs == ("hls1", "hls1/cmaf", "hls1/thumbnails", "hls1/.storyboard-tiles")
    files = [a for a in branch.args if a.startswith("file:")]
    assert files
    assert all(f.startswith("file:/w/out/hls1/") for f in files)
    assert branch.takes_video
    assert branch.takes_audio
    assert plan.argv == ()


def test_an_audio_only_ladder_takes_no_picture() -> None:
    branch, plan = ladder("audio-only")
    assert not branch.takes_video
    assert branch.takes_audio
    assert plan.video == ()
    assert all("[v1]" not in s for s in branch.graph)


@pytest.mark.parametrize("choice", [CPU_ONLY, GPU], ids=["cpu", "gpu"])
def test_branches_share_one_graph(choice: TierChoice) -> None:
    """Every label is made once and consumed once; the branches' own all start with their
    tag; only the labels the compiler hands them come from outside."""
    branches = [mp4(choice)[0], ladder(choice=choice)[0], ladder("hls-ts", choice)[0]]
    branches[2] = Branch(
        graph=tuple(s.replace("[s1", "[s2") for s in branches[2].graph),
        args=tuple(a.replace("[s1", "[s2") for a in branches[2].args),
    )  # a third branch, as another tag would give it
    made, used = wiring(branches)
    assert len(made) == len(set(made))
    outside = {"[v0]", "[a0]", "[v1]", "[a1]"}
    assert sorted(used) == sorted([*made, *outside, "[v1]", "[a1]"])  # [v1]/[a1] twice here
    assert all(label[1:3] in ("s0", "s1", "s2") for label in made)


def test_a_ladder_caps_the_chain_rate_as_its_preset_says() -> None:
    branch, plan = ladder("hls-ts")
    assert plan.fps == 25.0  # a divisor of the chain's 50, under the cap of 30
    assert ",fps=25," in branch.graph[0]
    assert plan.master == "hls/master.m3u8"


def gpu_order(statement: str, first: str, then: str) -> bool:
    return first in statement and statement.index(first) < statement.index(then)


def test_the_gpu_mp4_branch_uploads_before_scaling_and_pictures_on_the_cpu() -> None:
    branch, plan = mp4(GPU)
    assert plan.encoder == "h264_nvenc"
    assert gpu_order(branch.graph[0], "format=yuv420p,hwupload_cuda=device=0", "scale_cuda")
    poster = branch.graph[1]
    assert gpu_order(poster, "hwdownload,format=yuv420p", "scale=")


def test_the_gpu_ladder_uploads_once_and_makes_pictures_from_cpu_frames() -> None:
    branch, plan = ladder(choice=GPU)
    assert plan.encoder == "h264_nvenc"
    head = branch.graph[0]
    assert head.count("hwupload_cuda") == 1
    assert "scale_cuda" not in head
    rungs = [s for s in branch.graph if "scale_cuda" in s]
    assert len(rungs) == len(plan.video)
    pictures = [s for s in branch.graph[1:] if "scale=" in s]
    assert len(pictures) == 3  # poster, thumbnails, storyboard tiles
    assert all(gpu_order(s, "hwdownload,format=yuv420p", "scale=") for s in pictures)
    assert all("hwupload" not in s for s in branch.graph[1:])
