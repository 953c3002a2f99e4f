"""``ffapi dlq list|redrive``: look at the dead-letter queue, and move dead letters back.

A message lands in the DLQ when its queue's redrive policy gave up on it (``maxReceiveCount``
receives): a retryable failure that outlasted its attempts. Once its cause is fixed (a bucket
policy, an outage, a worker bug), ``redrive`` sends it back to the queue of its priority class
(high, normal: the jobs queue, or low); the worker's claim takes a retryably failed job back,
so the job runs again under the same id. How the queue is read without being taken apart, and
how a letter's class is known: ``infra.dead_letters``.
"""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from core.jobs.intake import named_inputs
from core.jobs.priority import LANES
from core.models import Priority
from handlers.cli_errors import EXIT_FAILED, CommandError
from handlers.jobs_view import console
from infra.aws import open_clients
from infra.dead_letters import DeadLetter, DeadLetters, Moved
from infra.settings import Settings

_TEXT_PREVIEW = 60


# --- the commands ----------------------------------------------------------------------------


async def run_dlq_list(settings: Settings, limit: int, as_json: bool) -> int:
    async with open_clients(settings) as clients:
        dlq = await DeadLetters.open(clients.sqs, settings)
        letters = [(m, dlq.lane_of(m)) for m in await dlq.peek(limit)]
    if as_json:
        shown = [{**m.as_dict(), "Priority": lane} for m, lane in letters]
        print(json.dumps(shown, indent=2, sort_keys=True))
        return 0
    out = console()
    if not letters:
        out.print(Text(f"no dead letters in {settings.dead_letter_queue}"))
        return 0
    out.print(dead_letters_table(letters))
    return 0


async def run_dlq_redrive(
    settings: Settings, message_ids: list[str], every: bool, limit: int | None
) -> int:
    if every == bool(message_ids):
        raise CommandError(
            "name the dead letters to move, or --all (not both)",
            "see them with `ffapi dlq list`",
        )
    async with open_clients(settings) as clients:
        dlq = await DeadLetters.open(clients.sqs, settings)
        done = await dlq.redrive(None if every else message_ids, limit)
    for m in done.moved:
        letter = m.letter
        print(f"moved      {letter.message_id}  {m.lane:<6}  {describe(letter.body)}", flush=True)
    print(f"{len(done.moved)} moved from {settings.dead_letter_queue}{_destinations(done.moved)}")
    if done.missing:
        raise CommandError(
            f"no dead letter {', '.join(done.missing)} in {settings.dead_letter_queue}",
            "see them with `ffapi dlq list`",
            EXIT_FAILED,
        )
    return 0


def _destinations(moved: list[Moved]) -> str:
    """Where the letters went, by class in order of priority, e.g.
    ``: 1 to ffapi-jobs-high (high), 2 to ffapi-jobs (normal)``."""
    counts: dict[tuple[Priority, str], int] = {}
    for m in sorted(moved, key=lambda m: LANES.index(m.lane)):
        counts[m.lane, m.queue] = counts.get((m.lane, m.queue), 0) + 1
    parts = [f"{n} to {queue} ({lane})" for (lane, queue), n in counts.items()]
    return ": " + ", ".join(parts) if parts else ""


def dead_letters_table(letters: list[tuple[DeadLetter, Priority]]) -> Table:
    # Values from the message (keys, free text) are plain Text: never parsed as rich markup.
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("message", no_wrap=True)
    table.add_column("sent (UTC)", no_wrap=True)
    table.add_column("receives", justify="right", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    table.add_column("what", overflow="fold")
    for letter, lane in letters:
        sent = f"{letter.sent_at:%m-%d %H:%M:%S}" if letter.sent_at else "-"
        table.add_row(
            Text(letter.message_id), sent, str(letter.receive_count), lane,
            Text(describe(letter.body)),
        )  # fmt: skip
    return table


# --- what a body is ----------------------------------------------------------------------------


def describe(body: str) -> str:
    """The objects an S3 event announces, a JobRequest's input and preset, or the text."""
    named = named_inputs(body)
    if not named:
        return _preview(body)
    return ", ".join(f"{n.url} preset {n.preset}" if n.preset else n.url for n in named)


def _preview(body: str) -> str:
    flat = " ".join(body.split())  # one table row, whatever newlines the body has
    return flat if len(flat) <= _TEXT_PREVIEW else flat[:_TEXT_PREVIEW] + "..."
