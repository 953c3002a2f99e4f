"""The seams between the domain and the outside world; ``infra`` implements them.

Tests may pass in-memory adapters (``infra.memory``, ``infra.memory_objects``,
``infra.memory_jobs``); production passes the
S3/SQS/SNS/DynamoDB/ffmpeg adapters.

The ports: ``Queue`` (receive, extend, release, delete, send, requeue), ``ObjectStore``,
``JobStore``, ``EventPublisher``, ``WebhookSender``, ``MediaTool``, ``LocalFiles``, ``Workspace``,
``Accelerator``, ``TaskProtection``, ``DeadLetterQueue``, ``ConfigReader``, ``BatchStore``,
``JobSender``; and the values crossing them (``QueueMessage``, ``Delivery``, ``Claim``,
``CancelAnswer``, ``JobDir``,
``ConfigText``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from core.events.cloudevent import CloudEvent
from core.events.progress import EncodeProgress, ProgressUpdate
from core.events.webhooks import WebhookTarget
from core.jobs.batch_model import BatchPlan, BatchRecord, Ending
from core.jobs.job_record import JobRecord, RecordedError, WebhookDelivery
from core.jobs.results import JobResult
from core.media.accel import AccelTier, TierChoice
from core.media.hardening import NO_LIMITS, InputGuard, ResourceLimits
from core.media.probe_doc import ProbeDoc
from core.models import JobRequest, Priority, S3ObjectRef
from core.streaming.qc import Packet


@dataclass(frozen=True, slots=True)
class QueueMessage:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class Delivery:
    """One receipt of a message: the handle that settles it is this receipt's alone."""

    message: QueueMessage
    receipt_handle: str
    sent_at: datetime | None = None  # when the queue took it: queue lag is measured from it
    # Which of the worker's queues it came from (core.jobs.priority): settled there.
    queue: str = ""


class Queue(Protocol):
    """The jobs queue: at-least-once, each receipt hidden from other consumers for a
    visibility timeout that the holder extends, or shortens to hand the message back."""

    async def receive(self, max_messages: int, wait_seconds: int) -> list[Delivery]:
        """Up to ``max_messages``, waiting up to ``wait_seconds`` for the first."""
        ...

    async def extend(self, delivery: Delivery, seconds: int) -> None:
        """Keep it hidden for ``seconds`` from now (the holder is still at work)."""
        ...

    async def release(self, delivery: Delivery, delay: int = 0) -> None:
        """Let it be delivered again after ``delay`` seconds (to any consumer)."""
        ...

    async def delete(self, delivery: Delivery) -> None: ...

    async def send(self, body: str) -> str:
        """Enqueue a message; its id."""
        ...

    async def requeue(self, delivery: Delivery, delay: int) -> None:
        """Send a fresh copy of the message to the queue it came from, hidden for ``delay``
        seconds (0..900), then delete this receipt: a wait that spends no receive count."""
        ...


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    etag: str | None
    version_id: str | None


@dataclass(frozen=True, slots=True)
class ObjectListing:
    """One object as a listing shows it: what retention judges by (its age)."""

    key: str
    size: int
    last_modified: datetime  # aware, UTC


class ObjectStore(Protocol):
    async def head(self, ref: S3ObjectRef) -> ObjectInfo:
        """Raise InputNotFound if the object (version) does not exist."""
        ...

    async def download(self, ref: S3ObjectRef, dest: Path) -> None: ...

    async def upload_file(
        self, path: Path, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> None: ...

    async def put_bytes(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> int: ...

    async def put_new(
        self, data: bytes, bucket: str, key: str, content_type: str, cache_control: str | None
    ) -> bool:
        """Write only if nothing is at ``key`` (one conditional request); False when
        something is."""
        ...

    async def get_bytes(self, bucket: str, key: str, limit: int) -> bytes | None:
        """The object's bytes (at most ``limit``, or raise); None when there is none."""
        ...

    async def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    async def delete_keys(self, bucket: str, keys: Sequence[str]) -> None: ...

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectListing]:
        """Every object under ``prefix``, in the order of its key's UTF-8 bytes."""
        ...

    async def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str) -> None:
        """A server-side copy of one object, headers (Content-Type, Cache-Control) and all;
        raise StorageUnavailable when the source is gone."""
        ...


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Literal["claimed", "done", "busy"]
    attempt: int = 0
    lease_remaining: float = 0.0  # seconds, when busy
    carrier: str | None = None  # when busy: the queue message whose delivery holds the claim
    status: str | None = None  # the record's status, when done
    announced: bool = True  # when done: False if its outcome was recorded but never announced
    # When claimed: a cancel was requested while an earlier attempt ran (its worker died, or
    # it was handed back): the claimant records the job CANCELLED rather than run it.
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """What ``JobStore.cancel`` did, in one conditional write (or none).

    ``cancelled``: the job was queued (no record) or RETRYING and is now CANCELLED, its
    event unannounced: the caller announces it, then marks it announced. ``requested``: it is
    RUNNING; its attempt is flagged and stops at its next renewal or progress write (whoever
    records CANCELLED announces). ``finished``: it had already ended (``status``: COMPLETED,
    FAILED or CANCELLED); nothing written."""

    outcome: Literal["cancelled", "requested", "finished"]
    status: str | None = None  # the record's status before the cancel; None: no record
    attempt: int = 0  # the record's attempts (0: never claimed)


class JobStore(Protocol):
    async def claim(
        self, job_id: str, request: JobRequest, lease_seconds: float, carrier: str
    ) -> Claim:
        """Claim the job for the delivery of message ``carrier``."""
        ...

    # Writes after a claim are fenced by its attempt number: each returns False, and writes
    # nothing, when the job is no longer this claim's to write (its lease lapsed and another
    # worker took it over).

    # renew and progress also carry "no cancel requested": once a cancel flagged the job,
    # they raise JobCancelled (the attempt learns it with no polling of its own).

    async def renew(self, job_id: str, lease_seconds: float, attempt: int) -> bool: ...

    async def release(self, job_id: str, attempt: int) -> bool:
        """Give the job back unfinished (the worker is stopping): RETRYING with no lease, so
        the next delivery claims it at once."""
        ...

    async def progress(self, job_id: str, progress: ProgressUpdate, attempt: int) -> bool:
        """The running attempt's latest progress (phase, percent, speed, ETA)."""
        ...

    async def complete(self, job_id: str, result: JobResult) -> bool:
        """Fenced by ``result.attempt``."""
        ...

    async def fail(
        self, job_id: str, error: RecordedError, *, final: bool, attempt: int | None
    ) -> bool:
        """``attempt=None``: a failure before any claim; refused over a finished or running
        job (a duplicate delivery must not turn COMPLETED into FAILED)."""
        ...

    async def give_up(
        self, job_id: str, request: JobRequest, error: RecordedError, carrier: str
    ) -> bool:
        """The job's message ``carrier`` was dead-lettered: FAILED with ``error`` (retryable,
        so a redriven message claims it again), unannounced, in one conditional write, when
        nothing else will finish it: no record, or RETRYING, or RUNNING with a lapsed lease,
        last claimed by ``carrier`` (or by no message). False, and nothing written, otherwise
        (finished, leased, or carried by another message)."""
        ...

    async def record_delivery(self, job_id: str, delivery: WebhookDelivery) -> None:
        """Append one webhook delivery's outcome to the job's record (not fenced: deliveries
        finish after the job does); nothing when the job has no record."""
        ...

    async def mark_announced(self, job_id: str) -> None:
        """The terminal event went out; later deliveries need not announce it again."""
        ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def schedule(self, job_id: str, request: JobRequest, not_before: datetime) -> None:
        """Record the job as SCHEDULED for ``not_before`` when it has no record yet (a
        claim takes a SCHEDULED job like a new one); nothing otherwise."""
        ...

    async def cancel(self, job_id: str) -> CancelAnswer:
        """Cancel the job in whatever state it is (see :class:`CancelAnswer`); harmless when
        repeated."""
        ...

    async def record_cancelled(self, job_id: str, attempt: int) -> bool:
        """The attempt stopped for a cancel: CANCELLED, unannounced; fenced by ``attempt``
        (whoever writes it announces ``job.cancelled``)."""
        ...


class DeadLetterQueue(Protocol):
    """The jobs queue's dead-letter queue, read without taking it apart."""

    async def visit(self, limit: int, visitor: Callable[[QueueMessage], Awaitable[None]]) -> int:
        """Hand up to ``limit`` dead letters, one at a time, to ``visitor`` while they are
        hidden from other readers; each stays in the queue, visible again once its page is
        visited. How many were visited."""
        ...


class EventPublisher(Protocol):
    async def publish(self, event: CloudEvent) -> None: ...


class WebhookSender(Protocol):
    def send(self, event: CloudEvent, targets: Sequence[WebhookTarget]) -> None:
        """Deliver ``event`` to ``targets`` (the job's own endpoints) and the deployment's, in
        the background: it never raises and never waits for a delivery."""
        ...


class MediaTool(Protocol):
    async def probe(self, path: Path, guard: InputGuard) -> ProbeDoc:
        """ffprobe's JSON as a typed :class:`ProbeDoc`, read under ``guard`` (demuxers,
        decoders, caps); raise InvalidMedia when ffprobe cannot read the file, or an
        UnsupportedMedia (a refused container or codec, a picture over the cap, too many
        streams) when the guard refused it."""
        ...

    async def transcode(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> None:  # fmt: skip
        """Run ffmpeg under ``limits``; raise a classified FfapiError on failure.
        ``progress`` is called with each of ffmpeg's progress reports while it runs."""
        ...

    async def measure(
        self, argv: Sequence[str], cwd: Path, timeout: float,
        progress: Callable[[EncodeProgress], None] | None = None,
        limits: ResourceLimits = NO_LIMITS,
    ) -> str:  # fmt: skip
        """Run ffmpeg for what it prints (a measuring filter's report, at ``-loglevel
        info``): the tail of its log; a failure raises as :meth:`transcode` does."""
        ...

    async def packets(
        self, parts: Sequence[Path], formats: tuple[str, ...], stream: Literal["v", "a"],
        on_packet: Callable[[Packet], None],
    ) -> None:  # fmt: skip
        """Hand over every packet of the file's first video (``v``) or audio (``a``) stream
        as ffprobe reads it (without decoding): pts, duration, keyframe flag, byte offset.
        The file is in ``parts`` (an init segment, then media segments: one directory,
        ``core.media.plan.reads_as_one`` of their names) read one after another, in place; the
        offset counts from the first part's start. None is kept: a long rendition has
        hundreds of thousands."""
        ...


class Accelerator(Protocol):
    """The machine's accelerator tiers, as one worker sees them (its probe, its GPU slots,
    its circuit breaker)."""

    def session(self) -> AbstractAsyncContextManager[tuple[TierChoice, ...]]:
        """The tiers one job may use, best first and ending with the CPU; a GPU slot is held
        until the session ends. The CPU alone when the breaker is open or every slot is
        taken."""
        ...

    def failed(self, tier: AccelTier, reason: str) -> None:
        """A GPU-class failure on ``tier``: counted, and fed to the circuit breaker."""
        ...

    def succeeded(self, tier: AccelTier) -> None: ...


class TaskProtection(Protocol):
    """The task's scale-in protection (ECS): while on, a scale-in or a deployment does not
    stop this task. Each call answers whether the agent accepted it; a refusal or an
    unreachable agent is False, never an exception (the job goes on either way)."""

    async def protect(self, expires_minutes: int) -> bool:
        """On, for ``expires_minutes`` from now (1..2880); a renewal is the same call."""
        ...

    async def release(self) -> bool: ...


class LocalFiles(Protocol):
    """The job directory's files, for the steps between ffmpeg and the upload."""

    async def read_text(self, path: Path) -> str: ...

    async def write_text(self, path: Path, text: str) -> None: ...

    async def read_bytes(self, path: Path) -> bytes: ...

    async def write_bytes(self, path: Path, data: bytes) -> None: ...

    async def sizes(self, root: Path) -> dict[str, int]:
        """Every file under ``root`` by its path relative to it."""
        ...

    async def concat(self, parts: Sequence[Path], dest: Path) -> list[int]:
        """Write the parts one after another into ``dest``; return where each starts."""
        ...

    async def make_dirs(self, root: Path, names: Sequence[str]) -> None: ...

    async def remove(self, path: Path) -> None: ...

    async def clear(self, root: Path) -> None:
        """Remove everything under ``root``, keeping ``root`` itself."""
        ...


@dataclass(frozen=True, slots=True)
class JobDir:
    """A fresh private directory for one job attempt; the names are ours, never the key's."""

    root: Path
    source: Path  # where the input is downloaded
    out: Path  # where ffmpeg writes; created empty


class Workspace(Protocol):
    def job_dir(
        self, job_id: str, reserve_bytes: int | None = None
    ) -> AbstractAsyncContextManager[JobDir]:
        """Create the job's directory and remove it, whatever happens, afterwards.

        ``reserve_bytes`` is the input's size: with too little free disk for it (and what is
        made from it) the directory is refused with InsufficientDisk, before anything is
        created or downloaded. None: the size is unknown, nothing is checked."""
        ...


@dataclass(frozen=True, slots=True)
class ConfigText:
    """The configuration document as read, with its version (an ETag, or a file's stamp)."""

    text: str
    version: str


class ConfigReader(Protocol):
    """Where the configuration document lives (``FFAPI_CONFIG``: an S3 object or a file)."""

    async def read(self, unless: str | None = None) -> ConfigText | None:
        """The document; None when its version is still ``unless`` (a conditional GET).
        Raises ConfigError when it is missing or cannot be read."""
        ...


class JobSender(Protocol):
    """Where a batch's jobs are sent: the queue of each job's priority class (the jobs queue
    for ``normal``, core.jobs.priority)."""

    async def send_job(self, body: str, priority: Priority) -> str:
        """Enqueue one job's request; its message id."""
        ...


class BatchStore(Protocol):
    """Batch records (:class:`core.jobs.batch_model.BatchRecord`): the plan, written once,
    and each job's ending, kept as sets of job ids so that recording one twice is harmless."""

    async def create(self, plan: BatchPlan) -> bool:
        """Write the record, only if there is none under ``plan.key`` (one conditional
        write); False when there is."""
        ...

    async def get(self, key: str) -> BatchRecord | None: ...

    async def mark_fanned_out(self, key: str) -> None:
        """Every job without parents was sent: a resent batch need not send them again."""
        ...

    async def record_end(self, key: str, job_id: str, ending: Ending) -> BatchRecord | None:
        """Add ``job_id`` to the ``ending`` set (COMPLETED takes it out of FAILED: a failed
        job redriven from the DLQ); the record as this write left it. None, and nothing
        written, when there is no such batch or the job is not one of its."""
        ...

    async def claim_announcement(self, key: str, job_id: str) -> bool:
        """Take the right to announce the batch's end, for the ending of ``job_id``: True
        when nobody holds it, or ``job_id`` does and it was not announced yet (a redelivery
        of the job that took it). One conditional write."""
        ...

    async def mark_announced(self, key: str) -> None: ...
