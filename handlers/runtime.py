"""The composition root: settings + AWS clients -> a ready Dispatcher and the jobs queue.

Also the dead-letter sweep (unless FFAPI_DLQ_SWEEP_SECONDS=0), the job store, the
accelerator (Lambda: the CPU tier only, no probe), ECS scale-in protection (where there is a
queue of our own), and the webhooks, drained on leaving: a grace for the worker, up to the
webhook deadline for Lambda, until done for a command.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from core.attempt.chunk_media import RangeChunkMedia
from core.attempt.chunk_run import ChunkedRunner, ChunkRun
from core.attempt.limits import PipelineLimits
from core.attempt.pipeline import JobPipeline
from core.jobs.batches import BatchPorts
from core.jobs.chunk_fanout import ChunkFanOut, SplitCheck
from core.jobs.config_reload import ConfigReloader
from core.jobs.dispatch import Dispatcher
from core.jobs.dispatch_settings import DispatchSettings
from core.jobs.dlq_sweep import DeadLetterSweep
from core.jobs.priority import PriorityQueues, WeightedTurns
from core.jobs.scale_in import ScaleInGuard
from core.media.fallback import CpuOnly
from core.models import Priority
from core.ports import Accelerator, Queue
from handlers.live_config import LiveConfig, open_live_config
from infra.accel import AccelConfig, GpuAccelerator
from infra.aws import AwsClients, open_clients
from infra.batch_sender import QueueSender
from infra.batchstore import DynamoBatchStore
from infra.capabilities import ffmpeg_encoders, probe_capabilities
from infra.dead_letters import SweptDeadLetters
from infra.ffmpeg import FfmpegMedia
from infra.jobstore import DynamoJobStore
from infra.notify import SnsPublisher
from infra.queue import SqsQueue
from infra.setting_groups import EncodeSettings
from infra.settings import Settings
from infra.source_copies import LinkedSourceCopies
from infra.source_index import Mp4SourceIndex
from infra.storage import S3ObjectStore
from infra.task_protection import open_task_protection
from infra.topic import EventsTopic, events_topic_arn
from infra.webhooks import WebhookDispatcher, open_webhooks
from infra.workspace import LocalDiskFiles, LocalWorkspace


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    clients: AwsClients
    dispatcher: Dispatcher
    queue: SqsQueue | None  # None in Lambda, where the event source mapping owns the queue
    jobs: DynamoJobStore
    accel: GpuAccelerator | None  # None where only the CPU runs jobs (Lambda)
    hooks: WebhookDispatcher
    sweep: DeadLetterSweep | None = None  # None: FFAPI_DLQ_SWEEP_SECONDS=0
    config: LiveConfig | None = None  # None: no FFAPI_CONFIG, the settings' presets and rule
    # The high, normal (``queue``) and low queues polled by weight; None: the jobs queue alone.
    lanes: PriorityQueues | None = None


def accelerator(settings: EncodeSettings) -> GpuAccelerator:
    config = AccelConfig(
        mode=settings.accel,
        jobs_per_device=settings.gpu_jobs_per_device,
        breaker_failures=settings.gpu_breaker_failures,
        breaker_window=settings.gpu_breaker_window,
        breaker_cooldown=settings.gpu_breaker_cooldown,
    )
    return GpuAccelerator(config, probe_capabilities)


def workspace(settings: EncodeSettings) -> LocalWorkspace:
    return LocalWorkspace(settings.temp_dir, settings.disk_headroom_factor)


@asynccontextmanager
async def open_runtime(
    settings: Settings, with_queue: bool = True, gpu: bool = True,
    *, webhook_grace: float | None = 10.0, warm_config: ConfigReloader | None = None,
) -> AsyncIterator[Runtime]:  # fmt: skip
    """``gpu=False``: the CPU tier only, without a probe (Lambda has no GPU).
    ``webhook_grace``: seconds webhook deliveries still in flight get on leaving (None: until
    they finish, as a one-shot command that sends events wants). ``warm_config``: the live
    configuration of an earlier Lambda invocation (handlers.live_config)."""
    presets = settings.presets()  # before any client: a bad presets file stops us here
    events_topic = EventsTopic.parse(settings.events_topic, settings.region)  # and a bad topic
    async with open_clients(settings) as clients, AsyncExitStack() as scope:
        objects = S3ObjectStore(clients.s3, settings.transfer_concurrency)
        # Before any job: a missing or invalid configuration document stops us here.
        live = await open_live_config(settings, presets, clients.s3, warm_config)
        jobs = DynamoJobStore(
            clients.dynamodb, settings.jobs_table, keep_days=settings.job_record_days
        )
        # Left before the clients close: a delivery's outcome is written to the job store.
        hooks = await scope.enter_async_context(open_webhooks(settings, jobs, webhook_grace))
        queue = await SqsQueue.open(clients.sqs, settings.jobs_queue) if with_queue else None
        lanes = await open_lanes(clients, settings, queue) if queue is not None else None
        topic = await events_topic_arn(
            clients.sqs, events_topic, queue.url if queue else settings.jobs_queue
        )
        events = SnsPublisher(clients.sns, topic)
        limits = PipelineLimits(
            transcode_timeout=float(settings.transcode_timeout),
            media=settings.media_limits(),
            resources=settings.ffmpeg_limits(),
            upload_concurrency=settings.transfer_concurrency,
            progress_interval=settings.progress_interval,
            progress_step=settings.progress_step,
            encoders=await ffmpeg_encoders(),
        )
        accel = accelerator(settings) if gpu else None
        tiers: Accelerator = accel or CpuOnly()
        media = FfmpegMedia(settings.stall_seconds, settings.probe_limits())
        # A long job's chunks go out on the jobs queues (core.jobs.chunks), as a batch's jobs.
        sender = QueueSender(clients.sqs, job_lanes(settings))
        # the split job's input, kept for its chunks that land here (one per job slot)
        copies = LinkedSourceCopies(workspace(settings).parent, settings.worker_concurrency)
        scope.callback(copies.close)
        index = Mp4SourceIndex(objects)  # a chunk's part of the input; a split parent's head
        split = SplitCheck(ChunkFanOut(jobs, sender), settings.split_above_seconds,
                           settings.split_chunk_seconds, copies, index)  # fmt: skip
        pipeline = ChunkedRunner(
            JobPipeline(
                objects=objects, media=media, files=LocalDiskFiles(), limits=limits, now=utcnow,
                accel=tiers, split=split,
            ),
            ChunkRun(objects, jobs, RangeChunkMedia(objects, media, LocalDiskFiles(), limits,
                     time.monotonic, copies, objects), utcnow, settings.transfer_concurrency),
        )  # fmt: skip
        dispatch = DispatchSettings(
            intake=settings.intake,
            presets=presets,
            lease_seconds=settings.lease_seconds,
            max_receive_count=settings.max_receive_count,
            stall_seconds=settings.stall_seconds,
            # The container worker's heartbeat keeps a waiting delivery's message hidden;
            # Lambda's poller does not (core.jobs.lease_wait).
            busy_wait_seconds=float(settings.lease_seconds) if with_queue else 0.0,
            config=live.in_force if live else None,
            schedule_lead=settings.schedule_lead_seconds,
            ledger_seconds=settings.ledger_seconds,
        )
        protection = None  # Lambda (no queue of its own) is never an ECS task
        if with_queue:
            protection = await scope.enter_async_context(open_task_protection())
        scale_in = ScaleInGuard(protection, settings.lease_seconds)
        # A batch's jobs go out on the jobs queue (Lambda too: it sends, the mapping reads).
        batches = BatchPorts(DynamoBatchStore(clients.dynamodb, settings.jobs_table), sender)
        dispatcher = Dispatcher(
            settings=dispatch, objects=objects, jobs=jobs, events=events,
            workspace=workspace(settings), pipeline=pipeline, now=utcnow, hooks=hooks,
            scale_in=scale_in, batches=batches,
        )  # fmt: skip
        sweep = None  # the worker runs it every FFAPI_DLQ_SWEEP_SECONDS; Lambda on a schedule
        if settings.dlq_sweep_seconds > 0:
            sweep = DeadLetterSweep(
                dispatch, objects, jobs, SweptDeadLetters(clients.sqs, settings),
                dispatcher.reannounce,
            )  # fmt: skip
        yield Runtime(settings, clients, dispatcher, queue, jobs, accel, hooks, sweep, live, lanes)


async def open_lanes(
    clients: AwsClients, settings: Settings, normal: SqsQueue
) -> PriorityQueues | None:
    """The priority queues (``core.jobs.priority``) around the jobs queue, the normal one;
    None with FFAPI_PRIORITY_QUEUES=false. A missing queue stops the worker here, as the jobs
    queue's does: jobs sent to it would otherwise never run."""
    if not settings.priority_queues:
        return None
    names = settings.lane_names()
    lanes: dict[Priority, Queue] = {"normal": normal}
    for lane in ("high", "low"):
        lanes[lane] = await SqsQueue.open(clients.sqs, names[lane])
    turns = WeightedTurns(settings.lane_weights())
    return PriorityQueues(lanes, turns, settings.priority_poll_seconds)


def job_lanes(settings: Settings) -> dict[Priority, str]:
    """Where a job of each priority class is sent (the jobs queue for all three when the
    priority queues are off)."""
    return settings.job_lanes()
