"""``ffapi submit FILE|s3://bucket/key``: send one job request and print its job id; with
``--wait``, follow the job on its record to the end (a live progress bar, then the outputs
table).

A local file is uploaded under ``FFAPI_SUBMIT_PREFIX``, which is not watched: the request
sent to the queue is the job, and the upload must not start a second one through S3's
notification. The job id is computed as the worker computes it (the preset resolved with the
catalog, the object's identity pinned by a HEAD), so it is known before the worker starts.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from core.jobs import identity
from core.jobs.job_record import JobRecord
from core.jobs.results import JobStatus, derive_job_id
from core.jobs.schedule import send_delay
from core.models import JobRequest, S3ObjectRef
from core.presets import PresetCatalog
from handlers.cli_errors import EXIT_FAILED, EXIT_USAGE, CommandError
from handlers.jobs_view import (
    console,
    error_text,
    human_size,
    outputs_folder,
    outputs_table,
    playback_lines,
    progress_text,
)
from handlers.live_config import catalog_in_force
from handlers.preset_option import require_preset
from infra.aws import aws_errors, open_clients
from infra.jobstore import DynamoJobStore
from infra.queue import SqsQueue
from infra.settings import Settings
from infra.storage import S3ObjectStore

POLL_SECONDS = 0.5  # the record changes at most every FFAPI_PROGRESS_INTERVAL seconds
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    target: str  # a local file or s3://bucket/key
    preset: str | None = None
    wait: bool = False
    timeout: float = 600.0
    priority: str = "normal"  # the queue it goes to (core.jobs.priority)
    not_before: str | None = None  # ISO 8601 with a zone (core.jobs.schedule)
    deadline: str | None = None


async def run_submit(options: SubmitOptions, settings: Settings) -> int:
    require_preset(settings, options.preset)  # before anything is uploaded
    catalog = await catalog_in_force(settings)  # a bad presets file or document stops us too
    out = console()
    async with open_clients(settings) as clients:
        lane = submit_queue(settings, options.priority)
        queue = await SqsQueue.open(clients.sqs, lane)  # before any upload
        objects = S3ObjectStore(clients.s3, settings.transfer_concurrency)
        source = await _source(options.target, settings, objects, out)
        draft = _draft(source, options, settings)
        request, job_id = await pinned_job(draft, catalog, objects)
        store = DynamoJobStore(clients.dynamodb, settings.jobs_table)
        await send_request(clients.sqs, store, queue.url, request, job_id, settings)
        out.print(f"job        {job_id}  preset {request.preset_name}")
        out.print(f"correlation {request.correlation_id}")
        if request.not_before is not None:
            out.print(f"scheduled  for {request.not_before.isoformat()}")
        if not options.wait:
            out.print(f"queued     on {lane}; follow it: ffapi status {job_id}")
            return 0
        record = await follow(store, job_id, options.timeout, out)
    return show_outcome(record, out)


async def pinned_job(
    request: JobRequest, catalog: PresetCatalog, objects: S3ObjectStore
) -> tuple[JobRequest, str]:
    """The request as the worker will see it, and its job id (``core.jobs.identity``): sent along
    pinned, it also holds the job to exactly these objects."""
    named, preset = identity.named_request(catalog, request)
    pinned, preset = await identity.pin_request(objects, catalog, named, preset)
    return pinned, derive_job_id(pinned, preset)


def submit_queue(settings: Settings, priority: str) -> str:
    """The queue of a priority class (the jobs queue alone with FFAPI_PRIORITY_QUEUES=false)."""
    lanes = {str(lane): name for lane, name in settings.lane_names().items()}
    if priority not in lanes:
        message = f"--priority {priority!r}: give high, normal or low"
        raise CommandError(message, exit_code=EXIT_USAGE)
    return lanes[priority] if settings.priority_queues else settings.jobs_queue


async def send_request(
    sqs: Any, store: DynamoJobStore, url: str, request: JobRequest, job_id: str,
    settings: Settings,
) -> None:  # fmt: skip
    """Send to the queue at ``url``, delayed up to 15 minutes when the job is for later (the
    worker requeues it until it is due, ``core.jobs.schedule``); a job for later is recorded
    SCHEDULED at once, so ``ffapi jobs`` lists it."""
    delay = send_delay(datetime.now(UTC), request.not_before, settings.schedule_lead_seconds)
    if request.not_before is not None and request.not_before > datetime.now(UTC):
        await store.schedule(job_id, request, request.not_before)
    with aws_errors("sqs:SendMessage"):
        await sqs.send_message(
            QueueUrl=url, MessageBody=request.model_dump_json(exclude_none=True),
            DelaySeconds=delay,
        )  # fmt: skip


def _draft(source: S3ObjectRef, options: SubmitOptions, settings: Settings) -> JobRequest:
    try:
        # The output named here, not left to the worker's default: the id depends on it.
        return JobRequest(
            input=source,
            preset=options.preset,
            output=settings.output_location,
            correlation_id=str(uuid.uuid4()),
            priority=options.priority,  # type: ignore[arg-type]  # the model checks it
            not_before=options.not_before,  # type: ignore[arg-type]
            deadline=options.deadline,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        message = f"invalid request: {where}: {problem['msg']}"
        raise CommandError(message, exit_code=EXIT_USAGE) from None


async def _source(
    target: str, settings: Settings, objects: S3ObjectStore, out: Console
) -> S3ObjectRef:
    if target.startswith("s3://"):
        bucket, _, key = target.removeprefix("s3://").partition("/")
        try:
            return S3ObjectRef(bucket=bucket, key=key)
        except ValidationError:
            raise CommandError(
                f"{target} is not an s3://bucket/key URL", exit_code=EXIT_USAGE
            ) from None
    path = Path(target)
    if not path.is_file():
        raise CommandError(
            f"{target}: no such file", "give a media file or an s3://bucket/key URL", EXIT_USAGE
        )
    key = submit_key(settings, path.name)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    await objects.upload_file(path, settings.input_bucket, key, content_type, None)
    out.print(f"uploaded   s3://{settings.input_bucket}/{key}  ({human_size(path.stat().st_size)})")
    return S3ObjectRef(bucket=settings.input_bucket, key=key)


def submit_key(settings: Settings, filename: str) -> str:
    """A fresh key under the submit prefix: the same file submitted twice is two objects."""
    prefix = settings.submit_prefix.strip("/")
    name = _UNSAFE.sub("_", filename).strip("._")[-100:] or "input"
    key = f"{prefix}/{uuid.uuid4().hex[:16]}/{name}" if prefix else f"{uuid.uuid4().hex}/{name}"
    if settings.intake.rule_for(settings.input_bucket, key) is not None:
        raise CommandError(
            f"uploads to s3://{settings.input_bucket}/{prefix}/ are watched: the upload would "
            "start a second job",
            "set FFAPI_SUBMIT_PREFIX outside FFAPI_WATCH_PREFIX",
            EXIT_USAGE,
        )
    return key


async def follow(store: DynamoJobStore, job_id: str, timeout: float, out: Console) -> JobRecord:
    """Poll the job's record, showing its progress, until it is COMPLETED or FAILED."""
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=out) as bar:
        task = bar.add_task("queued", total=100, detail="")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    record = await store.get(job_id)
                    _show(bar, task, record)
                    if record is not None and record.finished:
                        return record
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            raise CommandError(
                f"job {job_id} did not finish within {timeout:.0f} s",
                f"it may still be running: ffapi status {job_id}",
                EXIT_USAGE,
            ) from None


def _show(bar: Progress, task: TaskID, record: JobRecord | None) -> None:
    if record is None or record.status is None:  # not claimed yet: waits for a worker
        return
    status, progress = record.status, record.progress
    if status == JobStatus.COMPLETED:
        bar.update(task, description="completed", completed=100, detail="100%")
        return
    description = f"{status} #{record.attempts or 1}"
    if status == JobStatus.RUNNING and progress:
        description = progress.phase
    bar.update(
        task,
        description=description,
        completed=progress.percent if progress else 0.0,
        detail=progress_text(progress, with_phase=False) if progress else "",
    )


def show_outcome(record: JobRecord, out: Console) -> int:
    result = record.result
    if record.status == JobStatus.CANCELLED:
        raise CommandError(f"job {record.job_id} was cancelled", exit_code=EXIT_FAILED)
    if record.status == JobStatus.FAILED or result is None:
        said = f"failed: {error_text(record.error)}" if record.error else "has no result"
        raise CommandError(
            f"job {record.job_id} {said}", f"details: ffapi status {record.job_id}", EXIT_FAILED
        )
    out.print(Text(f"outputs in {outputs_folder(result)}"), soft_wrap=True)
    out.print(outputs_table(result))
    for line in playback_lines(result):
        out.print(Text(line), soft_wrap=True)  # one line, however narrow: it is copied whole
    return 0
