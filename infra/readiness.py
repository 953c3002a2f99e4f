"""``/readyz``: may this worker be sent jobs now?

Liveness (``/healthz``) asks whether the process should be restarted; readiness asks whether
it can do work. Each check answers ``ok`` and a ``detail`` a person can act on:

- ``ffmpeg`` / ``ffprobe``: found on the PATH as it is *now* (a mount or image change can take
  them away from a running process; every job resolves them again).
- ``accelerator``: reported, never failing: an open GPU breaker sends jobs to the CPU, which
  still works.
- ``disk``: free space where job directories are made, above ``FFAPI_READY_MIN_FREE_MB``.
- ``queue``: the jobs queue answers a cheap call, within a short timeout; the answer is kept
  for a few seconds so frequent probes (one per target per few seconds) do not add SQS calls.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import FfapiError
from infra.accel import GpuAccelerator
from infra.tools import tools_in_force

MIB = 1024 * 1024
QUEUE_TIMEOUT = 2.0  # seconds: a probe must answer well within the orchestrator's timeout
QUEUE_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: Any  # text, or a small JSON-able dict


Check = Callable[[], Awaitable[CheckResult]]


class Readiness:
    """Named checks run together; ready when every one is ok."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)

    async def report(self) -> tuple[bool, dict[str, Any]]:
        results = await asyncio.gather(*(_guarded(c) for c in self._checks.values()))
        checks = {
            name: {"ok": r.ok, "detail": r.detail}
            for name, r in zip(self._checks, results, strict=True)
        }
        ready = all(r.ok for r in results)
        return ready, {"status": "ready" if ready else "not ready", "checks": checks}


async def _guarded(check: Check) -> CheckResult:
    # A check that breaks makes the worker unready; it must never turn /readyz into a 500.
    try:
        return await check()
    except Exception as exc:
        return CheckResult(False, f"check failed: {type(exc).__name__}: {exc}")


def binary(name: str) -> Check:
    async def check() -> CheckResult:
        path = tools_in_force().executable(name)  # what jobs run: resolved at start
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return CheckResult(True, path)
        return CheckResult(False, f"{path} is gone or not executable")

    return check


def accelerator(accel: GpuAccelerator | None) -> Check:
    async def check() -> CheckResult:
        if accel is None:
            return CheckResult(True, {"tiers": ["cpu"]})
        health = accel.health()
        detail = {
            "tiers": health["tiers"],
            "breaker": health["breaker"]["state"],
            "gpu_jobs": health["gpu_jobs"],
        }
        return CheckResult(True, detail)  # the CPU tier is always there

    return check


def work_dir(temp_dir: Path | None) -> Path:
    """Where job directories are made: FFAPI_TEMP_DIR, else the system's temp dir."""
    return temp_dir if temp_dir is not None else Path(tempfile.gettempdir())


def free_disk(directory: Path, min_free_mb: int) -> Check:
    async def check() -> CheckResult:
        existing = next(p for p in (directory, *directory.parents) if p.exists())
        free_mb = shutil.disk_usage(existing).free // MIB
        ok = free_mb >= min_free_mb
        return CheckResult(ok, f"{free_mb} MB free in {existing} (need {min_free_mb} MB)")

    return check


def queue(backlog: Callable[[], Awaitable[int]], timeout: float = QUEUE_TIMEOUT) -> Check:
    async def check() -> CheckResult:
        try:
            async with asyncio.timeout(timeout):
                waiting = await backlog()
        except TimeoutError:
            return CheckResult(False, f"no answer within {timeout:g}s")
        except FfapiError as exc:
            return CheckResult(False, exc.message)
        return CheckResult(True, f"reachable; about {waiting} messages waiting")

    return check


def cached(check: Check, seconds: float, clock: Callable[[], float] = time.monotonic) -> Check:
    """The last answer for ``seconds``; probes arriving together share one call."""
    lock = asyncio.Lock()
    last: list[tuple[float, CheckResult]] = []

    async def answer() -> CheckResult:
        async with lock:
            if not last or clock() - last[0][0] >= seconds:
                last[:] = [(clock(), await _guarded(check))]
            return last[0][1]

    return answer


def local_checks(accel: GpuAccelerator | None) -> dict[str, Check]:
    """What this process can tell without settings: the tools and the accelerator."""
    return {
        "ffmpeg": binary("ffmpeg"),
        "ffprobe": binary("ffprobe"),
        "accelerator": accelerator(accel),
    }


def worker_readiness(
    accel: GpuAccelerator | None,
    temp_dir: Path | None,
    min_free_mb: int,
    backlog: Callable[[], Awaitable[int]] | None,
) -> Readiness:
    """The container worker's checks; ``backlog`` is the jobs queue's (None: no queue)."""
    checks = local_checks(accel)
    checks["disk"] = free_disk(work_dir(temp_dir), min_free_mb)
    if backlog is not None:
        checks["queue"] = cached(queue(backlog), QUEUE_CACHE_SECONDS)
    return Readiness(checks)
