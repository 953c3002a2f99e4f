"""How long a range's warm-up must be: the SSIM of the frames after a range boundary.

    .venv/bin/python bench/range_warmup.py [--warmups 0,0.5,1,2,4]

The integration test's 24 s 640x360 clip (at 30 and 30000/1001 fps) is encoded whole, then
for each warm-up (seconds before the second range, at most the segment before it) as two
12 s ranges plus the audio part, stitched. Printed per warm-up: the 360p rendition's SSIM
against the source over the whole clip, the least over frames 357-362 (what
``tests/integration/test_range_encode.py`` bounds), and the mean over frames 360-369
(the test checks the stitched package's files and manifests at the chosen warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media.probe import parse_probe
from core.streaming.range_landing import land_range, stitch_package
from core.streaming.ranges import plan_audio_part, plan_range, source_grid
from core.streaming.renditions import plan_streaming
from core.streaming.stitch import RangeListing
from infra.ffmpeg import FfmpegMedia
from infra.workspace import LocalDiskFiles
from tests.integration.test_range_encode import PRESET, encode, joined, make_clip


def ssim(package: Path, clip: Path, tmp: Path) -> list[float]:
    rendition = joined(package, 0, tmp / "r.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f"file:{rendition}",
         "-i", f"file:{clip}", "-lavfi", "[0:v][1:v]ssim=stats_file=ssim.log", "-f", "null", "-"],
        check=True, cwd=tmp,
    )  # fmt: skip
    return [float(m) for m in re.findall(r"All:([0-9.]+)", (tmp / "ssim.log").read_text())]


def row(name: str, scores: list[float]) -> str:
    avg = sum(scores) / len(scores)
    return (f"{name:<10} avg {avg:.4f}  min357-362 {min(scores[357:363]):.4f}"
            f"  mean360-369 {sum(scores[360:370]) / 10:.4f}")  # fmt: skip


async def one_rate(rate: str, warmups: list[float]) -> None:
    media, files = FfmpegMedia(), LocalDiskFiles()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = make_clip(root / "clip.mp4", rate)
        probe = parse_probe(await media.probe(clip))
        source, at = PurePosixPath(clip), PurePosixPath(root)
        await encode(plan_streaming(PRESET, probe, source, at / "whole"), root / "whole", media)
        print(row(f"{rate} whole", ssim(root / "whole" / "cmaf", clip, root)))
        audio = plan_audio_part(PRESET, probe, source, at / "audio")
        grid = source_grid(PRESET, probe)
        assert audio is not None
        assert grid is not None
        await encode(audio, root / "audio", media)
        reps = [str(i) for i in range(len(audio.video))]
        for w in warmups:
            pkg = root / f"pkg{w}"
            shutil.copytree(root / "audio", pkg)
            listings = []
            for i, chunk in enumerate(grid.split(12.0)):
                ranged = plan_range(PRESET, probe, source, at / f"r{w}-{i}", chunk, warmup=w)
                assert ranged is not None
                await encode(ranged.plan, root / f"r{w}-{i}", media)
                mpd = (root / f"r{w}-{i}" / "cmaf" / "manifest.mpd").read_text()
                listing = RangeListing(chunk, mpd, ranged.warmup)
                await land_range(files, listing, reps, root / f"r{w}-{i}" / "cmaf", pkg / "cmaf")
                listings.append(listing)
            await stitch_package(files, pkg / "cmaf", listings, reps)
            print(row(f"{rate} w={w:g}", ssim(pkg / "cmaf", clip, root)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmups", default="0,0.5,1,2,4")
    warmups = [float(w) for w in parser.parse_args().warmups.split(",")]
    for rate in ("30", "30000/1001"):
        asyncio.run(one_rate(rate, warmups))
