"""Prometheus metrics of the worker; served on ``/metrics`` by :mod:`infra.health`.

The handlers observe them (``core`` never imports prometheus). Bucket boundaries are chosen
for media work: jobs last from seconds (a thumbnail) to hours (a feature-length ladder), so
the duration buckets are roughly logarithmic up to four hours. ``docs/observability.md``
lists every metric with its labels and meaning.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds a whole job may take: a short clip in seconds, a film's ladder in hours.
JOB_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
# One phase: a probe in tenths of a second, an encode or upload in up to an hour.
PHASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Encode speed as a multiple of real time: slow CPU ladders below 1x, NVENC well above 10x.
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
# Queue lag: near zero when workers keep up; minutes to hours when the backlog grows.
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)

MESSAGES = Counter(
    "ffapi_messages_total", "Queue messages handled, by disposition", ["disposition"]
)
JOBS = Counter("ffapi_jobs_total", "Jobs finished, by status and preset", ["status", "preset"])
JOB_ERRORS = Counter("ffapi_job_errors_total", "Job failures, by error code", ["code"])
MESSAGE_SECONDS = Histogram(
    "ffapi_message_seconds",
    "Wall-clock seconds to handle one queue message",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
JOB_SECONDS = Histogram(
    "ffapi_job_duration_seconds",
    "Seconds per job attempt that did work: started to completed for a completed job, the "
    "message's handling time for a failed one",
    ["preset", "status"],
    buckets=JOB_BUCKETS,
)
PHASE_SECONDS = Histogram(
    "ffapi_job_phase_seconds",
    "Seconds per phase of a completed job (download, probe, encode, package, upload)",
    ["phase"],
    buckets=PHASE_BUCKETS,
)
ENCODE_SPEED = Histogram(
    "ffapi_encode_speed_ratio",
    "Seconds of source encoded per second of encode (x real time), by the tier that made it",
    ["tier"],
    buckets=SPEED_BUCKETS,
)
DOWNLOADED_BYTES = Counter(
    "ffapi_downloaded_bytes_total", "Bytes of inputs downloaded by completed jobs"
)
UPLOADED_BYTES = Counter(
    "ffapi_uploaded_bytes_total",
    "Bytes of outputs and rendition segments uploaded by completed jobs (job.json and media "
    "playlists are not counted)",
)
JOBS_IN_FLIGHT = Gauge("ffapi_jobs_in_flight", "Queue messages the worker is handling now")
QUEUE_LAG = Histogram(
    "ffapi_queue_lag_seconds",
    "Seconds from a message being sent to the jobs queue to a worker receiving it",
    buckets=LAG_BUCKETS,
)


ACCEL_FALLBACKS = Counter(
    "ffapi_accel_fallbacks_total",
    "Encodes that left an accelerator tier for the next one, by tier left and reason",
    ["tier", "reason"],
)
BREAKER_OPEN = Gauge(
    "ffapi_accel_breaker_open", "1 while the GPU circuit breaker keeps jobs on the CPU"
)
GPU_JOBS = Gauge("ffapi_gpu_jobs", "Jobs holding a GPU slot now")
WEBHOOK_DELIVERIES = Counter(
    "ffapi_webhook_deliveries_total", "Webhook deliveries, by final outcome", ["outcome"]
)
TASK_PROTECTION_FAILURES = Counter(
    "ffapi_task_protection_failures_total",
    "ECS task scale-in protection calls the agent refused or did not answer (the jobs ran on)",
    ["action"],
)
CONFIG_RELOADS = Counter(
    "ffapi_config_reloads_total",
    "Changes of the configuration document (FFAPI_CONFIG) judged after start, by outcome: "
    "replaced (in force now), refused (invalid or missing: the old stays in force), unreadable "
    "(the store did not answer: checked again)",
    ["outcome"],
)
