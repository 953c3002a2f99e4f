"""The worker's small HTTP server on ``FFAPI_HTTP_PORT``: ``/healthz`` (liveness, with the
accelerator's state), ``/readyz`` (readiness: :mod:`infra.readiness`) and ``/metrics``
(Prometheus).

Liveness stays 200 while the event loop answers: a GPU that failed is not a reason to
restart a worker that still encodes on the CPU, so the accelerator's state (tiers in use,
circuit breaker, GPU slots, the probe's verdicts) is reported in the body, not the status.
Readiness is 503 while the worker could not do a job (no ffmpeg, no disk, no queue): an
orchestrator then stops counting it as available, without killing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from infra.accel import GpuAccelerator
from infra.readiness import Readiness, local_checks


def health_app(accel: GpuAccelerator | None, readiness: Readiness | None = None) -> web.Application:
    ready_checks = readiness or Readiness(local_checks(accel))

    async def healthz(_: web.Request) -> web.Response:
        body = {"status": "ok", "accel": accel.health() if accel else {"tiers": ["cpu"]}}
        return web.json_response(body)

    async def readyz(_: web.Request) -> web.Response:
        ready, body = await ready_checks.report()
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


@asynccontextmanager
async def serve_health(
    accel: GpuAccelerator | None,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 - probed by ECS
    readiness: Readiness | None = None,
) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port (``port=0`` picks a free one).
    Without ``readiness``, /readyz checks only what the process knows (tools, accelerator)."""
    runner = web.AppRunner(health_app(accel, readiness), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        yield sockets[0].getsockname()[1] if sockets else port
    finally:
        await runner.cleanup()
