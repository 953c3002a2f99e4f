"""Running the worker as a service: ``ffapi worker`` (against AWS or an emulator) and
``ffapi local`` (the embedded emulator and the worker in one process).

In order: SIGTERM/SIGINT handlers (a stop is a clean exit at any point; SIGHUP checks the
configuration document now), the sweep of dead workers' job directories, the accelerator
probe, the HTTP server (``/healthz``, ``/readyz`` with the worker's readiness checks,
``/metrics``), then the :class:`handlers.worker.Worker`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import structlog

from core.jobs.outcome import Outcome
from handlers.runtime import open_runtime, workspace
from handlers.worker import Worker
from infra.allocator import return_large_blocks
from infra.bootstrap import Resources, bootstrap
from infra.emulator import embedded_emulator
from infra.health import serve_health
from infra.readiness import worker_readiness
from infra.settings import Settings
from infra.tools import use_tools

OnOutcome = Callable[[Outcome], None]

log = structlog.get_logger("ffapi.service")


@dataclass(frozen=True, slots=True)
class LocalStack:
    """What ``ffapi local`` made: where to drop files."""

    endpoint_url: str
    resources: Resources
    watch_prefix: str


async def run_worker(
    settings: Settings, concurrency: int | None, on_outcome: OnOutcome | None = None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # first thing: a stop during the sweep below or the accelerator probe is a clean exit
    for sig in (signal.SIGTERM, signal.SIGINT):  # ECS sends SIGTERM: finish running jobs first
        loop.add_signal_handler(sig, stop.set)
    reload = asyncio.Event()  # SIGHUP: check FFAPI_CONFIG now (handlers.live_config)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    use_tools(settings.tools())
    return_large_blocks()  # or freed transfer parts stay in the heap, job after job
    # Job dirs of a killed worker (kill -9, OOM, a spot reclaim) are never cleaned by it.
    swept = await asyncio.to_thread(workspace(settings).sweep)
    log.info("workspace.swept", removed=len(swept), names=[p.name for p in swept])
    async with open_runtime(settings) as runtime, AsyncExitStack() as scope:
        if runtime.accel is not None and settings.accel != "cpu":
            await runtime.accel.refresh()  # measured before the first job, logged once
        if settings.http_port:
            backlog = runtime.queue.backlog if runtime.queue is not None else None
            readiness = worker_readiness(
                runtime.accel, settings.temp_dir, settings.ready_min_free_mb, backlog
            )
            server = serve_health(runtime.accel, settings.http_port, readiness=readiness)
            port = await scope.enter_async_context(server)
            note = f"serving /healthz, /readyz and /metrics on port {port}"
            print(note, file=sys.stderr, flush=True)
        await Worker(runtime, concurrency, on_outcome, reload).run(stop)
    return 0


async def run_local(
    settings: Settings,
    concurrency: int | None,
    on_outcome: OnOutcome | None = None,
    on_ready: Callable[[LocalStack], None] | None = None,
) -> int:
    """The embedded emulator, its resources and the worker, until SIGINT/SIGTERM."""
    use_tools(settings.tools())
    with embedded_emulator(settings.region) as emulator:
        resources = await asyncio.to_thread(bootstrap, settings)
        if on_ready is not None:
            on_ready(LocalStack(emulator.endpoint_url, resources, settings.watch_prefix))
        return await run_worker(settings, concurrency, on_outcome)
