"""Per-phase timings of whole jobs on the embedded stack, for a few source sizes.

    .venv/bin/python bench/job_phases.py [--runs 3]

Each run uploads a generated clip into the watched prefix and waits for job.completed on a
subscribed queue; the table prints the median of each phase as reported in the event, the
wall-clock from upload to event, and the encode speed relative to real time (the default
preset: the web-hls ladder).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings
from infra.topic import EventsTopic, events_topic_arn

SOURCES = [(640, 360, 10), (1280, 720, 10), (1920, 1080, 10)]
PHASES = ["download", "probe", "encode", "package", "upload"]


async def one_job(
    settings: Settings, clip: Path, key: str, *, from_arrival: bool = False
) -> tuple[dict[str, float], float]:
    """The job's phases and its wall-clock seconds to ``job.completed``: from the start of the
    source's upload, or (``from_arrival``) from the source in the bucket."""
    async with open_runtime(settings) as rt:
        c = rt.clients
        topic = await events_topic_arn(
            c.sqs, EventsTopic.parse(settings.events_topic, settings.region), settings.jobs_queue
        )
        async with EventWatcher.subscribe(c.sqs, c.sns, topic) as watcher:
            if rt.accel is not None and settings.accel != "cpu":  # as `ffapi worker` does
                await rt.accel.refresh()
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            started = time.perf_counter()
            await c.s3.upload_file(str(clip), settings.input_bucket, key)
            if from_arrival:
                started = time.perf_counter()
            event = json.loads(await watcher.wait_for_terminal(600))
            wall = time.perf_counter() - started
            stop.set()
            await worker
    assert event["type"] == "ffapi.job.completed", event
    return event["data"]["timings"], wall


async def main(runs: int) -> None:
    configure_logging("WARNING")
    settings = Settings(wait_time_seconds=1)
    print(f"{'source':>16} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'wall':>7} {'speed':>6}")
    with embedded_emulator(settings.region), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(bootstrap, settings)
        for width, height, seconds in SOURCES:
            clip = await make_sample_clip(Path(tmp) / f"{height}.mp4", seconds, width, height)
            samples = [
                await one_job(settings, clip, f"{settings.watch_prefix}{height}-{i}.mp4")
                for i in range(runs)
            ]
            med = {p: statistics.median(t[p] for t, _ in samples) for p in PHASES}
            wall = statistics.median(w for _, w in samples)
            speed = seconds / med["encode"]
            print(f"{f'{width}x{height} {seconds}s':>16} "
                  + " ".join(f"{med[p]:>8.2f}s" for p in PHASES)
                  + f" {wall:>6.2f}s {speed:>5.1f}x")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
