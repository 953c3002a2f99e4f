"""Encode steps as branches of one pass, with the real ffmpeg: a hand-built chain (what the
transforms compile to) split to an MP4 branch and a ladder branch, run as one argv; then the
ladder's package is finished and checked by StreamingPackager.finish."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from core.attempt.phases import PhaseTimer
from core.media.accel import CPU_ONLY
from core.media.frames import FramePath
from core.media.plan import GLOBAL_FLAGS, TranscodePlan
from core.ports import JobDir
from core.presets import Mp4Preset, StreamingPreset, builtin_catalog
from core.steps.encode_branch import mp4_branch, streaming_branch
from core.steps.stage import Shape, shaped_probe
from core.streaming.packaging import Package, StreamingPackager
from infra.ffmpeg import FfmpegMedia
from infra.workspace import LocalDiskFiles

pytestmark = pytest.mark.integration

TIMEOUT = 120
SHAPE = Shape(width=640, height=360, fps=25.0, duration=4.0)
CHAIN = (
    "[0:v]fps=25,format=yuv420p,setsar=1[vmain]",
    "[0:a]aresample=48000[amain]",
    "[vmain]split=2[v0][v1]",
    "[amain]asplit=2[a0][a1]",
)


@dataclass(frozen=True)
class Pass:
    out: Path
    mp4: TranscodePlan
    package: Package


def make_clip(dest: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> Pass:
    root = tmp_path_factory.mktemp("branches")
    clip = make_clip(root / "clip.mp4")
    out = root / "out"
    catalog = builtin_catalog()
    mp4_preset, ladder_preset = catalog.get("mp4-480p"), catalog.get("web-hls")
    assert isinstance(mp4_preset, Mp4Preset)
    assert isinstance(ladder_preset, StreamingPreset)
    probe = shaped_probe(SHAPE)
    assert probe.video is not None
    frames = FramePath.plan(CPU_ONLY, probe.video, "yuv420p", cpu_filters=True)
    at = PurePosixPath(out)
    mp4, mp4_plan = mp4_branch(mp4_preset, probe, at, "encode", frames, "[v0]", "[a0]", "s2")
    hls, hls_plan = streaming_branch(ladder_preset, probe, at, "hls", frames, "[v1]", "[a1]", "s3")
    for name in (*mp4.dirs, *hls.dirs):
        (out / name).mkdir(parents=True, exist_ok=True)
    argv = [
        "ffmpeg", *GLOBAL_FLAGS, "-i", f"file:{clip}",
        "-filter_complex", ";".join((*CHAIN, *mp4.graph, *hls.graph)), *mp4.args, *hls.args,
    ]  # fmt: skip
    media = FfmpegMedia()
    asyncio.run(media.transcode(argv, root, TIMEOUT, None))
    jobdir = JobDir(root=root, source=clip, out=out / "hls")
    packager = StreamingPackager(media, LocalDiskFiles())
    package = asyncio.run(packager.finish(hls_plan, probe, jobdir, TIMEOUT, PhaseTimer()))
    return Pass(out, mp4_plan, package)


def streams_of(path: Path) -> list[dict[str, str]]:
    doc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_type,width,height,duration", "-of", "json", f"file:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    streams: list[dict[str, str]] = json.loads(doc)["streams"]
    return streams


def decoded_frames(path: Path) -> int:
    """Frames the decoder really produces (not what the container states)."""
    doc = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", f"file:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(doc.strip())


def test_the_mp4_branch_writes_a_whole_video_and_a_poster(one_pass: Pass) -> None:
    assert [o.name for o in one_pass.mp4.outputs] == ["encode/video.mp4", "encode/poster.jpg"]
    video = one_pass.out / "encode" / "video.mp4"
    kinds = {s["codec_type"]: s for s in streams_of(video)}
    assert set(kinds) == {"video", "audio"}
    assert (int(kinds["video"]["width"]), int(kinds["video"]["height"])) == (640, 360)
    assert float(kinds["video"]["duration"]) == pytest.approx(4.0, abs=0.1)
    assert float(kinds["audio"]["duration"]) == pytest.approx(4.0, abs=0.15)
    assert decoded_frames(video) == 100  # 4 s at 25 fps
    poster = streams_of(one_pass.out / "encode" / "poster.jpg")[0]
    assert (int(poster["width"]), int(poster["height"])) == (640, 360)


def test_the_ladder_branch_is_a_package_that_passes_qc(one_pass: Pass) -> None:
    package = one_pass.package
    assert package.qc.passed
    assert [r.name for r in package.renditions if r.kind == "video"] == [
        r.name for r in package.plan.video
    ]
    assert all(r.duration == pytest.approx(4.0, abs=0.1) for r in package.renditions)
    cmaf = one_pass.out / "hls" / "cmaf"
    master = m3u8.load(str(cmaf / "master.m3u8"))
    assert len(master.playlists) == len(package.plan.video)
    assert all((p.stream_info.bandwidth or 0) > 0 for p in master.playlists)
    mpd = MPEGDASHParser.parse(str(cmaf / "manifest.mpd"))
    reps = [r for s in mpd.periods[0].adaptation_sets for r in s.representations]
    assert len(reps) == len(package.plan.video) + len(package.plan.audio)
    # the storyboard's tiles were laid out into sheets and the scratch removed
    thumbnails = one_pass.out / "hls" / "thumbnails"
    assert (thumbnails / "poster.jpg").stat().st_size > 0
    assert list(thumbnails.glob("storyboard-*.jpg"))
    assert (thumbnails / "storyboard.vtt").exists()
    assert not list((one_pass.out / "hls" / ".storyboard-tiles").iterdir())


def test_the_branches_wrote_nothing_outside_their_folders(one_pass: Pass) -> None:
    assert sorted(p.name for p in one_pass.out.iterdir()) == ["encode", "hls"]


def test_an_mpeg_ts_ladder_branch_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hls-ts (one audio copy muxed into every variant) straight from the chain's labels."""
    clip = make_clip(tmp_path / "clip.mp4")
    preset = builtin_catalog().get("hls-ts")
    assert isinstance(preset, StreamingPreset)
    probe = shaped_probe(SHAPE)
    assert probe.video is not None
    frames = FramePath.plan(CPU_ONLY, probe.video, "yuv420p", cpu_filters=True)
    out = tmp_path / "out"
    branch, plan = streaming_branch(
        preset, probe, PurePosixPath(out), "ts", frames, "[vmain]", "[amain]", "s1"
    )
    for name in branch.dirs:
        (out / name).mkdir(parents=True, exist_ok=True)
    argv = [
        "ffmpeg", *GLOBAL_FLAGS, "-i", f"file:{clip}",
        "-filter_complex", ";".join((*CHAIN[:2], *branch.graph)), *branch.args,
    ]  # fmt: skip
    media = FfmpegMedia()
    asyncio.run(media.transcode(argv, tmp_path, TIMEOUT, None))
    shutil.copytree(out, tmp_path / "joined")
    jobdir = JobDir(root=tmp_path, source=clip, out=out / "ts")
    packager = StreamingPackager(media, LocalDiskFiles())
    package = asyncio.run(packager.finish(plan, probe, jobdir, TIMEOUT, PhaseTimer()))
    assert package.qc.passed
    # a rendition of too many segments to name in one argument is read as a joined copy:
    # the same facts, the same QC
    monkeypatch.setattr("core.media.plan.CONCAT_ARGUMENT_LIMIT", 0)
    copy = JobDir(root=tmp_path, source=clip, out=tmp_path / "joined" / "ts")
    joined = asyncio.run(packager.finish(plan, probe, copy, TIMEOUT, PhaseTimer()))
    assert joined.qc == package.qc
    assert joined.renditions == package.renditions
    assert not list((tmp_path / "qc").iterdir())  # the copies are gone
    master = m3u8.load(str(out / "ts" / "hls" / "master.m3u8"))
    assert len(master.playlists) == len(plan.video)
    assert all((p.stream_info.bandwidth or 0) > 0 for p in master.playlists)
