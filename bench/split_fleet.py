"""Split encoding across worker processes pinned to one core each, against one pinned worker
encoding the same job whole (issue 22: "at least 1.8x faster" with two).

    .venv/bin/python bench/split_fleet.py [--seconds 120] [--chunk-seconds 30] [--workers 2]
        [--rungs 720p,360p] [--json /tmp/split-fleet.json]

The emulator (moto's server) runs in this process; each worker is a real ``ffapi worker``
process started under ``taskset -c N`` (its ffmpeg inherits the one core), one job slot
each. A 1080p clip of ``--seconds`` (testsrc2, 30 fps, a tone) is sent as a ``web-hls`` job
(the preset's rungs named by ``--rungs``; thumbnails and storyboard as the preset has them):
first whole (``split: false``) to one worker on core 0, then, with ``--workers`` fresh
workers on cores 0..N-1, split (``split: true``, ``--chunk-seconds`` chunks and the audio);
each timed from its send (once the workers have started) to its ``job.completed``. The
workers' logs give every chunk's phases (download, encode, upload; the stitch's package),
which ``--json`` writes out for ``bench/split_sim.py``, with the input's size and the S3
and SQS latencies measured here.

The host's other load is printed (load average before and after): on a shared host the
pinned cores are not the workers' alone. So each worker's CPU seconds (its ffmpeg runs
included, from ``wait4``) are printed too: the whole job's over the busiest split worker's is
the speed-up the same work would give on idle cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.bootstrap import Resources, bootstrap
from infra.emulator import embedded_emulator
from infra.settings import Settings, settings_environment

REPO = Path(__file__).resolve().parents[1]
FFAPI = Path(sys.executable).with_name("ffapi")
RUNGS = {
    "1080p": (1080, 5000, 5350, 7500),
    "720p": (720, 2800, 2996, 4200),
    "480p": (480, 1400, 1498, 2100),
    "360p": (360, 800, 856, 1200),
}


def ladder(names: list[str]) -> list[dict[str, Any]]:
    return [
        {"name": n, "short_side": s, "video_kbps": k, "maxrate_kbps": m, "bufsize_kbps": b}
        for n in names
        for s, k, m, b in [RUNGS[n]]
    ]


def make_clip(dest: Path, seconds: int, by_the_second: bool = False) -> Path:
    """``by_the_second``: its tracks interleaved by the second, as editors write them
    (ffmpeg's default interleaves by the frame)."""
    interleave = ["-chunk_duration", "1000000"] if by_the_second else []
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", *interleave, f"file:{dest}"],
        check=True,
    )  # fmt: skip
    return dest


def start_worker(settings: Settings, core: int, work: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFAPI_")}
    env.update(settings_environment(settings, only_set=True))
    env.update(PYTHONPATH=str(REPO), FFAPI_LOG_LEVEL="INFO", FFAPI_LOG_FORMAT="json",
               FFAPI_TEMP_DIR=str(work))  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(["taskset", "-c", str(core), str(FFAPI), "worker"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def wait_ready(logs: list[Path], timeout: float = 60.0) -> None:
    """Until every worker says ``worker.started``: a job's time is not its workers' start."""
    began = time.monotonic()
    while not all(log.exists() and '"worker.started"' in log.read_text(errors="replace")
                  for log in logs):  # fmt: skip
        if time.monotonic() - began > timeout:
            raise TimeoutError("the workers did not start")
        time.sleep(0.05)


def subscribe(topic_arn: str) -> str:
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = str(sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:10]}")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return url


def send_and_wait(res: Resources, events: str, body: dict[str, Any]) -> tuple[float, Any]:
    sqs = boto3.client("sqs")
    sent = time.monotonic()
    sqs.send_message(QueueUrl=res.queue_url, MessageBody=json.dumps(body))
    while time.monotonic() - sent < 3600:
        got = sqs.receive_message(QueueUrl=events, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in got.get("Messages", []):
            sqs.delete_message(QueueUrl=events, ReceiptHandle=msg["ReceiptHandle"])
            event = json.loads(msg["Body"])
            if event["type"] == "ffapi.job.failed":
                raise RuntimeError(event["data"].get("error"))
            if event["type"] == "ffapi.job.completed":
                return time.monotonic() - sent, event["data"]
    raise TimeoutError("no job.completed in an hour")


def latencies(res: Resources, clip: Path) -> dict[str, float]:
    """S3 throughput (the clip down, 3 times, by this process: the emulator's own, GIL
    shared) and an SQS send-to-receive, on this stack."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    url = str(sqs.create_queue(QueueName=f"lat-{uuid.uuid4().hex[:8]}")["QueueUrl"])
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        for _ in range(3):
            s3.download_file(res.input_bucket, "bench/clip.mp4", f"{tmp}/c")
        down = (time.monotonic() - began) / 3
    picks = []
    for _ in range(10):
        began = time.monotonic()
        sqs.send_message(QueueUrl=url, MessageBody="x")
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        picks.append(time.monotonic() - began)
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return {"s3_mb_per_s": clip.stat().st_size / 1e6 / down, "sqs_roundtrip_s": min(picks)}


def chunk_phases(logs: list[Path]) -> list[dict[str, Any]]:
    """Each chunk's ``job.completed`` timings, from the workers' JSON logs."""
    found, index = [], {}
    for log in logs:
        for raw in log.read_text(errors="replace").splitlines():
            if not raw.startswith("{"):
                continue
            line = json.loads(raw)
            if line.get("event") == "chunk.done":
                index[line["job_id"]] = line["chunk"]
            if line.get("event") == "job.completed" and line.get("job_id", "").startswith("k-"):
                found.append({"job_id": line["job_id"], **line["timings"]})
    return sorted(({"chunk": index.get(c["job_id"], -1), **c} for c in found),
                  key=lambda c: c["chunk"])  # fmt: skip


def stop(workers: list[subprocess.Popen[bytes]]) -> list[float]:
    """Stop them; each one's CPU seconds, its ffmpeg runs included (reaped by it)."""
    for w in workers:
        w.terminate()
    cpu = []
    for w in workers:
        _, _, usage = os.wait4(w.pid, 0)
        w.returncode = 0
        cpu.append(usage.ru_utime + usage.ru_stime)
    return cpu


def package_bytes(bucket: str, prefix: str) -> int:
    pages = (
        boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    return sum(o["Size"] for page in pages for o in page.get("Contents", []))


def main(args: argparse.Namespace) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, embedded_emulator("us-east-1"):
        root = Path(tmp)
        settings = Settings(
            temp_dir=root / "work", wait_time_seconds=1, worker_concurrency=1,
            visibility_timeout=1800, split_chunk_seconds=args.chunk_seconds,
            split_above_seconds=0,
        )  # fmt: skip
        res = bootstrap(settings)
        events = subscribe(res.topic_arn)
        clip = make_clip(root / "clip.mp4", args.seconds, args.by_the_second)
        boto3.client("s3").upload_file(str(clip), res.input_bucket, "bench/clip.mp4")

        def job(split: bool) -> dict[str, Any]:
            return {
                "version": 2, "input": {"bucket": res.input_bucket, "key": "bench/clip.mp4"},
                "preset": "web-hls", "ladder": ladder(args.rungs), "split": split,
                "output": {"bucket": res.output_bucket, "prefix": f"outputs/split-{split}"},
            }  # fmt: skip

        logs = [root / f"worker-{i}.log" for i in range(args.workers)]
        one = [start_worker(settings, 0, root / "whole", root / "whole.log")]
        try:
            wait_ready([root / "whole.log"])
            whole, whole_data = send_and_wait(res, events, job(False))
        finally:
            [whole_cpu] = stop(one)
        workers = [start_worker(settings, i, root / f"w{i}", logs[i]) for i in range(args.workers)]
        try:
            wait_ready(logs)
            split, split_data = send_and_wait(res, events, job(True))
        finally:
            split_cpu = stop(workers)
        measured = latencies(res, clip)
        phases = chunk_phases(logs)
        texts = {p.name: p.read_text(errors="replace") for p in [*logs, root / "whole.log"]}
        size = clip.stat().st_size
        out_bytes = package_bytes(res.output_bucket, "outputs/split-False/")
        # the S3 throughput a worker saw: its own download of the input, whole
        measured["s3_mb_per_s"] = size / 1e6 / whole_data["timings"]["download"]
    report = {
        "seconds": args.seconds, "chunk_seconds": args.chunk_seconds, "workers": args.workers,
        "rungs": args.rungs, "input_bytes": size, "whole_s": whole,
        "split_s": split, "whole_timings": whole_data["timings"],
        "split_timings": split_data["timings"], "chunks": phases,
        "output_bytes": out_bytes, **measured, "whole_cpu_s": whole_cpu, "split_cpu_s": split_cpu,
        "load_before": load_before, "load_after": os.getloadavg(),
    }  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.logs:  # the workers' JSON logs, for a timeline of who did what when
        Path(args.logs).mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (Path(args.logs) / name).write_text(text)
    print(f"{args.seconds} s 1080p clip, web-hls {'+'.join(args.rungs)}, taskset-pinned workers:")
    print(f"  whole, 1 worker on 1 core               {whole:8.2f} s")
    print(f"  split, {args.workers} workers on 1 core each "
          f"({args.chunk_seconds:g} s chunks)  {split:8.2f} s")  # fmt: skip
    print(f"  speed-up                                 {whole / split:8.2f}x")
    print(
        f"  CPU seconds: whole {whole_cpu:.1f}; split, by worker "
        f"{', '.join(f'{c:.1f}' for c in split_cpu)}: on idle cores "
        f"{whole_cpu / max(split_cpu):.2f}x (whole CPU over the busiest worker's)"
    )
    print(f"  load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}")
    for c in phases:
        print(f"  chunk {c}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--chunk-seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rungs", type=lambda s: s.split(","), default=["720p", "360p"])
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--by-the-second", action="store_true",
        help="the clip interleaved by the second (its sound read apart)",
    )  # fmt: skip
    parser.add_argument("--logs", default="", help="a directory to keep the workers' logs in")
    main(parser.parse_args())
