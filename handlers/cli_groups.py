"""The ``ffapi`` command groups: ``events`` (tail, replay), ``dlq`` (list, redrive) and
``config`` (check); each command a thin wrapper over a handler module."""

from __future__ import annotations

from typing import Annotated

import typer

from core.events.cloudevent import EventType
from handlers.cli_errors import run_in
from handlers.cli_help import FlagCommand, FlagGroup, flag
from handlers.config_check import run_config_check
from handlers.dlq import run_dlq_list, run_dlq_redrive
from handlers.replay import run_replay
from handlers.tail import event_type, run_tail

events_app = typer.Typer(
    help="Watch the events topic, or send a job's final event again.",
    no_args_is_help=True,
    cls=FlagGroup,
)
dlq_app = typer.Typer(
    help="Look at the dead-letter queue, or move dead letters back to their queues.",
    no_args_is_help=True,
    cls=FlagGroup,
)
config_app = typer.Typer(
    help="Judge a configuration document (presets and watch rules) as the worker would.",
    no_args_is_help=True,
    cls=FlagGroup,
)
GROUPS = ((events_app, "events"), (dlq_app, "dlq"), (config_app, "config"))


@events_app.command("tail", cls=FlagCommand)
def events_tail(
    ctx: typer.Context,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="Only this type (completed, ffapi.job.failed, ...); repeat for more."
        ),
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
) -> None:
    """Print each event published on the topic as it arrives, until Ctrl-C."""
    wanted = [_event_type(name) for name in types or []]
    run_in(ctx, lambda settings: run_tail(settings, wanted, count), uses_aws=True)


@events_app.command("replay", cls=FlagCommand)
def events_replay(
    ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="A finished job's id.")]
) -> None:
    """Send a finished job's final event again (topic and webhooks), under its id."""
    run_in(ctx, lambda settings: run_replay(settings, job_id), uses_aws=True)


@dlq_app.command("list", cls=FlagCommand)
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, at most.")] = 20,
    as_json: Annotated[bool, flag("--json", help="Print the raw messages.")] = False,
) -> None:
    """Show the dead letters (they stay in the queue, visible to others)."""
    run_in(ctx, lambda settings: run_dlq_list(settings, limit, as_json), uses_aws=True)


@dlq_app.command("redrive", cls=FlagCommand)
def dlq_redrive(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str] | None, typer.Argument(help="Message ids (from `ffapi dlq list`).")
    ] = None,
    every: Annotated[bool, flag("--all", help="Every dead letter.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Move this many, at most.")] = None,
) -> None:
    """Send dead letters back to their priority class's queue (then delete them from the DLQ)."""
    ids = list(message_ids or [])
    run_in(ctx, lambda settings: run_dlq_redrive(settings, ids, every, limit), uses_aws=True)


@config_app.command("check", cls=FlagCommand)
def config_check(
    ctx: typer.Context,
    source: Annotated[
        str | None, typer.Argument(help="A file or s3://bucket/key (default: FFAPI_CONFIG).")
    ] = None,
) -> None:
    """Validate a configuration document whole; say what it would put in force."""
    run_in(ctx, lambda settings: run_config_check(settings, source))


def _event_type(name: str) -> EventType:
    try:
        return event_type(name)
    except ValueError:
        known = ", ".join(t.status for t in EventType)
        raise typer.BadParameter(f"{name!r} is not an event type ({known})") from None
