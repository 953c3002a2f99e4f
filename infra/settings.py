"""Runtime settings from ``FFAPI_*`` environment variables.

AWS endpoints are deliberately absent: boto3 reads the standard ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` variables, so one build talks to AWS, LocalStack or moto.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.accel import AccelMode
from core.admission import AdmissionPolicy
from core.destinations import DestinationPolicy, webhook_url_problem
from core.hardening import DEFAULT_CODECS, DEFAULT_MAX_PIXELS, ResourceLimits
from core.models import OutputLocation
from core.preflight import MediaLimits
from core.presets import PresetCatalog, PresetFileError
from core.watch import IntakeConfig, WatchRule
from core.webhooks import WebhookEndpoint, WebhookSecret
from infra.ffmpeg import PROBE_TIMEOUT
from infra.tools import ToolPaths, resolve_tools

# ffprobe's codec names: they go into ffmpeg's -codec_whitelist, joined by commas.
CodecName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FFAPI_", extra="ignore")

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
    preset: str | None = Field(
        default=None,
        description="preset of watched uploads and of requests naming none (default: the "
        "catalog's default)",
    )
    presets_file: Path | None = Field(
        default=None, description="TOML presets read over the shipped ones (core/presets.toml)"
    )
    jobs_queue: str = "ffapi-jobs"
    dead_letter_queue: str = "ffapi-jobs-dlq"
    max_receive_count: int = Field(default=3, ge=1, le=1000)
    events_topic: str = "ffapi-events"
    jobs_table: str = "ffapi-jobs"
    job_record_days: int = Field(
        default=90, ge=0, le=36500,
        description="days a finished job's record is kept (its expires_at, the table's TTL "
        "attribute); 0: kept for ever",
    )  # fmt: skip
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    temp_dir: Path | None = Field(default=None, description="parent of per-job directories")
    disk_headroom_factor: float = Field(
        default=3.0, ge=1.0,
        description="free disk a job needs before its download, in multiples of the input's "
        "size (the input, the outputs, scratch); short: retried, another worker may have room",
    )  # fmt: skip
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
    transcode_timeout: int = Field(default=3600, ge=10)
    ffmpeg: str = Field(
        default="", description="the ffmpeg that runs: a path (or a name looked up on PATH), "
        "resolved once at start; empty: the first ffmpeg on PATH at start",
    )  # fmt: skip
    ffprobe: str = Field(default="", description="the ffprobe that runs, as FFAPI_FFMPEG")
    stall_seconds: float = Field(
        default=120.0, gt=0,
        description="an encode whose encoded time has not advanced this long is killed and "
        "retried (stalled); a job showing no life this long lets its message and lease lapse "
        "for another worker",
    )  # fmt: skip
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
        "(default: core/hardening.py DEFAULT_CODECS)",
    )  # fmt: skip
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
    transfer_concurrency: int = Field(default=8, ge=1, le=64)
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
    progress_interval: float = Field(
        default=5.0, ge=0, description="seconds between a job's progress events, at least"
    )
    progress_step: float = Field(
        default=5.0, ge=0, le=100, description="percent between a job's progress events, at least"
    )
    http_port: int = Field(
        default=0, ge=0, le=65535,
        description="serve /healthz, /readyz and /metrics here (0: off)",
    )  # fmt: skip
    ready_min_free_mb: int = Field(
        default=1024, ge=0, description="/readyz fails below this much free disk for job dirs"
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
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    submit_prefix: str = Field(
        default="submitted/",
        description="`ffapi submit FILE` uploads under this input-bucket prefix; it must not be "
        "watched (the submitted request is the job, not the upload)",
    )

    @model_validator(mode="after")
    def _outputs_are_not_watched(self) -> Settings:
        if self.intake.watches(self.output_location):
            raise ValueError(
                f"outputs under s3://{self.output_bucket}/{self.output_prefix} would land in the "
                f"watched prefix s3://{self.input_bucket}/{self.watch_prefix} and start new jobs"
            )
        return self

    @model_validator(mode="after")
    def _endpoints_are_allowed(self) -> Settings:
        # Refused where configured, as a bad secret is, rather than at every delivery.
        policy = DestinationPolicy(
            allow_loopback=self.webhook_allow_loopback,
            allow_private=self.webhook_endpoints_allow_private,
        )
        for endpoint in self.webhook_endpoints:
            if problem := webhook_url_problem(endpoint.url, policy=policy):
                raise ValueError(f"FFAPI_WEBHOOK_ENDPOINTS: {problem}")
        return self

    @property
    def output_location(self) -> OutputLocation:
        return OutputLocation(bucket=self.output_bucket, prefix=self.output_prefix)

    @property
    def intake(self) -> IntakeConfig:
        rule = WatchRule(
            bucket=self.input_bucket,
            prefix=self.watch_prefix,
            preset=self.preset,
            output=self.output_location,
        )
        policy = AdmissionPolicy(
            input_buckets=frozenset([self.input_bucket, *self.allowed_input_buckets]),
            output_buckets=frozenset([self.output_bucket, *self.allowed_output_buckets]),
            output_root=self.output_prefix,
            webhook_loopback=self.webhook_allow_loopback,
        )
        return IntakeConfig(rules=(rule,), default_output=self.output_location, policy=policy)

    def tools(self) -> ToolPaths:
        """ffmpeg and ffprobe as absolute paths, resolved now (MissingBinary if one is not)."""
        return resolve_tools(self.ffmpeg, self.ffprobe)

    def presets(self) -> PresetCatalog:
        """The catalog in force; raises PresetFileError (and so stops the worker) when the
        file is unusable or the watched uploads' preset is not in it."""
        from infra.presets import load_presets  # settings stay importable without a file

        catalog = load_presets(self.presets_file)
        if not self.preset:
            return catalog
        if catalog.get(self.preset) is None:
            raise PresetFileError(f"FFAPI_PRESET names an unknown preset {self.preset!r}")
        # One default for the deployment: watched uploads and requests that name no preset.
        return catalog.model_copy(update={"default": self.preset})

    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_input_bytes=self.max_input_bytes,
            max_duration_seconds=self.max_duration_seconds,
            max_width=self.max_frame_width, max_height=self.max_frame_height,
            max_pixels=self.max_frame_pixels, max_fps=self.max_frame_rate,
            max_streams=self.max_streams, max_attachments=self.max_attachment_streams,
            max_data_streams=self.max_data_streams, codecs=tuple(self.allowed_codecs),
        )  # fmt: skip

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

    @property
    def lease_seconds(self) -> int:
        # Renewed every third of its length while the job runs: a crashed worker's job can be
        # taken over this soon after, and a duplicate delivery waits no longer than this.
        return self.visibility_timeout


def settings_environment(settings: Settings, *, only_set: bool = False) -> dict[str, str]:
    """The ``FFAPI_*`` variables that give another process these settings: lists and tables
    as JSON (as pydantic-settings reads them), secrets revealed (the child needs them)."""
    values = settings.model_dump(exclude_none=True, exclude_unset=only_set)
    return {f"FFAPI_{name.upper()}": environment_text(value) for name, value in values.items()}


def environment_text(value: object) -> str:
    """One setting's value as its ``FFAPI_*`` variable holds it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=_revealed)
    return str(value)


def _revealed(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no environment form")
