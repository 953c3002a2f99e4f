"""A multi-step job end to end, against the bare ffmpeg commands of the same plan.

    .venv/bin/python bench/steps_job.py [--seconds 30] [--size 1920x1080] [--runs 5]

The clip is the one bench/streaming_ladder.py measures the plain ladder on (30 s, 1080p),
under the same target. The job (trim + overlay + text + the web-hls ladder + frames + a GIF
preview) runs on the embedded stack: the clip and the logo are uploaded, the request is
sent to the jobs queue, and the time is taken from the send to job.completed on a queue
subscribed to the topic. The bare run is the same plan's argv (``ffapi plan --request``)
run by ffmpeg in a directory prepared by hand, followed by the storyboard's sheets run:
what the job would cost with no worker around it. The two take turns, each going first
every other run. Prints the passes of the plan (decodes of the input), the medians, the
worker's own time (the job less its encode: on a busy host the encode varies by more than
that) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.jobs.results import resolve_preset
from core.media.accel import CPU_ONLY
from core.media.probe import parse_probe
from core.models import JobRequest
from core.presets import StepsPreset, builtin_catalog
from core.steps.compile import SCAN_DIR, compile_steps
from core.steps.overlays import image_guard
from core.steps.quality_pass import planned_quality
from core.steps.stage import Attached
from core.streaming.pictures import TILES_DIR
from core.streaming.storyboard import sheets_argvs
from handlers.runtime import open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.bootstrap import bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import FfmpegMedia, make_sample_clip
from infra.logs import configure_logging
from infra.settings import Settings
from infra.topic import EventsTopic, events_topic_arn

LOGO_KEY = "brand/logo.png"
STEPS = [
    {"op": "trim", "start": 1.0, "end": 0.0},  # the head and tail second cut (end: set below)
    {"op": "overlay", "image": {"key": LOGO_KEY}, "position": "top-right", "width": 0.12,
     "opacity": 0.85},
    {"op": "text", "text": "FFAPI steps bench: 50% off \"today\"", "position": "bottom-left",
     "box": True},
    {"op": "encode", "preset": "web-hls"},
    {"op": "frames", "every": 2.0, "width": 320},
    {"op": "preview", "format": "gif", "start": 0.0, "duration": 3.0, "fps": 10, "width": 320},
]  # fmt: skip


def request(bucket: str, key: str, seconds: int) -> dict[str, object]:
    steps = [STEPS[0] | {"end": seconds - 1.0}, *STEPS[1:]]
    return {"version": 2, "input": {"bucket": bucket, "key": key}, "steps": steps}


async def job_once(
    settings: Settings, clip: Path, logo: Path, n: int, seconds: int
) -> tuple[float, dict[str, float]]:
    async with open_runtime(settings) as rt:
        c = rt.clients
        topic = await events_topic_arn(
            c.sqs, EventsTopic.parse(settings.events_topic, settings.region), settings.jobs_queue
        )
        async with EventWatcher.subscribe(c.sqs, c.sns, topic) as watcher:
            key = f"bench/{n}/{clip.name}"
            await c.s3.upload_file(str(clip), settings.input_bucket, key)
            await c.s3.upload_file(str(logo), settings.input_bucket, LOGO_KEY)
            queue = await c.sqs.get_queue_url(QueueName=settings.jobs_queue)
            if rt.accel is not None:  # as the service does at start, before its first job
                await rt.accel.refresh(fresh=False)
            stop = asyncio.Event()
            worker = asyncio.create_task(Worker(rt).run(stop))
            started = time.perf_counter()
            body = json.dumps(request(settings.input_bucket, key, seconds))
            await c.sqs.send_message(QueueUrl=queue["QueueUrl"], MessageBody=body)
            event = json.loads(await watcher.wait_for_terminal(900))
            wall = time.perf_counter() - started
            stop.set()
            await worker
    assert event["type"] == "ffapi.job.completed", event["data"].get("error")
    return wall, event["data"]["timings"]


@dataclass(frozen=True)
class Bare:
    seconds: float  # the main pass, then the storyboard's sheets
    main_pass: float
    passes: int  # that decode the input


async def bare_once(clip: Path, logo: Path, tmp: Path, seconds: int) -> Bare:
    """The plan's commands, by hand."""
    root = tmp / "bare"
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("input", "out", "attach", SCAN_DIR):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(clip, root / "input" / "source")
    shutil.copyfile(logo, root / "attach" / "0")
    preset = resolve_preset(
        builtin_catalog(), JobRequest.model_validate(request("bench", "k", seconds))
    )
    assert isinstance(preset, StepsPreset)
    media = FfmpegMedia()
    guard = Settings().media_limits().guard
    probe = parse_probe(await media.probe(root / "input" / "source", guard))
    picture = parse_probe(await media.probe(root / "attach" / "0", image_guard(guard)),
                          still=True)  # fmt: skip
    attached = {"steps[1].image": Attached("steps[1].image", PurePosixPath(root / "attach" / "0"),
                                           picture)}  # fmt: skip
    out = PurePosixPath(root / "out")
    plan = compile_steps(preset, probe, PurePosixPath(root / "input" / "source"), out, attached,
                         CPU_ONLY, guard)  # fmt: skip
    for folder in plan.dirs:
        (root / "out" / folder).mkdir(parents=True, exist_ok=True)
    for caption in plan.chain.files:
        (root / caption.name).parent.mkdir(parents=True, exist_ok=True)
        (root / caption.name).write_text(caption.text)
    started = time.perf_counter()
    await asyncio.to_thread(subprocess.run, plan.main.argv, cwd=root, check=True)
    main_pass = time.perf_counter() - started
    for target in plan.encodes:
        board = target.package.storyboard if target.package else None
        if board is not None:
            here = root / "out" / target.folder
            tiles = len(list((here / TILES_DIR).iterdir()))
            for argv in sheets_argvs(board, PurePosixPath(here), tiles):
                await asyncio.to_thread(subprocess.run, argv, cwd=root, check=True)
    passes = 1 + (planned_quality(plan, out, PurePosixPath("q")) is not None)
    return Bare(time.perf_counter() - started, main_pass, passes)


async def main(seconds: int, size: str, runs: int) -> None:
    configure_logging("WARNING")
    width, height = (int(v) for v in size.split("x"))
    settings = Settings(wait_time_seconds=1)
    with embedded_emulator(settings.region), tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        await asyncio.to_thread(bootstrap, settings)
        clip = await make_sample_clip(tmp / "clip.mp4", seconds, width, height)
        logo = tmp / "logo.png"
        logo_argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                     "color=c=0x00ff00:s=400x200", "-frames:v", "1", str(logo)]  # fmt: skip
        await asyncio.to_thread(subprocess.run, logo_argv, check=True)
        jobs: list[float] = []
        bares: list[Bare] = []
        phases: list[dict[str, float]] = []
        for n in range(runs):  # in turns, each first every other time: both see the machine
            for job_now in [n % 2 == 0, n % 2 == 1]:
                if job_now:
                    wall, timings = await job_once(settings, clip, logo, n, seconds)
                    jobs.append(wall)
                    phases.append(timings)
                else:
                    bares.append(await bare_once(clip, logo, tmp, seconds))
    report(f"{width}x{height} {seconds} s", jobs, phases, bares)


def report(
    source: str, jobs: list[float], phases: list[dict[str, float]], bares: list[Bare]
) -> None:
    job, bare = statistics.median(jobs), statistics.median(b.seconds for b in bares)
    # the worker's own time: the job less its encode; the bare run's main pass is that encode
    own = statistics.median(w - t["encode"] for w, t in zip(jobs, phases, strict=True))
    encode = statistics.median(t["encode"] for t in phases)
    main_pass = statistics.median(b.main_pass for b in bares)
    print(f"source     {source}, {len(jobs)} runs (medians)")
    print(f"plan       {bares[0].passes} pass decoding the input (+ the storyboard's sheets run)")
    print(f"job        {job:.2f} s  (send -> job.completed, embedded stack)")
    shown = "  ".join(f"{k} {statistics.median(t[k] for t in phases):.2f}s" for k in phases[0])
    print(f"phases     {shown}")
    print(f"bare       {bare:.2f} s  (the plan's ffmpeg commands; main pass {main_pass:.2f} s)")
    print(f"encode     {encode:.2f} s in the job, {main_pass:.2f} s bare")
    print(f"own        {own:.2f} s  (the job less its encode: intake, download, probe, checks, "
          "uploads, events)")  # fmt: skip
    print(f"ratio      {job / bare:.3f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.size, args.runs))
