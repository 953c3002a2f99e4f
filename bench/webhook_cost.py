"""What webhooks cost a job, and proof that a failing endpoint holds up no job and no queue.

    .venv/bin/python bench/webhook_cost.py [--jobs 5]

Three configurations on the embedded stack. Each opens one runtime and one worker, which take
N whole jobs one after another (mp4-480p on a generated 4 s 640x360 clip), each timed from
the upload to its ffapi.job.completed on a queue subscribed to the topic:

1. no webhooks;
2. a deployment endpoint (FFAPI_WEBHOOK_ENDPOINTS, a fresh whsec_ secret) on a receiver at
   127.0.0.1 that verifies each signature and answers 200;
3. the same endpoint answering 500 to everything, with a 600 s deadline and a 0.1 s backoff
   base: every job's lane keeps retrying its first event while the later jobs run.

After the last job the worker is stopped and the runtime left, timed: deliveries still in
flight get open_runtime's drain grace (10 s for the worker) and are then abandoned. Then the
jobs queue is read: a job held up by its webhooks would still be there.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from aiohttp import web
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.aws import open_clients
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings
from infra.topic import EventsTopic, events_topic_arn
from infra.webhooks import DeliveryOutcome

PRESET = "mp4-480p"
DRAIN_GRACE = 10.0  # open_runtime's default for the worker, stated here for the table
OUTCOMES = [o.value for o in DeliveryOutcome]  # delivered ... abandoned


def verify(key: bytes, headers: Mapping[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as docs/webhooks.md tells a consumer to write it."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and stamp and sigs) or abs(time.time() - int(stamp)) > tolerance:
        return False
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s) for s in sigs.split(" "))


class Receiver:
    """An endpoint on 127.0.0.1 answering ``status`` to every POST. It runs in its own thread
    and loop, as it would on another host: its work stays off the worker's loop."""

    def __init__(self, secret: str, status: int) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.status = status
        self.seen = self.verified = 0
        self.types: Counter[str] = Counter()  # verified POSTs by event type
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{port}/ffapi"
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/ffapi", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return int(self._runner.addresses[0][1])

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen += 1  # only this thread's loop writes; the bench reads after the run
        if verify(self.key, request.headers, body):
            self.verified += 1
            self.types[str(json.loads(body)["type"]).rsplit(".", 1)[1]] += 1
        return web.Response(status=self.status, text="ok" if self.status < 300 else "no")


@dataclass
class Result:
    walls: list[float]
    completed: int  # completion events observed, one per job
    pending_at_stop: int  # deliveries queued or retrying when the worker was told to stop
    posts_by_stop: int  # POSTs the receiver had seen then (the rest came in the drain grace)
    worker_stop: float  # stop.set() -> the worker loop returned
    shutdown: float  # stop.set() -> the runtime left (webhooks drained or abandoned)
    left_in_queue: int  # jobs-queue messages, visible or not, after the shutdown
    outcomes: dict[str, int]  # ffapi_webhook_deliveries_total, this configuration's share


def delivery_counts() -> dict[str, int]:
    get = REGISTRY.get_sample_value
    return {o: int(get("ffapi_webhook_deliveries_total", {"outcome": o}) or 0) for o in OUTCOMES}


async def completion(watcher: EventWatcher, key: str, timeout: float = 600) -> bool:
    """True once the job of ``key`` announced ffapi.job.completed; False for job.failed."""
    async with asyncio.timeout(timeout):
        while True:
            for body in await watcher.poll(wait_seconds=1):
                event = json.loads(body)
                if ((event.get("data") or {}).get("input") or {}).get("key") != key:
                    continue  # another job's progress, or a late event of an earlier one
                if event["type"] in ("ffapi.job.completed", "ffapi.job.failed"):
                    return str(event["type"]) == "ffapi.job.completed"


async def run_jobs(
    settings: Settings, clip: Path, name: str, jobs: int, receiver: Receiver | None = None
) -> Result:
    before = delivery_counts()
    # The client's side (upload, subscriber) has clients of its own: the runtime below is the
    # worker's alone, so leaving it times exactly the worker's shutdown.
    async with open_clients(settings) as c:
        topic = await events_topic_arn(
            c.sqs, EventsTopic.parse(settings.events_topic, settings.region), settings.jobs_queue
        )
        async with EventWatcher.subscribe(c.sqs, c.sns, topic) as watcher:
            stop = asyncio.Event()
            walls, completed = [], 0
            async with open_runtime(settings) as rt:
                assert rt.queue is not None
                queue_url = rt.queue.url
                worker = asyncio.create_task(Worker(rt).run(stop))
                for i in range(jobs):
                    key = f"{settings.watch_prefix}{name}-{i}.mp4"
                    started = time.perf_counter()
                    await c.s3.upload_file(str(clip), settings.input_bucket, key)
                    completed += await completion(watcher, key)
                    walls.append(time.perf_counter() - started)
                pending, posts = rt.hooks.in_flight, receiver.seen if receiver else 0
                stop.set()
                stopping = time.perf_counter()
                await worker
                worker_stop = time.perf_counter() - stopping
            shutdown = time.perf_counter() - stopping
        attrs = await c.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    left = sum(int(v) for v in attrs["Attributes"].values())
    after = delivery_counts()
    outcomes = {o: after[o] - before[o] for o in OUTCOMES if after[o] > before[o]}
    return Result(walls, completed, pending, posts, worker_stop, shutdown, left, outcomes)


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def main(jobs: int) -> None:
    configure_logging("ERROR")  # config 3 logs every retry and every abandoned delivery
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    base = Settings(wait_time_seconds=1, preset=PRESET)
    rows: list[tuple[str, Result, Receiver | None]] = []
    with embedded_emulator(base.region), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(bootstrap, base)
        clip = await make_sample_clip(Path(tmp) / "clip.mp4", 4, 640, 360)
        await run_jobs(base, clip, "warm-up", 1)  # first-run costs (imports, moto) out of row 1
        rows.append(("no webhooks", await run_jobs(base, clip, "none", jobs), None))
        for label, status in [("endpoint answers 200", 200), ("endpoint answers 500", 500)]:
            with Receiver(secret, status) as receiver:
                settings = Settings(
                    wait_time_seconds=1, preset=PRESET,
                    webhook_endpoints=[{"url": receiver.url, "secrets": [secret]}],
                    # The same for both rows (200 never retries). Failing: a deadline far past
                    # the run and short waits, so every lane keeps retrying the whole run.
                    webhook_deadline=600.0, webhook_backoff_base=0.1, webhook_backoff_max=2.0,
                    webhook_allow_loopback=True,  # the receiver is on 127.0.0.1, over http
                )  # fmt: skip
                result = await run_jobs(settings, clip, f"http-{status}", jobs, receiver)
            rows.append((label, result, receiver))

    print(f"webhook cost, {date.today().isoformat()}, {machine()}")
    print(f"{jobs} jobs per row, one after another on one worker; {PRESET} on a 4 s 640x360 "
          f"clip; time = upload -> ffapi.job.completed observed\n")  # fmt: skip
    print("| endpoint | completed | median | max | vs none | POSTs (by stop) | verified "
          "| by type (verified) | pending at stop | worker stop | shutdown | left in queue "
          "| outcomes |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    none = statistics.median(rows[0][1].walls)
    for label, r, rx in rows:
        med = statistics.median(r.walls)
        types = " ".join(f"{t} {n}" for t, n in rx.types.items()) if rx else "-"
        outcomes = " ".join(f"{o} {n}" for o, n in r.outcomes.items()) or "-"
        print(f"| {label} | {r.completed}/{len(r.walls)} | {med:.2f}s | {max(r.walls):.2f}s "
              f"| {med - none:+.2f}s | {f'{rx.seen} ({r.posts_by_stop})' if rx else '-'} "
              f"| {rx.verified if rx else '-'} "
              f"| {types} | {r.pending_at_stop} | {r.worker_stop:.2f}s | {r.shutdown:.2f}s "
              f"| {r.left_in_queue} | {outcomes} |")  # fmt: skip
    print(f"\nshutdown = stop -> runtime left: deliveries still retrying get open_runtime's "
          f"{DRAIN_GRACE:.0f} s drain grace, then are abandoned (counted, logged).")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5)
    asyncio.run(main(parser.parse_args().jobs))
