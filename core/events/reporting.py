"""Announcing a running job's progress without ever holding up its encode.

Progress arrives from the ffmpeg reader, synchronously. Each update is recorded on the job
(fenced by the attempt) and published as ``ffapi.job.progress``, in the background: one
announcement in flight, and only the latest update waiting behind it (a slow topic skips
stale percents rather than queue them). Progress is best effort: a failure to announce it
is logged, never the job's failure. ``flush`` waits for the last one, so every progress
event precedes the job's completion event; ``cancel`` drops them when the attempt fails. A
write refused for a cancel request (``JobCancelled``) is handed to ``on_cancel``.

A progressive package's :class:`PlayableNotice` travels the same way, as
``ffapi.job.playable``: once an attempt, never dropped for a later update, not recorded on
the job, and not cancelled with the progress (a job that fails after it was playable has
said so; its ``job.failed`` says the package is partial).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from core.errors import FfapiError, JobCancelled
from core.events.cloudevent import CloudEvent, EventType
from core.events.contract import job_event
from core.events.playable import PlayableNotice
from core.events.progress import ProgressUpdate
from core.ports import JobStore

log = structlog.get_logger("ffapi.progress")


class ProgressReporter:
    def __init__(
        self,
        job_id: str,
        attempt: int,
        context: dict[str, Any],
        jobs: JobStore,
        announce: Callable[[CloudEvent], Awaitable[None]],
        now: Callable[[], datetime],
        on_cancel: Callable[[], object] = lambda: None,
    ) -> None:
        self._job_id = job_id
        self._attempt = attempt
        self._context = context  # preset, correlation id: what every event of the job says
        self._jobs = jobs
        self._announce = announce  # the topic, then the job's webhooks
        self._now = now
        self._on_cancel = on_cancel  # the store refused a write: a cancel was requested
        self._pending: ProgressUpdate | None = None
        self._task: asyncio.Task[None] | None = None
        self._playable: asyncio.Task[None] | None = None

    def __call__(self, update: ProgressUpdate | PlayableNotice) -> None:
        if isinstance(update, PlayableNotice):
            if self._playable is None:  # once an attempt
                self._playable = asyncio.get_running_loop().create_task(self._say(update))
            return
        self._pending = update
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        if self._playable is not None:
            await self._playable
        if self._task is not None:
            await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        while self._pending is not None:
            update, self._pending = self._pending, None
            progress = update.model_dump(mode="json")
            try:
                await self._jobs.progress(self._job_id, update, self._attempt)
                data = {**self._context, "attempt": self._attempt, "progress": progress}
                await self._announce(
                    job_event(
                        EventType.PROGRESS,
                        self._job_id,
                        self._now(),
                        data,
                        self._attempt,
                        step=f"{update.phase}/{update.percent:g}",
                    )
                )
            except JobCancelled:
                self._on_cancel()
                return
            except FfapiError as exc:
                log.warning("progress.not_announced", code=exc.code, reason=exc.message)

    async def _say(self, notice: PlayableNotice) -> None:
        data = {**self._context, "attempt": self._attempt, **notice.model_dump(mode="json")}
        event = job_event(EventType.PLAYABLE, self._job_id, self._now(), data, self._attempt)
        try:
            await self._announce(event)
        except FfapiError as exc:
            log.warning("playable.not_announced", code=exc.code, reason=exc.message)
