"""Prometheus metrics of the worker; served on ``/metrics`` by :mod:`infra.health`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "ffapi_messages_total", "Queue messages handled, by disposition", ["disposition"]
)
JOBS = Counter("ffapi_jobs_total", "Jobs finished, by status", ["status"])
JOB_ERRORS = Counter("ffapi_job_errors_total", "Job failures, by error code", ["code"])
MESSAGE_SECONDS = Histogram(
    "ffapi_message_seconds",
    "Wall-clock seconds to handle one queue message",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
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
