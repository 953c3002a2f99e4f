"""The encode work of a web-hls job lost at 80 % and resumed, against a clean run of it.

    .venv/bin/python bench/resume.py [--seconds 40] [--size 1280x720] [--at 0.8]

One generated clip (30 fps, with sound) on the embedded moto stack, through the real
pipeline (``tests/integration/resume_rig.py``): a clean run; then a run whose first attempt
is stopped dead (its ffmpeg killed, nothing withdrawn) once the job record's segment ledger
holds ``--at`` of the rows, and whose second attempt resumes from the ledger. The work is the
CPU seconds (user + system) of the ffmpeg runs, each attempt's from its first run's start to
its last one's end (a resumed attempt's runs go at once: summed, they would count each
other's). Issue 22's target: both attempts together at most 1.3x the clean run (a retry from
the start: about 1.8x).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.aws import open_clients
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings
from infra.storage import S3ObjectStore
from tests.integration.local_job import WEB
from tests.integration.resume_rig import clean, lost_then_resumed, request_for

SEGMENT_SECONDS = 4


async def measure(settings: Settings, clip: Path, tmp: Path, seconds: int, at: float) -> None:
    key = "bench/resume.mp4"
    request = request_for(settings.input_bucket, key, settings.output_bucket)
    rows = math.ceil(seconds / SEGMENT_SECONDS)
    kill_at = math.ceil(at * rows)
    async with open_clients(settings) as clients:
        await clients.s3.upload_file(str(clip), settings.input_bucket, key)
        store = S3ObjectStore(clients.s3)
        whole, runs = await clean(store, request, WEB, "j-" + "1" * 24, tmp / "clean")
        resumed = await lost_then_resumed(store, request, WEB, "j-" + "2" * 24, tmp / "lost",
                                          kill_at)  # fmt: skip
    for result in (whole, resumed.result):  # both packages whole and sound
        assert result.qc is not None
        assert result.qc.passed, result.qc
    first, second, base = resumed.first.cpu_seconds, resumed.second.cpu_seconds, runs.cpu_seconds
    print(f"web-hls, {seconds} s {clip.stem} source, {rows} segments; attempt 1 killed once "
          f"the ledger held {kill_at} rows (attempt 2 kept {resumed.kept.rows})\n")  # fmt: skip
    print("| run | ffmpeg CPU seconds | x clean |\n|---|---:|---:|")
    print(f"| clean | {base:.1f} | 1.00 |")
    print(f"| attempt 1 (lost) | {first:.1f} | {first / base:.2f} |")
    print(f"| attempt 2 (resumed) | {second:.1f} | {second / base:.2f} |")
    print(f"| both attempts | {first + second:.1f} | {(first + second) / base:.2f} |")
    print("\ntarget: both attempts <= 1.3x clean")


def main(seconds: int, size: str, at: float) -> None:
    configure_logging("WARNING")
    width, height = (int(n) for n in size.split("x"))
    settings = Settings(wait_time_seconds=1, preset="web-hls")
    with embedded_emulator(settings.region), tempfile.TemporaryDirectory() as tmp:
        bootstrap(settings)
        clip = asyncio.run(make_sample_clip(Path(tmp) / f"{size}.mp4", seconds, width, height))
        asyncio.run(measure(settings, clip, Path(tmp), seconds, at))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--at", type=float, default=0.8)
    args = parser.parse_args()
    main(args.seconds, args.size, args.at)
