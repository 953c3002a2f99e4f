"""Job records as a person reads them: ``ffapi status``, ``ffapi jobs``, outputs and outcomes.

Values that come from a job (keys, error messages) are shown as plain Text, never parsed as
rich markup: an S3 key may well contain ``[brackets]``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from core.events.progress import ProgressUpdate
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.outcome import JobOutcome, Outcome
from core.jobs.results import JobResult, JobStatus, output_key
from handlers.cli_errors import EXIT_FAILED, CommandError
from infra.aws import open_clients
from infra.jobstore import DynamoJobStore
from infra.settings import Settings

_STATUS_STYLE = {
    "COMPLETED": "green", "FAILED": "red", "RUNNING": "cyan", "RETRYING": "yellow",
    "SCHEDULED": "magenta", "WAITING": "blue", "SPLIT": "cyan",
    "CANCELLED": "bright_black",
}  # fmt: skip
_PIPE_WIDTH = 160  # piped output is read by tools and people alike: do not fold job ids


def console(stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = _PIPE_WIDTH
    return out


async def show_status(settings: Settings, job_id: str, as_json: bool) -> int:
    async with open_clients(settings) as clients:
        record = await DynamoJobStore(clients.dynamodb, settings.jobs_table).get(job_id)
    if record is None:
        raise CommandError(f"no job {job_id}", "list recent jobs with `ffapi jobs`", EXIT_FAILED)
    if as_json:
        print(json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True))
    else:
        console().print(record_panel(record))
    return 0


async def list_jobs(settings: Settings, status: str | None, limit: int) -> int:
    async with open_clients(settings) as clients:
        store = DynamoJobStore(clients.dynamodb, settings.jobs_table)
        records = await store.recent(status, limit)
    out = console()
    if not records:
        out.print(f"no {status + ' ' if status else ''}jobs in table {settings.jobs_table}")
        return 0
    out.print(jobs_table(records, settings.input_bucket))
    return 0


def record_panel(record: JobRecord) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    for name, value in _facts(record):
        facts.add_row(name, value)
    parts: list[RenderableType] = [facts]
    result = record.result
    if result is not None and result.outputs:
        parts += [Text(f"outputs in {outputs_folder(result)}", style="bold"), outputs_table(result)]
    title = Text.assemble(record.job_id, "  ", status_text(record.status))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


def _facts(record: JobRecord) -> Iterable[tuple[str, Text]]:
    yield "attempts", Text(str(record.attempts or "-"))
    yield "preset", Text(record.preset or "-")
    yield "input", Text(f"s3://{record.input_bucket or '?'}/{record.input_key or '?'}")
    yield "created", Text(record.created_at or "-")
    yield "updated", Text(record.updated_at or "-")
    if record.correlation_id:
        yield "correlation", Text(record.correlation_id)
    if record.not_before:  # core.jobs.schedule
        yield "not before", Text(record.not_before)
    if record.status in (JobStatus.RUNNING, JobStatus.RETRYING) and record.progress:
        yield "progress", Text(progress_text(record.progress))
    if record.error:
        yield "error", Text(error_text(record.error), style="red")
    if record.result is not None:
        yield from _result_facts(record.result)
    for endpoint, outcomes in _deliveries_by_endpoint(record.webhooks).items():
        yield "webhook", Text(f"{endpoint}: {outcomes}")


def _result_facts(result: JobResult) -> Iterable[tuple[str, Text]]:
    yield "encoder", Text(f"{result.encoder} (tier {result.accel_tier})")
    if result.fallback_reason:
        yield "fallback", Text(result.fallback_reason)
    if result.timings:
        yield "timings", Text("  ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    for kind, key in result.playback.items():
        yield "playback", Text(f"{kind}: s3://{result.output.bucket}/{key}")


def _deliveries_by_endpoint(deliveries: Iterable[WebhookDelivery]) -> dict[str, str]:
    """Each endpoint's recorded outcomes, e.g. ``delivered 3, expired 1 (HTTP 503)``."""
    counts: dict[str, Counter[str]] = {}
    for d in deliveries:
        outcome = d.outcome
        if outcome != "delivered" and d.reason:
            outcome += f" ({d.reason})"
        counts.setdefault(d.endpoint, Counter())[outcome] += 1
    return {
        endpoint: ", ".join(f"{outcome} x{n}" for outcome, n in c.items())
        for endpoint, c in counts.items()
    }


def outputs_folder(result: JobResult) -> str:
    """Where a job's outputs are, named once: a full key is twice as wide as a key column."""
    return f"s3://{result.output.bucket}/{output_key(result.output, result.job_id, '')}"


def outputs_table(result: JobResult) -> Table:
    """The job's outputs, keys relative to ``outputs_folder``."""
    folder = output_key(result.output, result.job_id, "")
    timed = any(o.duration for o in result.outputs)  # a streaming package's files are not
    table = Table(show_edge=False)
    table.add_column("key", overflow="fold")
    table.add_column("role")
    table.add_column("size", justify="right")
    if timed:
        table.add_column("duration", justify="right")
    for output in result.outputs:
        row: list[RenderableType] = [
            Text(output.key.removeprefix(folder)),
            Text(output.role),
            human_size(output.size),
        ]
        if timed:
            row.append(f"{output.duration:.2f} s" if output.duration else "")
        table.add_row(*row)
    return table


def playback_lines(result: JobResult) -> list[str]:
    bucket = result.output.bucket
    return [f"playback   {kind}: s3://{bucket}/{key}" for kind, key in result.playback.items()]


def jobs_table(records: list[JobRecord], input_bucket: str) -> Table:
    # The job id is the handle every other command takes: never cut. The input last, folded,
    # its bucket named only when it is not the usual one.
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("job", no_wrap=True, min_width=26)
    for name in ("status", "preset", "created (UTC)"):
        table.add_column(name, no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("input", overflow="fold")
    for record in records:
        created = record.created_at or record.updated_at or ""
        bucket, key = record.input_bucket or "?", record.input_key or ""
        table.add_row(
            Text(record.job_id),
            status_text(record.status),
            Text(record.preset or ""),
            created[5:19].replace("T", " "),
            Text(_detail(record)),
            Text(key if bucket == input_bucket else f"s3://{bucket}/{key}"),
        )
    return table


def _detail(record: JobRecord) -> str:
    parts = []
    if record.error:
        parts.append(record.error.code)
    elif record.status == JobStatus.RUNNING and record.progress:
        parts.append(progress_text(record.progress))
    elif record.status == JobStatus.SCHEDULED and record.not_before:  # core.jobs.schedule
        parts.append(f"not before {record.not_before}")
    if record.attempts > 1:
        parts.append(f"attempt {record.attempts}")
    return " ".join(parts)


def status_text(status: object) -> Text:
    return Text(str(status or "?"), style=_STATUS_STYLE.get(str(status), ""))


def progress_text(progress: ProgressUpdate, with_phase: bool = True) -> str:
    parts = [progress.phase] if with_phase else []
    parts.append(f"{progress.percent:.0f}%")
    if progress.speed:
        parts.append(f"{progress.speed:.2f}x")
    if progress.eta_seconds is not None:
        parts.append(f"eta {progress.eta_seconds:.0f}s")
    return " ".join(parts)


def error_text(error: RecordedError) -> str:
    return f"{error.code}: {error.message}"


def outcome_lines(outcome: Outcome) -> list[str]:
    """One line per job a message carried, as ``ffapi local`` prints them."""
    return [outcome_line(job) for job in outcome.jobs]


def outcome_line(job: JobOutcome) -> str:
    elapsed = "-"
    if job.result is not None:  # the attempt's own span, from its result
        seconds = (job.result.completed_at - job.result.started_at).total_seconds()
        elapsed = f"{seconds:.2f}s"
    error = job.error.code if job.error is not None else ""
    return f"{job.job_id}  {job.status.value:<10} {job.preset or '-':<12} {elapsed:>8}  {error}"


def human_size(n: float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
