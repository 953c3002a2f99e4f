"""The settings, by concern: each adapter and policy takes the part it needs. ``Settings``
(``infra.settings``) is all of them, read from one set of ``FFAPI_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.events.webhooks import WebhookEndpoint, WebhookSecret
from core.jobs.consumer import ConsumerPolicy
from core.media.accel import AccelMode
from core.media.hardening import DEFAULT_CODECS, DEFAULT_MAX_PIXELS, ResourceLimits
from core.media.preflight import MediaLimits
from core.models import OutputLocation, Priority
from infra.ffmpeg import PROBE_TIMEOUT
from infra.tools import ToolPaths, resolve_tools

ENVIRONMENT = SettingsConfigDict(env_prefix="FFAPI_", extra="ignore")
# ffprobe's codec names: they go into ffmpeg's -codec_whitelist, joined by commas.
CodecName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]


class StorageSettings(BaseSettings):
    """Where inputs come from and outputs go."""

    model_config = ENVIRONMENT
    region: str = Field(default="us-east-1", description="AWS region of every resource")
    input_bucket: str = "ffapi-input"
    output_bucket: str = "ffapi-output"
    watch_prefix: str = Field(default="incoming/", description="uploads here become jobs")
    output_prefix: str = Field(
        default="outputs", description="every job's outputs go under this prefix; a request "
        "may name a prefix below it, never outside (forbidden_prefix)",
    )  # fmt: skip
    allowed_input_buckets: list[str] = Field(
        default_factory=list,
        description="JSON list of buckets a job request may read from, besides the input "
        'bucket, e.g. ["media-uploads"]; any other is refused (forbidden_bucket)',
    )
    allowed_output_buckets: list[str] = Field(
        default_factory=list,
        description="JSON list of buckets a job request may write to, besides the output "
        "bucket (forbidden_bucket)",
    )
    transfer_concurrency: int = Field(default=8, ge=1, le=64)
    submit_prefix: str = Field(
        default="submitted/",
        description="`ffapi submit FILE` uploads under this input-bucket prefix; it must not be "
        "watched (the submitted request is the job, not the upload)",
    )
    output_retention_days: int = Field(
        default=0, ge=0, le=36500,
        description="days a job's package under the output prefix is kept (the bucket's "
        "lifecycle rule, or `ffapi prune`); 0: for ever",
    )  # fmt: skip
    input_retention_days: int = Field(
        default=0, ge=0, le=36500,
        description="days an upload under the watch prefix is kept (the bucket's lifecycle "
        "rule, or `ffapi prune`); 0: for ever",
    )  # fmt: skip

    @property
    def output_location(self) -> OutputLocation:
        return OutputLocation(bucket=self.output_bucket, prefix=self.output_prefix)


class QueueSettings(BaseSettings):
    """The jobs queue and the consumer loop's policy."""

    model_config = ENVIRONMENT
    jobs_queue: str = "ffapi-jobs"
    dead_letter_queue: str = "ffapi-jobs-dlq"
    max_receive_count: int = Field(default=3, ge=1, le=1000)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    visibility_timeout: int = Field(default=120, ge=10, le=43200)
    wait_time_seconds: int = Field(default=20, ge=0, le=20)
    retry_backoff_base: float = Field(
        default=5.0, ge=0, description="seconds; a transient failure waits base*2^n, jittered"
    )
    drain_seconds: float = Field(
        default=25.0, ge=0,
        description="on SIGTERM/SIGINT, seconds running jobs may finish in; then they are "
        "stopped and handed back to the queue (ECS kills 30 s after SIGTERM by default)",
    )  # fmt: skip
    stall_seconds: float = Field(
        default=120.0, gt=0,
        description="an encode whose encoded time has not advanced this long is killed and "
        "retried (stalled); a job showing no life this long lets its message and lease lapse "
        "for another worker",
    )  # fmt: skip

    ledger_seconds: float = Field(
        default=15.0, ge=0,
        description="at least this long between writes of a job's segment ledger (which "
        "segments are in the bucket: a retry after a lost worker resumes from them); 0: a "
        "write per row of segments",
    )  # fmt: skip

    dlq_sweep_seconds: float = Field(
        default=300.0, ge=0,
        description="how often a container worker sweeps the DLQ for jobs dead-lettered with no "
        "outcome announced (their workers died on every delivery) and fails them as "
        "max_attempts; 0: never",
    )  # fmt: skip

    high_queue: str = Field(
        default="", description="the high-priority queue (name or URL); empty: "
        "FFAPI_JOBS_QUEUE + '-high'",
    )  # fmt: skip
    low_queue: str = Field(
        default="", description="the low-priority queue; empty: FFAPI_JOBS_QUEUE + '-low'"
    )
    priority_queues: bool = Field(
        default=True, description="poll the high and low queues beside the jobs queue "
        "(core.jobs.priority); false: the jobs queue alone",
    )  # fmt: skip
    priority_weights: Annotated[
        str, StringConstraints(pattern=r"^[1-9][0-9]?:[1-9][0-9]?:[1-9][0-9]?$")
    ] = Field(
        default="4:2:1", description="high:normal:low share of receive turns, each 1-99: any "
        "sum-of-them consecutive turns give each queue its share (none is starved)",
    )  # fmt: skip
    priority_poll_seconds: int = Field(
        default=1, ge=1, le=20,
        description="long-poll seconds of each queue in an idle worker's race "
        "(with priority queues)",
    )  # fmt: skip
    schedule_lead_seconds: float = Field(
        default=5.0, ge=1, le=60,
        description="a job with not_before comes back this long before its time and is held "
        "by the worker until then",
    )  # fmt: skip

    def lane_names(self) -> dict[Priority, str]:
        """The queue of each priority class (core.jobs.priority)."""
        return {
            "high": self.high_queue or f"{self.jobs_queue}-high",
            "normal": self.jobs_queue,
            "low": self.low_queue or f"{self.jobs_queue}-low",
        }

    def job_lanes(self) -> dict[Priority, str]:
        """Where a job of each class is sent: its class's queue, or the jobs queue for all
        three with FFAPI_PRIORITY_QUEUES=false (the only one polled then)."""
        if self.priority_queues:
            return self.lane_names()
        return {lane: self.jobs_queue for lane in self.lane_names()}

    def lane_weights(self) -> dict[Priority, int]:
        high, normal, low = (int(w) for w in self.priority_weights.split(":"))
        return {"high": high, "normal": normal, "low": low}

    @property
    def lease_seconds(self) -> int:
        # Renewed every third of its length while the job runs: a crashed worker's job can be
        # taken over this soon after, and a duplicate delivery waits no longer than this.
        return self.visibility_timeout

    def consumer_policy(self, concurrency: int | None = None) -> ConsumerPolicy:
        return ConsumerPolicy(
            concurrency=concurrency or self.worker_concurrency,
            visibility=self.visibility_timeout, wait=self.wait_time_seconds,
            backoff_base=self.retry_backoff_base, drain=self.drain_seconds,
            stall=self.stall_seconds,
        )  # fmt: skip


class EncodeSettings(BaseSettings):
    """ffmpeg, its limits, the job directories and the accelerator."""

    model_config = ENVIRONMENT
    preset: str | None = Field(
        default=None,
        description="preset of watched uploads and of requests naming none (default: the "
        "catalog's default)",
    )
    presets_file: Path | None = Field(
        default=None, description="TOML presets read over the shipped ones (core/presets.toml)"
    )
    config: str | None = Field(
        default=None,
        description="the configuration document (presets and watch rules): s3://bucket/key "
        "or a local path; reloaded when it changes; missing or invalid, the worker stops at start",
    )
    config_check_seconds: float = Field(
        default=30.0, gt=0, description="seconds between checks of FFAPI_CONFIG's ETag (and on "
        "SIGHUP); Lambda checks at most this often, between invocations",
    )  # fmt: skip
    temp_dir: Path | None = Field(default=None, description="parent of per-job directories")
    disk_headroom_factor: float = Field(
        default=3.0, ge=1.0,
        description="free disk a job needs before its download, in multiples of the input's "
        "size (the input, the outputs, scratch); short: retried, another worker may have room",
    )  # fmt: skip
    transcode_timeout: int = Field(default=3600, ge=10)
    split_above_seconds: float = Field(
        default=600.0, ge=0,
        description="a streaming CMAF job whose picture is longer is split into chunk "
        "sub-jobs any worker takes (core/jobs/chunks.py); 0: only when its request says "
        "split: true",
    )  # fmt: skip
    split_chunk_seconds: float = Field(
        default=60.0, gt=0,
        description="a split job's chunk length, in whole segments (rounded to the grid)",
    )  # fmt: skip
    ffmpeg: str = Field(
        default="", description="the ffmpeg that runs: a path (or a name looked up on PATH), "
        "resolved once at start; empty: the first ffmpeg on PATH at start",
    )  # fmt: skip
    ffprobe: str = Field(default="", description="the ffprobe that runs, as FFAPI_FFMPEG")
    ffmpeg_memory_mb: int = Field(
        default=0, ge=0,
        description="address space (RLIMIT_AS) of each CPU-tier ffmpeg/ffprobe; over it: "
        "memory_limit. 0: 2048 + 512 per core the worker may use",
    )  # fmt: skip
    ffmpeg_max_file_mb: int = Field(
        default=16384,
        ge=1,
        description="largest file ffmpeg may write (RLIMIT_FSIZE); over it: output_too_large",
    )
    accel: AccelMode = Field(
        default="auto",
        description="accelerator tier: auto (the best that passed its test encode), or force "
        "gpu, gpu-decode or cpu (a forced GPU tier still falls back on a GPU-class failure)",
    )
    gpu_jobs_per_device: int = Field(
        default=2, ge=1, le=64,
        description="jobs holding one GPU at once (consumer cards cap NVENC sessions); a job "
        "that finds every slot taken runs on the CPU",
    )  # fmt: skip
    gpu_breaker_failures: int = Field(default=3, ge=1, description="GPU-class failures that...")
    gpu_breaker_window: float = Field(default=300.0, gt=0, description="...within these seconds")
    gpu_breaker_cooldown: float = Field(
        default=600.0, gt=0, description="...keep jobs off the GPU this long, then re-probe"
    )

    def tools(self) -> ToolPaths:
        """ffmpeg and ffprobe as absolute paths, resolved now (MissingBinary if one is not)."""
        return resolve_tools(self.ffmpeg, self.ffprobe)

    def ffmpeg_limits(self, seconds: float | None = None) -> ResourceLimits:
        """Kernel limits of one ffmpeg run of at most ``seconds`` (the transcode timeout).

        CPU time: the wall-clock budget times the cores it may use, so it never stops a run
        the timeout would let finish; it holds when the worker's own kill does not come (a
        frozen or stopped worker). Memory: 4K HEVC in, x264 out measured about 1.9-2.1 GiB
        of address space at 2-3 threads here, and about 250 MiB more per thread (32
        threads: 9.6 GiB); ffmpeg starts a thread or two per core."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        budget = self.transcode_timeout if seconds is None else seconds
        memory_mb = self.ffmpeg_memory_mb or 2048 + 512 * cores
        return ResourceLimits(
            cpu_seconds=max(1, int(budget * cores)),
            memory_bytes=memory_mb * 1024**2,
            file_bytes=self.ffmpeg_max_file_mb * 1024**2,
        )

    def probe_limits(self) -> ResourceLimits:
        """ffprobe's: the same memory, CPU for its shorter timeout; it writes no file."""
        limits = self.ffmpeg_limits(PROBE_TIMEOUT)
        return ResourceLimits(limits.cpu_seconds, limits.memory_bytes, None)


class LimitSettings(BaseSettings):
    """What an input may be (the intake limits)."""

    model_config = ENVIRONMENT
    max_input_bytes: int = Field(default=10 * 1024**3, ge=1)
    max_duration_seconds: float = Field(
        default=6 * 3600.0, gt=0,
        description="longer inputs (by the duration the file states) fail as input_too_long; "
        "a preset's max_duration_seconds may be stricter",
    )  # fmt: skip
    max_frame_width: int = Field(default=8192, ge=16, description="wider pictures fail as "
                                 "frame_too_large (cover art too)")  # fmt: skip
    max_frame_height: int = Field(default=8192, ge=16, description="...taller ones too")
    max_frame_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        ge=256,
        description="...and larger ones (8192x4320); also ffprobe's and ffmpeg's -max_pixels",
    )
    max_frame_rate: float = Field(
        default=300.0, gt=0, description="faster video fails as frame_rate_too_high"
    )
    max_streams: int = Field(
        default=32, ge=1,
        description="more streams fail as too_many_streams; also ffprobe's and ffmpeg's "
        "-max_streams",
    )  # fmt: skip
    max_attachment_streams: int = Field(
        default=16, ge=0, description="more attachments (fonts) fail as too_many_streams"
    )
    max_data_streams: int = Field(
        default=8, ge=0, description="more data streams (timecode, telemetry) fail likewise"
    )
    allowed_codecs: list[CodecName] = Field(
        default_factory=lambda: list(DEFAULT_CODECS), min_length=1,
        description="JSON list of ffprobe codec names ffprobe/ffmpeg may decode (every stream "
        "ffprobe opens); a job's video or audio off it fails as unsupported_codec "
        "(default: core/media/hardening.py DEFAULT_CODECS)",
    )  # fmt: skip

    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_input_bytes=self.max_input_bytes,
            max_duration_seconds=self.max_duration_seconds,
            max_width=self.max_frame_width, max_height=self.max_frame_height,
            max_pixels=self.max_frame_pixels, max_fps=self.max_frame_rate,
            max_streams=self.max_streams, max_attachments=self.max_attachment_streams,
            max_data_streams=self.max_data_streams, codecs=tuple(self.allowed_codecs),
        )  # fmt: skip


class EventSettings(BaseSettings):
    """Job records, events and webhooks."""

    model_config = ENVIRONMENT
    events_topic: str = "ffapi-events"
    jobs_table: str = "ffapi-jobs"
    job_record_days: int = Field(
        default=90, ge=0, le=36500,
        description="days a finished job's record is kept (its expires_at, the table's TTL "
        "attribute); 0: kept for ever",
    )  # fmt: skip
    progress_interval: float = Field(
        default=5.0, ge=0, description="seconds between a job's progress events, at least"
    )
    progress_step: float = Field(
        default=5.0, ge=0, le=100, description="percent between a job's progress events, at least"
    )
    webhook_endpoints: list[WebhookEndpoint] = Field(
        default_factory=list,
        description='JSON: every job\'s events go here too, e.g. [{"url": "https://...", '
        '"secrets": ["whsec_..."], "events": ["ffapi.job.completed"]}]',
    )
    webhook_secrets: list[WebhookSecret] = Field(
        default_factory=list,
        description="JSON list of whsec_ secrets that sign per-job webhooks; each signs (list "
        "two while rotating)",
    )
    webhook_deadline: float = Field(
        default=600.0, gt=0, description="seconds a webhook delivery is retried, at most"
    )
    webhook_backoff_base: float = Field(
        default=1.0, gt=0, description="seconds; retries wait up to base*2^n, fully jittered"
    )
    webhook_backoff_max: float = Field(default=120.0, gt=0, description="...capped at this")
    webhook_timeout: float = Field(default=10.0, gt=0, description="seconds per webhook POST")
    webhook_allow_loopback: bool = Field(
        default=False,
        description="development only: allows http:// and loopback addresses for webhooks",
    )
    webhook_endpoints_allow_private: bool = Field(
        default=False,
        description="lets FFAPI_WEBHOOK_ENDPOINTS (never a request's own webhooks) reach "
        "private addresses: 10/8, 172.16/12, 192.168/16, fc00::/7",
    )
