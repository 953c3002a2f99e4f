"""Does a worker's memory stay flat whatever the input size? One real ``ffapi worker``
process, inputs of growing size, its peak RSS per job.

    .venv/bin/python bench/worker_memory.py [--sizes-mb 10,100,400] [--preset NAME]

The embedded emulator runs in this process; the worker is started as in production (the
``ffapi`` console script beside this interpreter, ``FFAPI_*`` settings, ``AWS_ENDPOINT_URL``
at the emulator), one job at a time. Inputs are lossless H.264 noise at 320x180 (about
2.8 MB per second of video, cheap to make); the default preset, ``mp4-lossless`` (written
to a presets file here: crf 1, ultrafast), makes an output about as large as its input, so
the upload is measured at that size too. ``--preset web-hls`` runs a shipped preset instead.

Before each job the worker's peak RSS is reset (``5`` into /proc/PID/clear_refs), so VmHWM
is that job's own peak; a thread samples VmRSS every 20 ms to tell which phase it came
from (the phase windows are the completed event's ``timings``), and the peak RSS of the
ffmpeg/ffprobe processes the worker starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.bootstrap import Resources, bootstrap
from infra.emulator import embedded_emulator
from infra.settings import Settings, settings_environment

REPO = Path(__file__).resolve().parents[1]
FFAPI = Path(sys.executable).with_name("ffapi")
MB = 1_000_000
MB_PER_SECOND = 2.8  # what the noise source below encodes to, losslessly, at 320x180
PRESETS = """
[presets.mp4-lossless]
kind = "mp4"
max_height = 720
x264_preset = "ultrafast"
crf = 1  # 0 is lossless, which the high profile the mp4 presets set refuses
"""
PHASES = ("download", "probe", "encode", "package", "upload")


def proc_kb(pid: int, field_name: str) -> int:
    """A ``VmXxx:`` line of /proc/PID/status, in kB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (ffmpeg runs in its own session, still our child)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *children(kid)]
    return found


@dataclass
class Sampler:
    """VmRSS of the worker over time, and the largest VmHWM seen of each child tool."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    tools: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append((time.time(), proc_kb(self.pid, "VmRSS")))
            for kid in children(self.pid):
                try:
                    name = Path(f"/proc/{kid}/comm").read_text().strip()
                except OSError:
                    continue
                self.tools[name] = max(self.tools.get(name, 0), proc_kb(kid, "VmHWM"))

    def peak_by_phase(self, data: dict[str, Any]) -> dict[str, int]:
        """The highest sampled RSS inside each phase window of the job (kB)."""
        start = datetime.fromisoformat(data["started_at"]).timestamp()
        peaks: dict[str, int] = {}
        for phase in PHASES:  # the order they ran in
            end = start + data["timings"].get(phase, 0.0)
            inside = [rss for t, rss in self.samples if start <= t <= end]
            peaks[phase] = max(inside, default=0)
            start = end
        return peaks


@dataclass
class Row:
    input_mb: float
    output_mb: float
    seconds: float
    timings: dict[str, float]
    hwm_kb: int
    rss_kb: int
    phase_peaks: dict[str, int]
    tools: dict[str, int]


def make_input(dest: Path, size_mb: int) -> Path:
    seconds = max(1, math.ceil(size_mb / MB_PER_SECOND))
    source = f"testsrc2=size=320x180:rate=25:duration={seconds},noise=alls=60:allf=t"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
         "-pix_fmt", "yuv420p", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


def subscribe(topic_arn: str) -> str:
    """A queue subscribed to the events topic, as a consumer has (raw delivery)."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = str(sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:10]}")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return url


def wait_terminal(url: str, key: str, timeout: float = 1800) -> dict[str, Any]:
    """The completed (or failed) event of the job of ``key``."""
    sqs, deadline = boto3.client("sqs"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in got.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
            event = json.loads(msg["Body"])
            if (event.get("data") or {}).get("input", {}).get("key") != key:
                continue
            if event["type"] in ("ffapi.job.completed", "ffapi.job.failed"):
                return dict(event)
    raise TimeoutError(f"no terminal event for {key} in {timeout:.0f}s")


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFAPI_")}
    env.update(settings_environment(settings, only_set=True))
    env.update(PYTHONPATH=str(REPO), FFAPI_LOG_LEVEL="WARNING", FFAPI_LOG_FORMAT="json")
    with log.open("wb") as out:
        return subprocess.Popen([str(FFAPI), "worker"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def run_job(worker: int, settings: Settings, res: Resources, events: str, clip: Path) -> Row:
    key = f"{settings.watch_prefix}{clip.stem}-{uuid.uuid4().hex[:6]}.mp4"
    # The worker is idle between jobs: its peak from here on is this job's.
    Path(f"/proc/{worker}/clear_refs").write_text("5")
    with Sampler(worker) as sampler:
        started = time.monotonic()
        boto3.client("s3").upload_file(str(clip), res.input_bucket, key)
        event = wait_terminal(events, key)
        seconds = time.monotonic() - started
    data = event["data"]
    if event["type"] != "ffapi.job.completed":
        raise RuntimeError(f"{key}: {data.get('error')}")
    return Row(
        input_mb=clip.stat().st_size / MB,
        output_mb=sum(o["size"] for o in data["outputs"]) / MB,
        seconds=seconds, timings=data["timings"],
        hwm_kb=proc_kb(worker, "VmHWM"), rss_kb=proc_kb(worker, "VmRSS"),
        phase_peaks=sampler.peak_by_phase(data), tools=sampler.tools,
    )  # fmt: skip


def mib(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def print_table(rows: list[Row], preset: str, idle_kb: int) -> None:
    print(f"\nworker memory, {preset}, one job at a time; idle worker RSS {mib(idle_kb)} MiB")
    print(
        "| input MB | output MB | job s | download s | upload s | worker VmHWM MiB "
        "| VmRSS after MiB | peak in download | encode | upload | ffmpeg VmHWM MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p, t, ffmpeg = r.phase_peaks, r.timings, r.tools.get("ffmpeg", 0)
        print(f"| {r.input_mb:.0f} | {r.output_mb:.0f} | {r.seconds:.1f} "
              f"| {t.get('download', 0):.1f} | {t.get('upload', 0):.1f} "
              f"| {mib(r.hwm_kb)} | {mib(r.rss_kb)} | {mib(p['download'])} "
              f"| {mib(p['encode'])} | {mib(p['upload'])} | {mib(ffmpeg)} |")  # fmt: skip


def main(sizes: list[int], preset: str) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs each request
    with tempfile.TemporaryDirectory() as tmp, embedded_emulator("us-east-1"):
        root = Path(tmp)
        (root / "work").mkdir()
        (root / "presets.toml").write_text(PRESETS)
        settings = Settings(
            preset=preset, presets_file=root / "presets.toml", temp_dir=root / "work",
            wait_time_seconds=1, worker_concurrency=1, visibility_timeout=1800,
        )  # fmt: skip
        res = bootstrap(settings)
        events = subscribe(res.topic_arn)
        clips = [make_input(root / f"noise-{mb}mb.mp4", mb) for mb in [1, *sizes]]
        worker = start_worker(settings, root / "worker.log")
        try:
            run_job(worker.pid, settings, res, events, clips[0])  # imports, first-run costs
            idle = proc_kb(worker.pid, "VmRSS")
            rows = []
            for clip in clips[1:]:
                rows.append(run_job(worker.pid, settings, res, events, clip))
                print(f"{clip.name}: {rows[-1].hwm_kb / 1024:.0f} MiB peak", flush=True)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            if worker.returncode:
                print((root / "worker.log").read_text()[-4000:], file=sys.stderr)
    print_table(rows, preset, idle)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="10,100,400",
                        help="input sizes, MB, comma-separated (approximate)")  # fmt: skip
    parser.add_argument("--preset", default="mp4-lossless")
    args = parser.parse_args()
    main([int(s) for s in args.sizes_mb.split(",")], args.preset)
