"""The ``ffapi`` command line: run the worker, submit and follow jobs, watch their events.

Each command is a thin wrapper over a handler module; ``handlers/cli_errors.py`` turns any
failure into one line with a hint and an exit code (0 ok, 1 job failed or not found, 2 usage
or input error, 3 ffmpeg missing); the global ``--debug`` adds the traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from core.jobs.outcome import Outcome
from core.jobs.results import JobStatus
from core.media.accel import AccelTier
from handlers.cancel import run_cancel
from handlers.cli_errors import Flags, run_in
from handlers.cli_groups import GROUPS
from handlers.cli_help import FlagCommand, FlagGroup, flag
from handlers.demo import DemoOptions, run_demo
from handlers.doctor import run_doctor
from handlers.jobs_view import list_jobs, outcome_lines, show_status
from handlers.plan import PlanOptions, run_plan
from handlers.plan_steps import StepsPlanOptions, attachment, run_steps_plan
from handlers.preset_option import preset_help
from handlers.prune import run_prune
from handlers.service import LocalStack, run_local, run_worker
from handlers.submit import SubmitOptions, run_submit
from infra.bootstrap import bootstrap
from infra.settings import Settings

app = typer.Typer(
    name="ffapi",
    help="Event-driven media worker: S3 upload -> SQS -> ffmpeg -> S3 -> SNS.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=FlagGroup,
)
for group, group_name in GROUPS:
    app.add_typer(group, name=group_name)


# --concurrency's default is the setting's: typer would show a str default in parentheses
# (and the help is rich markup: a bracket is escaped).
_CONCURRENCY = (
    "Jobs at once. \\[default: FFAPI_WORKER_CONCURRENCY, else "
    f"{Settings.model_fields['worker_concurrency'].default}]"
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, flag("--debug", help="On failure, print the traceback (and the logs).")
    ] = False,
) -> None:
    ctx.obj = Flags(debug)


@app.command(cls=FlagCommand)
def demo(
    ctx: typer.Context,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            exists=True,
            dir_okay=False,
            help="Your media file (default: a generated clip).",
        ),
    ] = None,
    preset: Annotated[str | None, typer.Option(help=preset_help("Output preset"))] = None,
    out: Annotated[Path | None, typer.Option(help="Copy the job's outputs here.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the job.")] = 600.0,
    verbose: Annotated[bool, flag("-v", "--verbose", help="Show the worker's JSON logs.")] = False,
    request: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A JobRequest JSON (version 2 steps) to run on the input, sent to the queue.",
        ),
    ] = None,
    attach: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=FILE: upload FILE to the input bucket as KEY (an overlay image, "
            "a clip to append); repeatable."
        ),
    ] = None,
    progressive: Annotated[
        bool,
        flag(
            "--progressive",
            help="Publish the package while it encodes; print the time to job.playable.",
        ),
    ] = False,
) -> None:
    """Run one job end to end on the embedded emulator."""
    if preset and request:
        raise typer.BadParameter("give --preset or --request, not both", param_hint="--preset")
    attached = tuple(attachment(a) for a in attach or ())
    options = DemoOptions(input_file, preset, out, timeout, request, attached, progressive)
    run_in(ctx, lambda settings: run_demo(options, settings), quiet=not verbose)


@app.command(cls=FlagCommand)
def local(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(help=_CONCURRENCY)] = None,
) -> None:
    """Embedded emulator + resources + worker, until Ctrl-C; one line per job outcome."""

    async def work(settings: Settings) -> int:
        return await run_local(
            settings, concurrency, on_outcome=_print_outcome, on_ready=_local_banner(settings)
        )

    run_in(ctx, work, quiet=False)


@app.command("bootstrap", cls=FlagCommand)
def bootstrap_command(ctx: typer.Context) -> None:
    """Create the buckets, queues, topic and table (idempotent)."""

    async def work(settings: Settings) -> int:
        resources = await asyncio.to_thread(bootstrap, settings)
        print(json.dumps(resources.as_dict(), indent=2))
        return 0

    run_in(ctx, work, uses_aws=True)


@app.command(cls=FlagCommand)
def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, flag("--dry-run", help="Print what would go; delete nothing.")
    ] = False,
    now: Annotated[
        datetime | None, typer.Option(help="Judge ages as of this time (UTC), not now.")
    ] = None,
) -> None:
    """Delete outputs and uploads older than their watch rule's retention (docs/cli.md)."""
    run_in(ctx, lambda settings: run_prune(settings, dry_run, now), uses_aws=True)


@app.command(cls=FlagCommand)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(help=_CONCURRENCY)] = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            "--metrics-port",
            help="Serve /healthz and /metrics on this port (FFAPI_HTTP_PORT; 0: off).",
        ),
    ] = None,
) -> None:
    """Long-poll the jobs queue and run jobs (SIGTERM drains running jobs)."""

    async def work(settings: Settings) -> int:
        if http_port is not None:
            settings = settings.model_copy(update={"http_port": http_port})
        return await run_worker(settings, concurrency)

    run_in(ctx, work, quiet=False)


@app.command(cls=FlagCommand)
def plan(
    ctx: typer.Context,
    target: Annotated[
        Path | None,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="A media file, or a JobRequest JSON (S3 input); with --request, the file to "
            "use as its input (else the request's S3 input).",
        ),
    ] = None,
    request: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A JobRequest JSON whose steps to plan."),
    ] = None,
    attach: Annotated[
        list[str] | None,
        typer.Option(help="KEY=FILE: a local FILE for the object KEY its steps name."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help=preset_help("Preset to plan with (else the request's)"))
    ] = None,
    as_json: Annotated[bool, flag("--json", help="Print the plan as JSON.")] = False,
    accel: Annotated[
        AccelTier, typer.Option(help="Plan for this accelerator tier.")
    ] = AccelTier.CPU,
) -> None:
    """Probe an input and print the job's plan; encode nothing."""
    if request is not None:
        attached = tuple(attachment(a) for a in attach or ())
        steps = StepsPlanOptions(request, target, attached, as_json, accel.value)
        run_in(ctx, lambda settings: run_steps_plan(steps, settings))
        return
    if target is None:
        raise typer.BadParameter("give a media file or a JobRequest JSON", param_hint="TARGET")
    options = PlanOptions(target, preset, as_json, accel.value)
    run_in(ctx, lambda settings: run_plan(options, settings))


@app.command(cls=FlagCommand)
def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, flag("--json", help="Print the probe as JSON.")] = False,
) -> None:
    """Probe the GPU/CPU tiers; say what jobs run on."""
    run_in(ctx, lambda settings: run_doctor(settings, as_json))


@app.command(cls=FlagCommand)
def submit(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A media file, or s3://bucket/key.")],
    preset: Annotated[
        str | None, typer.Option(help=preset_help("Preset (else FFAPI_PRESET's)"))
    ] = None,
    wait: Annotated[
        bool, flag("--wait", help="Follow the job with a progress bar to its end.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits, at most.")] = 600.0,
    priority: Annotated[
        str, typer.Option(help="high, normal or low: the queue it goes to.")
    ] = "normal",
    not_before: Annotated[
        str | None, typer.Option(help="Not started before this ISO 8601 time (with a zone).")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="Fails as deadline_passed if not started by this time.")
    ] = None,
) -> None:
    """Send a job request to the queue and print its job id (a file is uploaded first)."""
    options = SubmitOptions(target, preset, wait, timeout, priority, not_before, deadline)
    run_in(ctx, lambda settings: run_submit(options, settings), uses_aws=True)


@app.command(cls=FlagCommand)
def status(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id (j-...).")],
    as_json: Annotated[bool, flag("--json", help="Print the raw record.")] = False,
) -> None:
    """Show a job's record: status, progress, error, outputs."""
    run_in(ctx, lambda settings: show_status(settings, job_id, as_json), uses_aws=True)


@app.command(cls=FlagCommand)
def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id (j-...).")],
    via_queue: Annotated[
        bool, flag("--via-queue", help="Send a cancel message instead of writing the table.")
    ] = False,
) -> None:
    """Cancel a job: queued or retrying, it never runs; running, its worker stops it."""
    run_in(ctx, lambda settings: run_cancel(settings, job_id, via_queue), uses_aws=True)


@app.command(cls=FlagCommand)
def jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None, typer.Option(case_sensitive=False, help="Only jobs in this state.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
) -> None:
    """List recent jobs, newest first."""
    run_in(
        ctx,
        lambda settings: list_jobs(settings, status.value if status else None, limit),
        uses_aws=True,
    )


def _print_outcome(outcome: Outcome) -> None:
    for line in outcome_lines(outcome):
        print(f"{datetime.now():%H:%M:%S}  {line}", flush=True)


def _local_banner(settings: Settings) -> Callable[[LocalStack], None]:
    def show(stack: LocalStack) -> None:
        bucket, prefix, url = stack.resources.input_bucket, stack.watch_prefix, stack.endpoint_url
        print(f"emulator   {url} (moto server, in this process)")
        print(f"bucket     s3://{bucket}  watched prefix {prefix} (uploads there become jobs)")
        print("try        in another shell (with the same FFAPI_* variables, if any):")
        print(
            f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={settings.region}"
        )
        print(f"  aws s3 cp clip.mp4 s3://{bucket}/{prefix}")
        print("  ffapi submit clip.mp4 --wait")
        print("outcomes   one line per job as it ends (Ctrl-C stops):", flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code instead of exiting (tests call it)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=None if argv is None else list(argv), prog_name="ffapi")
    except SystemExit as done:  # Typer ends every run, even a successful one, this way
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
