"""Range encodes stitched into one package, against the whole encode of the same source.

A 24 s clip with sound (at 30 and at 30000/1001 fps) is encoded whole, and as two ranges of
whole segments ([0, 12) and [12, 24) s) plus the audio part, landed and stitched; the real
ffmpeg and ffprobe, no AWS. The stitched package has the whole encode's files, a timeline
without a gap or an overlap at the boundary, as many frames, the sound ending with the
picture, the existing ``finish`` and QC passing, and the frames around the boundary as
close to the source (SSIM) as the rest.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath

import pytest

from core.attempt.phases import PhaseTimer
from core.media.probe import ProbeResult, parse_probe
from core.ports import JobDir
from core.presets import AudioRendition, Rung, StreamingPreset
from core.streaming.packaging import Package, StreamingPackager
from core.streaming.range_landing import land_range, stitch_package
from core.streaming.ranges import plan_audio_part, plan_range, source_grid
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.stitch import RangeListing
from infra.ffmpeg import FfmpegMedia
from infra.workspace import LocalDiskFiles

pytestmark = pytest.mark.integration
TIMEOUT = 300
SECONDS = 24
PRESET = StreamingPreset(
    kind="cmaf", name="ranges", segment_seconds=4,
    ladder=(
        Rung(name="360p", short_side=360, video_kbps=800, maxrate_kbps=856, bufsize_kbps=1200),
        Rung(name="240p", short_side=240, video_kbps=400, maxrate_kbps=428, bufsize_kbps=600),
    ),
    audio=(AudioRendition(name="aac-128k", bitrate_kbps=128, channels=2),),
)  # fmt: skip
SSIM_TOLERANCE = 0.003  # without the warm-up segment the boundary dipped 0.008


@dataclass
class Encoded:
    rate: Fraction
    clip: Path
    whole: Package
    stitched: Package
    whole_dir: Path  # the whole encode's cmaf directory
    stitched_dir: Path


def make_clip(dest: Path, rate: str, seconds: int = SECONDS) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


async def encode(plan: StreamingPlan, out: Path, media: FfmpegMedia) -> None:
    (out / "cmaf").mkdir(parents=True, exist_ok=True)
    await media.transcode(plan.argv, out, TIMEOUT, None)


async def finish(plan: StreamingPlan, probe: ProbeResult, clip: Path, out: Path) -> Package:
    packager = StreamingPackager(FfmpegMedia(), LocalDiskFiles())
    jobdir = JobDir(root=out.parent, source=clip, out=out)
    return await packager.finish(plan, probe, jobdir, TIMEOUT, PhaseTimer())


async def stitched_ranges(
    root: Path, clip: Path, probe: ProbeResult, chunk_seconds: float
) -> list[RangeListing]:
    """The audio part, then every range landed in it, then the manifests stitched: the
    package in ``root/stitched/out/cmaf``."""
    media, files, at = FfmpegMedia(), LocalDiskFiles(), PurePosixPath(root)
    grid = source_grid(PRESET, probe)
    assert grid is not None
    audio = plan_audio_part(PRESET, probe, PurePosixPath(clip), at / "stitched" / "out")
    assert audio is not None
    await encode(audio, root / "stitched" / "out", media)
    package = root / "stitched" / "out" / "cmaf"
    reps = [str(i) for i in range(len(audio.video))]
    listings = []
    for i, chunk in enumerate(grid.split(chunk_seconds)):
        ranged = plan_range(PRESET, probe, PurePosixPath(clip), at / f"range{i}", chunk)
        assert ranged is not None
        await encode(ranged.plan, root / f"range{i}", media)
        mpd = (root / f"range{i}" / "cmaf" / "manifest.mpd").read_text()
        listing = RangeListing(chunk, mpd, ranged.warmup)
        await land_range(files, listing, reps, root / f"range{i}" / "cmaf", package)
        listings.append(listing)
    await stitch_package(files, package, listings, reps)
    return listings


async def whole_and_ranges(root: Path, rate: str) -> Encoded:
    clip = make_clip(root / "clip.mp4", rate, SECONDS)
    media = FfmpegMedia()
    probe = parse_probe(await media.probe(clip))
    whole = plan_streaming(
        PRESET, probe, PurePosixPath(clip), PurePosixPath(root) / "whole" / "out"
    )
    await encode(whole, root / "whole" / "out", media)
    listings = await stitched_ranges(root, clip, probe, 12.0)
    assert [(r.chunk.first, r.chunk.count, r.warmup) for r in listings] == [(0, 3, 0), (3, 3, 1)]
    whole_package = await finish(whole, probe, clip, root / "whole" / "out")
    stitched = await finish(whole, probe, clip, root / "stitched" / "out")
    return Encoded(grid_rate(probe), clip, whole_package, stitched,
                   root / "whole" / "out" / "cmaf", root / "stitched" / "out" / "cmaf")  # fmt: skip


def grid_rate(probe: ProbeResult) -> Fraction:
    grid = source_grid(PRESET, probe)
    assert grid is not None
    return grid.rate


@pytest.fixture(scope="module", params=["30", "30000/1001"], ids=["30fps", "ntsc"])
def encoded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    root = tmp_path_factory.mktemp("ranges")
    return asyncio.run(whole_and_ranges(root, str(request.param)))


def joined(package: Path, rep: int, dest: Path) -> Path:
    """A rendition's init and media segments as one file (how a player reads them)."""
    parts = [package / f"init-{rep}.m4s", *sorted(package.glob(f"seg-{rep}-*.m4s"))]
    dest.write_bytes(b"".join(p.read_bytes() for p in parts))
    return dest


def packets(path: Path) -> list[tuple[float, float, float]]:
    """(pts, dts, duration) of every packet, in file order."""
    doc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "0", "-show_entries",
         "packet=pts_time,dts_time,duration_time", "-of", "json", f"file:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [
        (float(p["pts_time"]), float(p["dts_time"]), float(p.get("duration_time", 0.0)))
        for p in json.loads(doc)["packets"]
    ]


def test_the_stitched_package_has_the_whole_encodes_files(encoded: Encoded) -> None:
    names = sorted(p.name for p in encoded.stitched_dir.iterdir())
    assert names == sorted(p.name for p in encoded.whole_dir.iterdir())
    assert len([n for n in names if n.startswith("seg-0-")]) == 6


def test_every_rendition_runs_on_without_a_gap_or_an_overlap(
    encoded: Encoded, tmp_path: Path
) -> None:
    frame = float(1 / encoded.rate)
    for rep in (0, 1):
        got = packets(joined(encoded.stitched_dir, rep, tmp_path / f"s{rep}.mp4"))
        want = packets(joined(encoded.whole_dir, rep, tmp_path / f"w{rep}.mp4"))
        assert len(got) == len(want) == 720
        dts = [d for _, d, _ in got]
        assert all(b > a for a, b in itertools.pairwise(dts))
        pts = sorted(p for p, _, _ in got)
        steps = [b - a for a, b in itertools.pairwise(pts)]
        assert all(abs(s - frame) < 1e-4 for s in steps)  # the boundary's too (frame 360)
        assert pts[0] == pytest.approx(sorted(p for p, _, _ in want)[0])


def test_the_sound_ends_with_the_picture(encoded: Encoded, tmp_path: Path) -> None:
    video = packets(joined(encoded.stitched_dir, 0, tmp_path / "v.mp4"))
    audio = packets(joined(encoded.stitched_dir, 2, tmp_path / "a.mp4"))
    video_end = max(p + d for p, _, d in video)
    audio_end = max(p + d for p, _, d in audio)
    assert abs(video_end - audio_end) < float(1 / encoded.rate)


def test_the_manifests_are_the_whole_encodes_but_for_the_measured_rates(encoded: Encoded) -> None:
    def unrated(text: str) -> str:
        return re.sub(r'(AVERAGE-)?BANDWIDTH=\d+|bandwidth="\d+"', "", text)

    for name in [*sorted(p.name for p in encoded.whole_dir.glob("*.m3u8")), "manifest.mpd"]:
        whole = (encoded.whole_dir / name).read_text()
        assert unrated((encoded.stitched_dir / name).read_text()) == unrated(whole), name


def test_the_audio_is_the_whole_encodes_byte_for_byte(encoded: Encoded) -> None:
    audio = sorted(p.name for p in encoded.whole_dir.glob("*-2*.m4s"))
    assert len(audio) == 7  # its init and six segments
    for name in audio:
        assert (encoded.stitched_dir / name).read_bytes() == (encoded.whole_dir / name).read_bytes()


def test_finish_and_qc_take_the_stitched_package_unchanged(encoded: Encoded) -> None:
    assert encoded.whole.qc.passed
    assert encoded.stitched.qc.passed, encoded.stitched.qc.failures()
    assert [r.name for r in encoded.stitched.renditions] == [
        r.name for r in encoded.whole.renditions
    ]
    assert [c.name for c in encoded.stitched.qc.checks] == [c.name for c in encoded.whole.qc.checks]


def test_the_frames_around_the_boundary_are_as_good_as_the_rest(
    encoded: Encoded, tmp_path: Path
) -> None:
    rendition = joined(encoded.stitched_dir, 0, tmp_path / "r.mp4")  # 640x360, the source's
    log = tmp_path / "ssim.log"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
         "-i", f"file:{rendition}", "-i", f"file:{encoded.clip}",
         "-lavfi", f"[0:v][1:v]ssim=stats_file={log.name}", "-f", "null", "-"],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    scores = [float(m) for m in re.findall(r"All:([0-9.]+)", log.read_text())]
    assert len(scores) == 720
    boundary = 360  # the second range's first frame
    average = sum(scores) / len(scores)
    assert min(scores[boundary - 3 : boundary + 3]) >= average - SSIM_TOLERANCE


def test_a_hls_ts_preset_is_encoded_whole(tmp_path: Path) -> None:
    preset = PRESET.model_copy(update={"kind": "hls-ts"})
    clip = make_clip(tmp_path / "clip.mp4", "30")
    probe = parse_probe(asyncio.run(FfmpegMedia().probe(clip)))
    grid = source_grid(PRESET, probe)
    assert grid is not None
    chunk = grid.split(12.0)[1]
    assert plan_range(preset, probe, PurePosixPath(clip), PurePosixPath(tmp_path), chunk) is None
    assert plan_audio_part(preset, probe, PurePosixPath(clip), PurePosixPath(tmp_path)) is None
    shutil.rmtree(tmp_path / "cmaf", ignore_errors=True)


def test_a_long_ntsc_source_keeps_the_whole_encodes_segments(tmp_path: Path) -> None:
    """44 s at 30000/1001: a keyframe every 120 frames, so every segment but the last lasts
    4.004 s (forced at multiples of 4 s, 960 -> 1079 had made a 7.97 s segment QC rejected);
    the ranges, cut at 12 s, make the very same timeline, run on without a gap, and the
    whole encode passes finish and QC."""
    clip = make_clip(tmp_path / "clip.mp4", "30000/1001", 44)
    media = FfmpegMedia()
    probe = parse_probe(asyncio.run(media.probe(clip)))
    whole = plan_streaming(PRESET, probe, PurePosixPath(clip), PurePosixPath(tmp_path) / "whole")
    asyncio.run(encode(whole, tmp_path / "whole", media))
    listings = asyncio.run(stitched_ranges(tmp_path, clip, probe, 12.0))
    assert [(r.chunk.first, r.chunk.count) for r in listings] == [(0, 3), (3, 3), (6, 3), (9, 2)]
    package, whole_dir = tmp_path / "stitched" / "out" / "cmaf", tmp_path / "whole" / "cmaf"
    assert sorted(p.name for p in package.iterdir()) == sorted(p.name for p in whole_dir.iterdir())
    for name in ("media_0.m3u8", "media_1.m3u8", "media_2.m3u8"):
        extinf = [line for line in (whole_dir / name).read_text().splitlines() if "EXTINF" in line]
        assert [x for x in (package / name).read_text().splitlines() if "EXTINF" in x] == extinf
    video = [x for x in (whole_dir / "media_0.m3u8").read_text().splitlines() if "EXTINF" in x]
    assert video[:-1] == ["#EXTINF:4.004000,"] * 10  # 120 frames each
    pts = sorted(p for p, _, _ in packets(joined(package, 0, tmp_path / "v.mp4")))
    assert len(pts) == 1319
    assert all(abs(b - a - 1001 / 30000) < 1e-4 for a, b in itertools.pairwise(pts))
    checked = asyncio.run(finish(whole, probe, clip, tmp_path / "whole"))
    assert checked.qc.passed, checked.qc.failures()


def test_ffmpeg_plays_the_stitched_master_end_to_end(encoded: Encoded) -> None:
    played = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-xerror",
         "-allowed_extensions", "ALL", "-i", "master.m3u8", "-map", "0:v:0", "-map", "0:a:0",
         "-f", "null", "-"],
        cwd=encoded.stitched_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr
    assert played.stderr == ""


async def resume(encoded: Encoded, root: Path, kept: int) -> Package:
    """A resumed attempt: the whole encode's first ``kept`` segments (and its init
    segments) are kept; one range encodes from there, the audio part the sound."""
    media, files, at = FfmpegMedia(), LocalDiskFiles(), PurePosixPath(root)
    probe = parse_probe(await media.probe(encoded.clip))
    grid = source_grid(PRESET, probe)
    audio = plan_audio_part(PRESET, probe, PurePosixPath(encoded.clip), at / "out")
    assert grid is not None
    assert audio is not None
    ranged = plan_range(PRESET, probe, PurePosixPath(encoded.clip), at / "range", grid.tail(kept))
    assert ranged is not None
    await encode(audio, root / "out", media)
    await encode(ranged.plan, root / "range", media)
    listing = RangeListing(ranged.chunk, (root / "range" / "cmaf" / "manifest.mpd").read_text(),
                           ranged.warmup)  # fmt: skip
    package, reps = root / "out" / "cmaf", ["0", "1"]
    await land_range(files, listing, reps, root / "range" / "cmaf", package)
    for rep in reps:  # what the bucket kept, brought back over the stand-in's
        names = [f"init-{rep}.m4s"] + [f"seg-{rep}-{n:05d}.m4s" for n in range(1, kept + 1)]
        for name in names:
            shutil.copyfile(encoded.whole_dir / name, package / name)
    await stitch_package(files, package, [listing], reps)
    plan = plan_streaming(PRESET, probe, PurePosixPath(encoded.clip), at / "out")
    return await finish(plan, probe, encoded.clip, root / "out")


def test_a_resumed_encode_continues_the_segments_an_earlier_attempt_kept(
    encoded: Encoded, tmp_path: Path
) -> None:
    package = asyncio.run(resume(encoded, tmp_path, kept=4))
    assert package.qc.passed, package.qc.failures()
    stitched = tmp_path / "out" / "cmaf"
    assert sorted(p.name for p in stitched.iterdir()) == sorted(
        p.name for p in encoded.whole_dir.iterdir()
    )
    pts = sorted(p for p, _, _ in packets(joined(stitched, 0, tmp_path / "v.mp4")))
    assert len(pts) == 720
    assert all(abs(b - a - float(1 / encoded.rate)) < 1e-4 for a, b in itertools.pairwise(pts))
