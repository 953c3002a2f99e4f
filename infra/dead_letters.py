"""The dead-letter queue on SQS: scan it without taking it apart, and move letters back.

The jobs queue and the high and low ones (``core.jobs.priority``) share one DLQ, so each
letter goes back to the queue of its priority class (``DeadLetter.lane``): the queue SQS names
in the letter's ``DeadLetterQueueSourceArn`` attribute where it names one of the three; else
the class its body asks for (``core.jobs.priority.stated_priority``: a job request's
``priority``, normal for anything else). moto's server sets no such attribute, so there (the
tests, ``ffapi local``) the body decides; AWS documents the attribute among those a receive
may return, without saying when it is set.

SQS lets a queue be read only by receiving: each message received is hidden for
``_HOLD_SECONDS`` while the scan pages on (releasing it at once would let the next receive
return it again, and a scan could then never get past the first page), and every message not
moved is made visible again (visibility 0) before the scan returns. A crash mid-scan hides
them for at most ``_HOLD_SECONDS``. Each receive counts in a message's
``ApproximateReceiveCount``; the DLQ has no redrive policy of its own, so that is harmless.

SQS's own ``StartMessageMoveTask`` moves a whole DLQ back to its source, but it cannot pick
messages, and moto's server (the tests, ``ffapi local``) does not implement it: letters are
moved here, with SendMessage then DeleteMessage.

The worker's sweep (``core.jobs.dlq_sweep``) reads letters through ``visit`` (the
``DeadLetterQueue`` port): each is handed over while the scan still hides it, so two workers
sweeping at once mostly see different letters; the job store's conditional write settles
the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.jobs.priority import stated_priority
from core.models import Priority
from core.ports import QueueMessage
from infra.aws import aws_errors
from infra.queue import SqsQueue
from infra.setting_groups import QueueSettings
from infra.topic import Arn

_HOLD_SECONDS = 30  # how long a scan keeps what it received hidden, at most
_SCAN_WAIT_SECONDS = 1  # a long poll asks every SQS server: an empty answer means none left
_PAGE = 10  # SQS's maximum per receive and per batch call
_EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the DLQ, as SQS returned it to this scan."""

    raw: dict[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.raw["MessageId"])

    @property
    def body(self) -> str:
        return str(self.raw["Body"])

    @property
    def receipt_handle(self) -> str:
        return str(self.raw["ReceiptHandle"])

    @property
    def sent_at(self) -> datetime | None:
        sent = self.raw.get("Attributes", {}).get("SentTimestamp")  # epoch ms, as a string
        return datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None

    @property
    def receive_count(self) -> int:
        return int(self.raw.get("Attributes", {}).get("ApproximateReceiveCount", 0))

    @property
    def source_queue(self) -> str | None:
        """The name of the queue SQS moved it from, where SQS says (see the module's doc)."""
        arn = Arn.parse(str(self.raw.get("Attributes", {}).get("DeadLetterQueueSourceArn", "")))
        return arn.resource if arn is not None and arn.service == "sqs" else None

    def lane(self, queues: Mapping[Priority, str]) -> Priority:
        """Its priority class, given each class's queue (a name or a URL)."""
        source = self.source_queue
        if source is not None:
            for lane, queue in queues.items():
                if queue.rstrip("/").rsplit("/", 1)[-1] == source:  # a URL ends in the name
                    return lane
        return stated_priority(self.body)

    def message(self) -> QueueMessage:
        return QueueMessage(self.message_id, self.body, self.receive_count)

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` prints: the message as received, less the scan's receipt handle."""
        return {k: v for k, v in self.raw.items() if k != "ReceiptHandle"}


@dataclass(slots=True)
class _Scan:
    seen: set[str] = field(default_factory=set)  # every id received, moved or not
    held: dict[str, DeadLetter] = field(default_factory=dict)  # hidden by us: release them


@dataclass(frozen=True, slots=True)
class Moved:
    letter: DeadLetter
    lane: Priority
    queue: str  # where it went: the setting (a name or a URL) of its class's queue


@dataclass(frozen=True, slots=True)
class Redriven:
    moved: list[Moved]
    missing: list[str]  # named ids the scan did not find


class DeadLetters:
    """The dead-letter queue and the queues its letters go back to. Those are found only
    when a letter is moved: the worker's sweep reads the DLQ alone."""

    def __init__(self, sqs: Any, dlq_url: str, queues: QueueSettings) -> None:
        self._sqs = sqs
        self.url = dlq_url
        self._classes = queues.lane_names()  # the queue each class's letters come from
        self._targets = queues.job_lanes()  # ...and go back to (polled ones only)
        self._urls: dict[str, str] = {}

    @classmethod
    async def open(cls, sqs: Any, queues: QueueSettings) -> DeadLetters:
        dlq = await SqsQueue.open(sqs, queues.dead_letter_queue)
        return cls(sqs, dlq.url, queues)

    def lane_of(self, letter: DeadLetter) -> Priority:
        return letter.lane(self._classes)

    async def peek(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, oldest first, all left in the queue and visible."""
        scan = _Scan()
        try:
            while len(scan.held) < limit and await self._next_page(scan, limit - len(scan.held)):
                pass
        finally:
            await self._release(scan.held.values())
        return sorted(scan.held.values(), key=lambda m: m.sent_at or _EPOCH)

    async def visit(self, limit: int, visitor: Callable[[QueueMessage], Awaitable[None]]) -> int:
        """Hand up to ``limit`` letters to ``visitor`` as they are received (hidden), then
        make them all visible again."""
        scan, visited = _Scan(), 0
        try:
            while visited < limit and (page := await self._next_page(scan, limit - visited)):
                for letter in page[: limit - visited]:
                    await visitor(letter.message())
                    visited += 1
        finally:
            await self._release(scan.held.values())
        return visited

    async def redrive(self, wanted: Iterable[str] | None, limit: int | None) -> Redriven:
        """Move the ``wanted`` ids (every letter when None) back, ``limit`` at most.

        Each page is moved as soon as it is received, while it is surely still hidden."""
        names = None if wanted is None else set(wanted)
        scan = _Scan()
        moved: list[Moved] = []
        try:
            while not _done(names, moved, limit):
                page = await self._next_page(scan, _PAGE)
                if not page:
                    break
                for letter in page:
                    if _done(names, moved, limit):
                        break
                    if names is None or letter.message_id in names:
                        moved.append(await self._move(letter))
                        del scan.held[letter.message_id]
        finally:
            await self._release(scan.held.values())
        found = {m.letter.message_id for m in moved}
        return Redriven(moved, sorted((names or set()) - found))

    async def _next_page(self, scan: _Scan, count: int) -> list[DeadLetter]:
        """The letters of one receive not seen before in this scan (none: the scan is over)."""
        with aws_errors("sqs:ReceiveMessage"):
            resp = await self._sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max(1, min(_PAGE, count)),
                WaitTimeSeconds=_SCAN_WAIT_SECONDS,
                VisibilityTimeout=_HOLD_SECONDS,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        page = [DeadLetter(m) for m in resp.get("Messages", [])]
        new = [m for m in page if m.message_id not in scan.seen]
        scan.seen.update(m.message_id for m in page)
        # A letter received again (its hold ran out) is released by its latest handle only;
        # one already moved stays moved (SQS may, rarely, deliver a deleted message again).
        keep = scan.held.keys() | {m.message_id for m in new}
        scan.held.update((m.message_id, m) for m in page if m.message_id in keep)
        return new

    async def _move(self, letter: DeadLetter) -> Moved:
        # Send first, then delete: a crash in between leaves the message in both queues, and
        # the worker's idempotency turns the copy into a no-op; the other order could lose it.
        lane = self.lane_of(letter)
        queue = self._targets[lane]
        kwargs: dict[str, Any] = {"QueueUrl": await self._url(queue), "MessageBody": letter.body}
        attributes = _sendable_attributes(letter.raw.get("MessageAttributes") or {})
        if attributes:
            kwargs["MessageAttributes"] = attributes
        with aws_errors("sqs:SendMessage"):
            await self._sqs.send_message(**kwargs)
        with aws_errors("sqs:DeleteMessage"):
            await self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=letter.receipt_handle)
        return Moved(letter, lane, queue)

    async def _url(self, queue: str) -> str:
        if queue not in self._urls:
            self._urls[queue] = (await SqsQueue.open(self._sqs, queue)).url
        return self._urls[queue]

    async def _release(self, letters: Iterable[DeadLetter]) -> None:
        """Visible again at once. A batch reports failures per entry instead of raising: a
        letter whose handle went stale (held past ``_HOLD_SECONDS``) is already visible."""
        handles = [m.receipt_handle for m in letters]
        for start in range(0, len(handles), _PAGE):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + _PAGE])
            ]
            with aws_errors("sqs:ChangeMessageVisibilityBatch"):
                await self._sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)


class SweptDeadLetters:
    """The DLQ as a worker's sweep reads it: found on the first pass, not at start (a worker
    whose DLQ cannot be reached still runs jobs; each pass says why it could not sweep)."""

    def __init__(self, sqs: Any, queues: QueueSettings) -> None:
        self._sqs = sqs
        self._queues = queues
        self._dlq: DeadLetters | None = None

    async def visit(self, limit: int, visitor: Callable[[QueueMessage], Awaitable[None]]) -> int:
        if self._dlq is None:
            self._dlq = await DeadLetters.open(self._sqs, self._queues)
        return await self._dlq.visit(limit, visitor)


def _done(names: set[str] | None, moved: list[Moved], limit: int | None) -> bool:
    if limit is not None and len(moved) >= limit:
        return True
    return names is not None and names <= {m.letter.message_id for m in moved}


def _sendable_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    # ReceiveMessage also returns the list fields SQS reserves (StringListValues, ...), which
    # SendMessage refuses: keep the type and the value only.
    keep = ("DataType", "StringValue", "BinaryValue")
    return {name: {k: v[k] for k in keep if k in v} for name, v in attributes.items()}
