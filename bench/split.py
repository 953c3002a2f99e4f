"""A long job split across chunk sub-jobs against the same job encoded whole, in one worker.

    .venv/bin/python bench/split.py [--seconds 60] [--chunk-seconds 15] [--concurrency 4]

The embedded stack (moto in this process) and the real worker loop with ``--concurrency``
jobs at once: a clip of ``--seconds`` (640x360 testsrc2, 30 fps, a tone) is sent as a
``web-hls`` job with a two-rung ladder, first whole (``split: false``), then split
(``split: true``, ``--chunk-seconds`` chunks and the audio); each timed from its send to its
``job.completed``. With one worker the chunks share its host: the ratio says what splitting
costs (the extra downloads, probes, the stitch's fetch, finish and QC) or gains from the
cores one ffmpeg leaves idle; across hosts the chunks run side by side.

Across worker processes pinned to a core each: ``bench/split_fleet.py``; a 2-hour film on up
to 100 workers, from its measured numbers: ``bench/split_sim.py``; where the pictures of a
split job are made: ``bench/split_pictures.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.runtime import open_runtime
from handlers.watcher import TERMINAL_TYPES, EventWatcher
from handlers.worker import Worker
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.logs import configure_logging
from infra.settings import Settings
from infra.topic import EventsTopic, events_topic_arn

LADDER = [
    {"name": n, "short_side": side, "video_kbps": kbps, "maxrate_kbps": kbps, "bufsize_kbps": kbps}
    for n, side, kbps in (("360p", 360, 800), ("240p", 240, 400))
]


def make_clip(dest: Path, seconds: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


def job(settings: Settings, split: bool) -> dict[str, Any]:
    return {
        "version": 2, "input": {"bucket": settings.input_bucket, "key": "bench/clip.mp4"},
        "preset": "web-hls", "ladder": LADDER, "split": split,
        "output": {"bucket": settings.output_bucket, "prefix": f"outputs/split-{split}"},
    }  # fmt: skip


async def timed(settings: Settings, clip: Path) -> dict[bool, float]:
    seconds: dict[bool, float] = {}
    async with open_runtime(settings) as rt:
        c = rt.clients
        await c.s3.upload_file(str(clip), settings.input_bucket, "bench/clip.mp4")
        where = EventsTopic.parse(settings.events_topic, settings.region)
        topic = await events_topic_arn(c.sqs, where, settings.jobs_queue)
        async with EventWatcher.subscribe(c.sqs, c.sns, topic) as watcher:
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            queue = (await c.sqs.get_queue_url(QueueName=settings.jobs_queue))["QueueUrl"]
            for split in (False, True):
                sent = time.monotonic()
                await c.sqs.send_message(
                    QueueUrl=queue, MessageBody=json.dumps(job(settings, split))
                )
                await ended(watcher)
                seconds[split] = time.monotonic() - sent
            stop.set()
            await worker
    return seconds


async def ended(watcher: EventWatcher) -> None:
    async with asyncio.timeout(1800):
        while True:
            for body in await watcher.poll(wait_seconds=1):
                event = json.loads(body)
                if event["type"] in TERMINAL_TYPES:
                    assert event["type"] == "ffapi.job.completed", event["data"].get("error")
                    return


async def main(seconds: int, chunk_seconds: float, concurrency: int) -> None:
    configure_logging("WARNING")
    with embedded_emulator("us-east-1"), tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", seconds)
        settings = Settings(
            worker_concurrency=concurrency, split_chunk_seconds=chunk_seconds,
            temp_dir=Path(tmp) / "work", wait_time_seconds=1,
        )  # fmt: skip
        await asyncio.to_thread(bootstrap, settings)
        result = await timed(settings, clip)
    chunks = -(-seconds // int(chunk_seconds))
    print(f"{seconds} s clip, web-hls 360p+240p, one worker of {concurrency} slots:")
    print(f"  whole                          {result[False]:.2f} s")
    print(f"  split ({chunks} chunks + audio)      {result[True]:.2f} s")
    print(f"  split / whole                  {result[True] / result[False]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--chunk-seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.chunk_seconds, args.concurrency))
