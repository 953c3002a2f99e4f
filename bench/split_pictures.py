"""Where a split job's pictures should be made: in each range's encode, or by a separate
pictures chunk decoding the whole picture. One core (``taskset -c 0``), real ffmpeg.

    .venv/bin/python bench/split_pictures.py [--seconds 60]

Times, on a 1080p clip of ``--seconds`` (testsrc2 with noise, x264 ``veryfast`` at 8 Mbit/s:
a picture that costs something to decode), (1) one range of the web-hls ladder as a split
job encodes it, without and with its share of the thumbnails and tiles (``plan_range``'s
argv), and (2) the pictures alone from the whole clip: decode, the same ``select`` picks,
scale, JPEG. Per second of picture, (2) times a 2-hour film is what a pictures chunk would
take on one worker; (1)'s difference is what the pictures add to each range.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.media.probe import parse_probe
from core.media.probe_doc import ProbeDoc
from core.presets import StreamingPreset, builtin_catalog
from core.streaming.ranges import plan_range, source_grid

NOISE = "noise=alls=8:allf=t"


def make_clip(dest: Path, seconds: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds},{NOISE}",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M", "-pix_fmt", "yuv420p",
         f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


def timed(argv: list[str]) -> float:
    began = time.monotonic()
    subprocess.run(["taskset", "-c", "0", *argv], check=True, capture_output=True)
    return time.monotonic() - began


def probe(clip: Path) -> ProbeDoc:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(clip)],
        check=True, capture_output=True,
    )  # fmt: skip
    return ProbeDoc.model_validate_json(out.stdout)


def main(seconds: int) -> None:
    preset = builtin_catalog().presets["web-hls"]
    assert isinstance(preset, StreamingPreset)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = make_clip(root / "clip.mp4", seconds)
        p = parse_probe(probe(clip))
        grid = source_grid(preset, p)
        assert grid is not None
        chunk = grid.split(seconds / 2)[-1]  # the second half: warm-up and all
        rows = {}
        for pictures in (False, True):
            out = root / f"r{pictures}"
            ranged = plan_range(preset, p, PurePosixPath(clip), PurePosixPath(out), chunk,
                                pictures=pictures)  # fmt: skip
            assert ranged is not None
            for d in ranged.plan.directories:
                (out / d).mkdir(parents=True, exist_ok=True)
            rows[pictures] = timed(list(ranged.plan.argv))
        (root / "pics").mkdir()
        every_t, every_s = round(10 * grid.rate), round(5 * grid.rate)
        alone = timed([
            "ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", f"file:{clip}",
            "-filter_complex",
            f"[0:v]fps={grid.rate},split=2[t][s];"
            f"[t]select=not(mod(n\\,{every_t})),scale=320:180[a];"
            f"[s]select=not(mod(n\\,{every_s})),scale=160:90[b]",
            "-map", "[a]", "-fps_mode", "passthrough", "-f", "image2",
            f"file:{root}/pics/t-%05d.jpg",
            "-map", "[b]", "-fps_mode", "passthrough", "-f", "image2",
            f"file:{root}/pics/s-%05d.jpg",
        ])  # fmt: skip
    range_seconds = float((chunk.end - chunk.start) / grid.rate)
    print(f"{seconds} s 1080p clip, web-hls ladder, one core:")
    print(f"  range of {range_seconds:g} s, no pictures     {rows[False]:7.2f} s")
    print(f"  range of {range_seconds:g} s, its pictures    {rows[True]:7.2f} s "
          f"(+{(rows[True] / rows[False] - 1) * 100:.1f} %)")  # fmt: skip
    print(f"  pictures alone, whole {seconds} s clip  {alone:7.2f} s "
          f"({alone / seconds:.3f} s per second of picture)")  # fmt: skip
    print(f"  a pictures chunk for a 2-hour film: {alone / seconds * 7200:.0f} s on one worker")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    main(parser.parse_args().seconds)
