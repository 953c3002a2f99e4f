"""The frames, preview, scenes and quality outputs, run by the real ffmpeg on generated media.

Each test builds the pass a steps job would: the picture made constant-rate, square and
yuv420p as the transforms leave it (``[vmain]``), split once per branch, the branches under
test after it; ffmpeg runs with the test's directory as its working directory. What is
written is decoded and checked: which source frame each picture is, frame counts, sizes,
cut times, and scores that order the renditions as their quality does.
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from core.steps.branches import frame_numbers, frames_branch, preview_branch, scenes_branch
from core.steps.outputs import Frames, Preview, Scenes
from core.steps.quality import RenditionRef, parse_quality, quality_argv, stats_files
from core.steps.scenes import parse_scenes
from core.steps.stage import Branch, Shape

pytestmark = pytest.mark.integration

FFMPEG = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")
FPS = 25
CLIP = f"testsrc2=s=160x120:r={FPS}:d=10"  # a frame counter and moving shapes: no two alike
SHAPE = Shape(width=160, height=120, fps=FPS, duration=10.0)
CHAIN = f"[0:v]fps={FPS},format=yuv420p,setsar=1[vmain]"
# Red 2 s, blue 2 s, testsrc2 2 s: hard cuts at 2 and 4 and 6 s; then green fading in from
# black over 3 s, a slow change with no cut in it.
CUTS = (
    f"color=red:s=160x120:r={FPS}:d=2[a];color=blue:s=160x120:r={FPS}:d=2[b];"
    f"testsrc2=s=160x120:r={FPS}:d=2[c];color=green:s=160x120:r={FPS}:d=3,fade=t=in:d=3[d];"
    "[a][b][c][d]concat=n=4:v=1:a=0"
)

Build = Callable[[str, str], Branch]  # (video label, tag) -> the branch


def run_pass(cwd: Path, source: tuple[str, ...], builds: list[Build]) -> None:
    """One pass: the source's picture as the chain leaves it, split once per branch."""
    branches = [build(f"[v{i}]", f"s{i}") for i, build in enumerate(builds)]
    labels = "".join(f"[v{i}]" for i in range(len(branches)))
    graph = [CHAIN, f"[vmain]split={len(branches)}{labels}"]
    args: list[str] = []
    for b in branches:
        for d in b.dirs:
            (cwd / "out" / d).mkdir(parents=True, exist_ok=True)
        graph += b.graph
        args += b.args
    argv = [*FFMPEG, *source, "-filter_complex", ";".join(graph), *args]
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=120)


def gray(path_or_lavfi: list[str], size: str = "80x60") -> list[bytes]:
    """Each picture decoded to 8-bit gray at ``size``, one bytes object per frame."""
    w, h = (int(x) for x in size.split("x"))
    raw = subprocess.run(
        [*FFMPEG, *path_or_lavfi, "-vf", f"scale={w}:{h}", "-f", "rawvideo", "-pix_fmt", "gray",
         "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return [raw[i : i + w * h] for i in range(0, len(raw), w * h)]


def source_frame_of(picture: bytes, source: list[bytes], near: int) -> int:
    """The source frame (of ``near`` and its neighbours) the picture is closest to."""
    candidates = range(max(0, near - 3), min(len(source), near + 4))
    return min(
        candidates, key=lambda n: sum(abs(a - b) for a, b in zip(picture, source[n], strict=True))
    )


def pictures(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern))


def probe(path: Path, *entries: str) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         f"stream={','.join(entries)}", "-of", "json", f"file:{path}"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    stream: dict[str, object] = json.loads(out)["streams"][0]
    return stream


@pytest.mark.parametrize(
    "step",
    [
        Frames(op="frames", every=2.0, width=160),
        Frames(op="frames", at=(0.48, 3.0, 7.72, 9.96), width=160, format="png"),
        Frames(op="frames", count=3, width=160),
    ],
    ids=["every", "at", "count"],
)
def test_each_picture_is_the_source_frame_shown_at_its_time(tmp_path: Path, step: Frames) -> None:
    out = PurePosixPath(tmp_path / "out")
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CLIP),
        [lambda v, t: frames_branch(step, SHAPE, out, "frames", v, t)],
    )
    written = pictures(tmp_path / "out" / "frames", f"frame-*.{step.format}")
    expected = frame_numbers(step, SHAPE)
    assert len(written) == len(expected)
    if step.every == 2.0:
        assert expected == (0, 50, 100, 150, 200)  # 0, 2, 4, 6, 8 s
    source = gray(["-f", "lavfi", "-i", CLIP])
    for picture, number in zip(written, expected, strict=True):
        (decoded,) = gray(["-i", f"file:{picture}"])
        assert source_frame_of(decoded, source, number) == number, picture.name


def test_webp_frames_decode_at_the_asked_width(tmp_path: Path) -> None:
    out = PurePosixPath(tmp_path / "out")
    step = Frames(op="frames", count=2, width=64, format="webp")
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CLIP),
        [lambda v, t: frames_branch(step, SHAPE, out, "stills", v, t)],
    )
    written = pictures(tmp_path / "out" / "stills", "frame-*.webp")
    assert [p.name for p in written] == ["frame-00001.webp", "frame-00002.webp"]
    assert probe(written[0], "codec_name", "width", "height") == {
        "codec_name": "webp",
        "width": 64,
        "height": 48,
    }


def test_gif_preview_has_its_duration_at_its_rate(tmp_path: Path) -> None:
    out = PurePosixPath(tmp_path / "out")
    step = Preview(op="preview", start=6.0, duration=3.0, fps=10.0, width=120)
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CLIP),
        [lambda v, t: preview_branch(step, SHAPE, out, "preview", v, t)],
    )
    facts = probe(
        tmp_path / "out/preview/preview.gif", "codec_name", "width", "height", "nb_read_frames"
    )
    assert facts == {"codec_name": "gif", "width": 120, "height": 90, "nb_read_frames": "30"}


def webp_frames(path: Path) -> list[tuple[int, int, int]]:
    """(width, height, duration in ms) of each frame of an animated WebP, from its ANMF
    chunks (ffmpeg 5.1's WebP decoder reads no animation)."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    frames, i = [], 12
    while i + 8 <= len(data):
        tag, size = data[i : i + 4], struct.unpack("<I", data[i + 4 : i + 8])[0]
        if tag == b"ANMF":
            w, h, ms = (int.from_bytes(data[i + 8 + k : i + 11 + k], "little") for k in (6, 9, 12))
            frames.append((w + 1, h + 1, ms))
        i += 8 + size + (size & 1)
    return frames


def test_webp_preview_is_an_animation_of_its_frames(tmp_path: Path) -> None:
    out = PurePosixPath(tmp_path / "out")
    step = Preview(op="preview", format="webp", duration=2.0, fps=10.0, width=80)
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CLIP),
        [lambda v, t: preview_branch(step, SHAPE, out, "preview", v, t)],
    )
    frames = webp_frames(tmp_path / "out/preview/preview.webp")
    assert len(frames) == 20
    assert {(w, h) for w, h, _ in frames} == {(80, 60)}
    assert sum(ms for _, _, ms in frames) == pytest.approx(2000, abs=100)


def test_scenes_finds_the_hard_cuts_and_none_in_a_fade(tmp_path: Path) -> None:
    out = PurePosixPath(tmp_path / "out")
    shape = Shape(width=160, height=120, fps=FPS, duration=9.0)
    step = Scenes(op="scenes", threshold=0.3, width=96)
    scan = "out/scenes/scan.txt"
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CUTS),
        [lambda v, t: scenes_branch(step, shape, out, "scenes", v, t, scan)],
    )
    report = parse_scenes((tmp_path / scan).read_text(), shape.duration, step.threshold)
    starts = [s.start for s in report.scenes]
    assert len(starts) == 4
    for found, cut in zip(starts, (0.0, 2.0, 4.0, 6.0), strict=True):
        assert abs(found - cut) <= 1 / FPS
    assert report.scenes[-1].end == 9.0
    thumbs = pictures(tmp_path / "out" / "scenes", "scene-*.jpg")
    assert [p.name for p in thumbs] == [s.thumbnail for s in report.scenes]
    assert probe(thumbs[1], "width", "height") == {"width": 96, "height": 72}


def test_branches_share_one_pass_the_palette_holding_back_none(tmp_path: Path) -> None:
    """A GIF's palettegen waits for the end of its few seconds; the frames and scenes
    branches beside it in the same split still get every frame they need."""
    out = PurePosixPath(tmp_path / "out")
    every = Frames(op="frames", every=1.0, width=80)
    gif = Preview(op="preview", start=1.0, duration=2.0, fps=5.0, width=80)
    scenes = Scenes(op="scenes", thumbnails=False)
    run_pass(
        tmp_path,
        ("-f", "lavfi", "-i", CLIP),
        [
            lambda v, t: preview_branch(gif, SHAPE, out, "preview", v, t),
            lambda v, t: frames_branch(every, SHAPE, out, "frames", v, t),
            lambda v, t: scenes_branch(scenes, SHAPE, out, "scenes", v, t, "out/scenes/scan.txt"),
        ],
    )
    assert len(pictures(tmp_path / "out" / "frames", "frame-*.jpg")) == 10
    assert probe(tmp_path / "out/preview/preview.gif", "nb_read_frames") == {"nb_read_frames": "10"}
    assert (tmp_path / "out/scenes/scan.txt").read_text().startswith("frame:0 ")


def test_quality_orders_renditions_as_their_quality(tmp_path: Path) -> None:
    clip = f"testsrc2=s=320x240:r={FPS}:d=3"
    for name, size, crf in (("high", "320x240", "18"), ("low", "160x120", "40")):
        subprocess.run(
            [*FFMPEG, "-f", "lavfi", "-i", clip, "-s", size, "-c:v", "libx264", "-preset",
             "ultrafast", "-crf", crf, "-pix_fmt", "yuv420p", f"file:{tmp_path / name}.mp4"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    renditions = [RenditionRef(n, PurePosixPath(tmp_path / f"{n}.mp4")) for n in ("high", "low")]
    (tmp_path / "q").mkdir()
    argv = quality_argv(("-f", "lavfi", "-i", clip), (CHAIN,), "[vmain]", renditions, 320, 240, "q")
    subprocess.run([*FFMPEG, *argv], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    scores = []
    for i, r in enumerate(renditions):
        ssim, psnr = (Path(tmp_path / f).read_text() for f in stats_files("q", i))
        scores.append(parse_quality(ssim, psnr, r.name))
    high, low = scores
    assert high.frames == low.frames == 3 * FPS
    assert 0.0 < low.ssim_mean < high.ssim_mean <= 1.0
    assert low.ssim_min <= low.ssim_mean
    assert 15.0 < low.psnr_mean < high.psnr_mean < 100.0
    assert high.psnr_capped_frames == 0


def test_a_cmaf_rendition_joined_into_one_file_is_compared_whole(tmp_path: Path) -> None:
    """A CMAF rendition is read as its init segment and media segments joined, in order,
    into one fragmented MP4 (what the caller does before the pass): every frame compared."""
    clip = f"testsrc2=s=320x240:r={FPS}:d=3"
    package = tmp_path / "hls"
    package.mkdir()
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", clip, "-c:v", "libx264", "-preset", "ultrafast", "-crf",
         "20", "-g", str(FPS), "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "1",
         "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
         "-hls_segment_filename", f"{package}/seg-%03d.m4s", f"{package}/media.m3u8"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    segments = sorted(package.glob("seg-*.m4s"))
    assert len(segments) >= 3
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(b"".join(p.read_bytes() for p in [package / "init.mp4", *segments]))
    (tmp_path / "q").mkdir()
    argv = quality_argv(
        ("-f", "lavfi", "-i", clip),
        (CHAIN,),
        "[vmain]",
        [RenditionRef("cmaf", PurePosixPath(joined))],
        320,
        240,
        "q",
    )
    subprocess.run([*FFMPEG, *argv], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    ssim, psnr = (Path(tmp_path / f).read_text() for f in stats_files("q", 0))
    score = parse_quality(ssim, psnr, "cmaf")
    assert score.frames == 3 * FPS
    assert score.ssim_mean > 0.95
