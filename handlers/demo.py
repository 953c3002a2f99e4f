"""``ffapi demo``: the whole path on the embedded emulator, shown to a newcomer.

Start moto's server in-process, create the resources, upload a clip into the watched prefix so
that S3's own notification queues the job, run the worker until the job ends, and print what
happened, including the terminal event as it arrived on a queue subscribed to the SNS topic.
With ``--request REQUEST.json --attach KEY=FILE`` it sends a steps job instead (its input
the uploaded clip, outside the watched prefix), and :mod:`handlers.demo_steps` prints each
step's outputs. With ``--progressive`` the job is published while it encodes, and the time to
its ``job.playable`` is printed beside the job's.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import InvalidMessage
from core.events.cloudevent import EventType
from core.jobs.intake import parse_model
from core.jobs.job_record import JobRecord
from core.jobs.results import JobStatus, output_key
from core.models import JobRequest
from handlers.demo_steps import print_steps
from handlers.preset_option import require_preset
from handlers.runtime import Runtime, open_runtime
from handlers.watcher import EventWatcher
from handlers.worker import Worker
from infra.bootstrap import Resources, bootstrap
from infra.emulator import embedded_emulator
from infra.ffmpeg import make_sample_clip
from infra.settings import Settings
from infra.tools import use_tools

DEMO_PREFIX = "demo/"  # a request's input: outside the watched prefix, so it is one job


@dataclass(frozen=True, slots=True)
class DemoOptions:
    input: Path | None = None
    preset: str | None = None
    out: Path | None = None
    timeout: float = 600.0
    request: Path | None = None  # a JobRequest to send (its input: the uploaded file)
    attach: tuple[tuple[str, Path], ...] = ()  # objects its steps name: (key, local file)
    progressive: bool = False  # published while it encodes: the time to job.playable shown


@dataclass(frozen=True, slots=True)
class DemoResult:
    event: dict[str, Any]
    raw_event: str
    record: JobRecord | None
    objects: list[tuple[str, int]]  # (key, size) under the job's output prefix
    playable: dict[str, Any] | None = None  # job.playable, when the job was progressive


async def run_demo(options: DemoOptions, settings: Settings) -> int:
    use_tools(settings.tools())
    require_preset(settings, options.preset)  # before the emulator starts
    # Short polls: the demo stops its worker after one job and should not wait on a long poll.
    overrides: dict[str, Any] = {"wait_time_seconds": 1}
    if options.preset:
        overrides["preset"] = options.preset
    settings = settings.model_copy(update=overrides)
    # A request is sent as it is; a file alone is announced by S3 (the watched prefix).
    name = options.input.name if options.input else "sample.mp4"
    sent = options.request or options.progressive
    key = f"{DEMO_PREFIX if sent else settings.watch_prefix}{name}"
    body = request_body(  # checked before the emulator starts
        options.request, settings.input_bucket, key, options.progressive, options.preset
    )
    with embedded_emulator(settings.region) as emulator, tempfile.TemporaryDirectory() as tmp:
        print(f"emulator   moto server at {emulator.endpoint_url} (in this process)")
        resources = await asyncio.to_thread(bootstrap, settings)
        source = options.input or await make_sample_clip(Path(tmp) / name)
        described = "your file" if options.input else "generated: 10 s, 1280x720, 30 fps, stereo"
        async with open_runtime(settings) as runtime:
            try:
                await _attach(runtime, resources, options.attach)
                result = await _run_one_job(runtime, resources, source, key, options.timeout, body)
            except TimeoutError:
                print(f"\nno job.completed or job.failed event within {options.timeout:.0f} s")
                return 2
            print_summary(settings, source, key, described, result)
            problem = _problem(result)
            if options.out and problem is None:
                prefix = output_key(settings.output_location, result.event["subject"], "")
                await _copy_out(
                    runtime, settings.output_bucket, result.objects, options.out, prefix
                )
    if problem is not None:
        print(f"\n{problem}")
        return 1
    return 0


def _problem(result: DemoResult) -> str | None:
    """Why the demo did not show a complete job, or None when it did."""
    data = result.event["data"]
    if result.event["type"] != EventType.COMPLETED:
        error = data.get("error") or {}
        return f"job failed: {error.get('code')}: {error.get('message')}"
    stored = {key for key, _ in result.objects}
    listed = [o["key"] for o in data["outputs"]] + [r["playlist"] for r in data["renditions"]]
    missing = [key for key in listed if key not in stored]
    if missing or not any(key.endswith("/job.json") for key in stored):
        return f"job completed but outputs are missing: {missing or ['job.json']}"
    if result.record is None or result.record.status != JobStatus.COMPLETED:
        return "job completed but its record says otherwise"
    return None


def request_body(
    path: Path | None, bucket: str, key: str, progressive: bool = False, preset: str | None = None
) -> str | None:
    """The request file with its input replaced by the uploaded file (checked here, so a
    mistake in it is said before the emulator runs a job); ``progressive``: a version 2
    request that asks for it (the preset's, without a file)."""
    if path is None and not progressive:
        return None
    doc: dict[str, Any] = _request_doc(path) if path else {}
    if path is None and preset:
        doc["preset"] = preset
    if progressive:
        doc.update(version=2, progressive=True)
    doc["input"] = {"bucket": bucket, "key": key}
    doc.pop("output", None)  # the demo's output bucket
    try:
        parse_model(JobRequest, doc)
    except InvalidMessage as exc:
        raise exc.at(str(path or "--progressive")) from None
    return json.dumps(doc)


def _request_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidMessage(f"{path} is not a JSON job request: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidMessage(f"{path} is not a JSON object")
    return doc


async def _attach(
    runtime: Runtime, resources: Resources, attach: tuple[tuple[str, Path], ...]
) -> None:
    for key, path in attach:  # the objects the steps name, into the input bucket
        await runtime.clients.s3.upload_file(str(path), resources.input_bucket, key)
        print(f"attached   s3://{resources.input_bucket}/{key}  ({_size(path.stat().st_size)})")


async def _run_one_job(
    runtime: Runtime,
    resources: Resources,
    source: Path,
    key: str,
    timeout: float,
    body: str | None = None,
) -> DemoResult:
    sqs, s3 = runtime.clients.sqs, runtime.clients.s3
    async with EventWatcher.subscribe(sqs, runtime.clients.sns, resources.topic_arn) as watcher:
        # Without a request, the upload itself is the job request: S3's notification puts it
        # on the queue.
        await s3.upload_file(str(source), resources.input_bucket, key)
        if body is not None:
            await sqs.send_message(QueueUrl=resources.queue_url, MessageBody=body)
        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(runtime).run(stop))
        try:
            raw = await watcher.wait_for_terminal(timeout)
        finally:
            stop.set()
            await worker
    event = json.loads(raw)
    job_id = event["subject"]
    said = (json.loads(body) for body in watcher.received)
    playable = next((e for e in said if e.get("type") == EventType.PLAYABLE), None)
    prefix = output_key(runtime.settings.output_location, job_id, "")
    listing = await s3.list_objects_v2(Bucket=resources.output_bucket, Prefix=prefix)
    objects = [(o["Key"], int(o["Size"])) for o in listing.get("Contents", [])]
    return DemoResult(event, raw, await runtime.jobs.get(job_id), objects, playable)


async def _copy_out(
    runtime: Runtime, bucket: str, objects: list[tuple[str, int]], out: Path, prefix: str
) -> None:
    """The job's files under ``out``, laid out as in the bucket (cmaf/, thumbnails/, ...)."""
    for key, _ in objects:
        dest = out / key.removeprefix(prefix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        await runtime.clients.s3.download_file(bucket, key, str(dest))
    print(f"\ncopied     {len(objects)} files to {out}")


def print_summary(
    settings: Settings, source: Path, key: str, described: str, result: DemoResult
) -> None:
    data, record = result.event["data"], result.record
    print(
        f"input      s3://{settings.input_bucket}/{key}  ({_size(source.stat().st_size)}, "
        f"{described})"
    )
    status, attempts = (record.status, record.attempts) if record else ("?", "?")
    print(
        f"job        {result.event['subject']}  {status}  "
        f"attempt {attempts}  preset {data.get('preset')}"
    )
    if result.event["type"] == EventType.COMPLETED:
        print(f"encoder    {data['encoder']} (tier {data['accel_tier']})")
        for step in data.get("fallbacks", []):
            print(f"fallback   left {step['tier']}: {step['reason']}: {step['message']}")
        timings = "  ".join(f"{k} {v:.2f}s" for k, v in data["timings"].items())
        print(f"timings    {timings}")
        if result.playable is not None:
            print(f"playable   {playable_line(result.playable['data'], data)}")
        _print_package(data)
        print_steps(data)
        described_outputs = {o["key"]: o for o in data["outputs"]}
        segments = [(k, n) for k, n in result.objects if k.endswith((".m4s", ".ts"))]
        print("outputs")
        for obj_key, size in result.objects:
            if (obj_key, size) in segments:
                continue
            print(
                f"  s3://{settings.output_bucket}/{obj_key}  {_size(size)}"
                f"{_detail(obj_key, described_outputs.get(obj_key))}"
            )
        if segments:
            total = sum(n for _, n in segments)
            print(f"  ... and {len(segments)} segments, {_size(total)}")
    print(f"\n{result.event['type']} as it arrived on an SQS queue subscribed to the SNS topic:")
    print(result.raw_event)


def playable_line(playable: dict[str, Any], completed: dict[str, Any]) -> str:
    """The time to job.playable beside the job's (both from the attempt's start)."""
    start = datetime.fromisoformat(completed["started_at"])
    job = (datetime.fromisoformat(completed["completed_at"]) - start).total_seconds()
    seconds = float(playable["seconds"])
    share = f" ({seconds / job:.0%} of it)" if job > 0 else ""
    return f"after {seconds:.2f} s; the job took {job:.2f} s{share}"


def _print_package(data: dict[str, Any]) -> None:
    """The ladder as fitted, the renditions as published and the QC verdict."""
    for step in data.get("ladder") or []:
        print(
            f"ladder     {step['rung']:<8} {'kept' if step['kept'] else 'dropped'}: "
            f"{step['reason']}"
        )
    for r in data.get("renditions") or []:
        size = f"{r['width']}x{r['height']}" if r.get("width") else "audio"
        print(
            f"rendition  {r['name']:<9} {size:<10} target {r['bitrate_kbps']} kb/s  peak "
            f"{r['peak_bandwidth'] // 1000} kb/s  {r['segments']} segments  "
            f"{r['duration']:.2f} s"
        )
    if data.get("qc"):
        verdict = "passed" if data["qc"]["passed"] else "FAILED"
        print(f"qc         {verdict}: " + ", ".join(c["name"] for c in data["qc"]["checks"]))
    for note in data.get("notes") or []:
        print(f"note       {note}")
    for kind, key in (data.get("playback") or {}).items():
        print(f"playback   {kind}: {key}")


def _detail(key: str, output: dict[str, Any] | None) -> str:
    if key.endswith("/job.json"):
        return "  (commit marker)"
    if key.endswith(".m3u8") and not output:
        return "  media playlist"
    if not output:
        return ""
    parts = [output["content_type"]]
    if output.get("width"):
        parts.append(f"{output['width']}x{output['height']}")
    if output.get("duration"):
        parts.append(f"{output['duration']:.2f} s")
    return "  " + ", ".join(parts)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
