"""What encoding a ladder as ranges costs against one whole encode (one machine, in turn).

    .venv/bin/python bench/range_encode.py [--seconds 60] [--chunk 20] [--preset web-hls]

A generated 1280x720 30 fps clip with sound is encoded whole with the preset's plan, then as
chunks of whole segments (:mod:`core.streaming.ranges`: each with a second of warm-up) plus the
audio part (the sound, whole, under a black stand-in picture), landed and stitched. Printed:
each run's wall and CPU seconds (ffmpeg's, from the children's rusage), and the total CPU of
the ranged encode against the whole one: the price of the warm-ups, the pre-roll
decode and the stand-in, which many workers pay in parallel to finish sooner.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media.probe import parse_probe
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.range_landing import land_range, stitch_package
from core.streaming.ranges import plan_audio_part, plan_range, source_grid
from core.streaming.renditions import StreamingPlan, plan_streaming
from core.streaming.stitch import RangeListing
from infra.ffmpeg import FfmpegMedia, make_sample_clip
from infra.workspace import LocalDiskFiles


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def _timed(name: str, plan: StreamingPlan, out: Path, media: FfmpegMedia) -> float:
    (out / "cmaf").mkdir(parents=True, exist_ok=True)
    wall, cpu = time.perf_counter(), _cpu()
    await media.transcode(plan.argv, out, 3600, None)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(f"{name:<14} wall {wall:7.2f} s   cpu {cpu:7.2f} s")
    return cpu


async def main(seconds: int, chunk_seconds: float, preset_name: str) -> None:
    preset = builtin_catalog().get(preset_name)
    assert isinstance(preset, StreamingPreset)
    preset = preset.model_copy(update={"thumbnails": None, "storyboard": None})
    media, files = FfmpegMedia(), LocalDiskFiles()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = await make_sample_clip(root / "clip.mp4", seconds=seconds)
        probe = parse_probe(await media.probe(clip))
        source, at = PurePosixPath(clip), PurePosixPath(root)
        whole = await _timed("whole", plan_streaming(preset, probe, source, at / "whole"),
                             root / "whole", media)  # fmt: skip
        audio = plan_audio_part(preset, probe, source, at / "pkg")
        grid = source_grid(preset, probe)
        assert audio is not None
        assert grid is not None
        ranged = await _timed("audio part", audio, root / "pkg", media)
        reps = [str(i) for i in range(len(audio.video))]
        listings = []
        for i, chunk in enumerate(grid.split(chunk_seconds)):
            plan = plan_range(preset, probe, source, at / f"r{i}", chunk)
            assert plan is not None
            ranged += await _timed(f"range {i} ({chunk.count} seg)", plan.plan, root / f"r{i}",
                                   media)  # fmt: skip
            mpd = (root / f"r{i}" / "cmaf" / "manifest.mpd").read_text()
            listing = RangeListing(chunk, mpd, plan.warmup)
            await land_range(files, listing, reps, root / f"r{i}" / "cmaf", root / "pkg" / "cmaf")
            listings.append(listing)
        await stitch_package(files, root / "pkg" / "cmaf", listings, reps)
        print(f"ranged CPU / whole CPU: {ranged / whole:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--chunk", type=float, default=20.0)
    parser.add_argument("--preset", default="web-hls")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.chunk, args.preset))
