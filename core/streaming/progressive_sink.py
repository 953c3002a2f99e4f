"""Publishing a package while it encodes (``progressive``): a :class:`SegmentSink` that keeps
the bucket's manifests growing with the segments that are already there.

The segment watch tells it of each segment as ffmpeg finishes it; the upload ahead sends it
(:class:`SegmentUploads`). In the background, and never faster than once per ``interval``
(segments of several rungs land together: one publication per row of them), it waits for
the told segments to be in the bucket, then puts the growing manifests
(:mod:`core.streaming.progressive`; ``Cache-Control: no-cache``): each rung's init segment
once, its ``EVENT`` media playlist, then ffmpeg's master, then the dynamic MPD. Nothing is
published before every rung (every media playlist the master names, video and audio) has its
first segment in the bucket, so the master never names a playlist that is not there; that
first publication is the moment the package is playable, said once (``on_playable``).

A publication that fails is the job's failure: it is raised by the next :meth:`landed` or by
:meth:`close`. After the encode, :meth:`close` publishes what is left and stops; the finish
path then replaces the manifests with the VOD ones. A job that fails after it was playable
keeps its package, marked failed (:meth:`mark_failed`); one that fails before has what this
put withdrawn (:meth:`withdraw`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from core.attempt.upload import headers_for
from core.jobs.results import output_key
from core.models import OutputLocation
from core.ports import LocalFiles, ObjectStore
from core.presets import StreamingPreset
from core.streaming.playlists import read_master, resolve
from core.streaming.progressive import (
    CACHE_GROWING,
    availability_start,
    event_playlist,
    failed_master,
    failed_mpd,
    growing_mpd,
    target_duration,
)
from core.streaming.segment_watch import LandedSegment


class SegmentUploads(Protocol):
    """Where the segments go (:class:`core.attempt.upload.UploadAhead`)."""

    async def delivered(self, paths: Iterable[str]) -> None:
        """Return once those of ``paths`` (relative to the job's output directory) that were
        sent are in the bucket; raise what an upload raised. The watch tells the upload of
        each segment before this sink."""


@dataclass(frozen=True, slots=True)
class GrowingLayout:
    """Where a streaming preset's package puts its manifests (as
    :func:`core.streaming.renditions.plan_streaming` lays it out) and how it numbers them."""

    master: str
    mpd: str | None
    segment_seconds: float
    media_sequence: int  # the muxer's first: dash numbers from 1, hls from 0

    @classmethod
    def of(cls, preset: StreamingPreset) -> GrowingLayout:
        if preset.kind == "cmaf":
            return cls("cmaf/master.m3u8", "cmaf/manifest.mpd", preset.segment_seconds, 1)
        return cls("hls/master.m3u8", None, preset.segment_seconds, 0)

    @property
    def playback(self) -> dict[str, str]:
        """hls / dash -> the manifest, relative to the job's output directory."""
        return {"hls": self.master, **({"dash": self.mpd} if self.mpd else {})}


class ProgressiveSink:
    def __init__(
        self, objects: ObjectStore, files: LocalFiles, uploads: SegmentUploads, local: Path,
        location: OutputLocation, job_id: str, layout: GrowingLayout,
        on_playable: Callable[[], None], now: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, interval: float = 1.0,
    ) -> None:  # fmt: skip
        self._objects, self._files, self._uploads = objects, files, uploads
        self._local, self._location, self._job_id = local, location, job_id
        self._layout = layout
        self._on_playable, self._now, self._sleep = on_playable, now, sleep
        self._interval = interval
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.playable = False
        self._begin()
        self._put: set[str] = set()  # keys this attempt began to put, to withdraw
        self._said: dict[str, str] = {}  # the master and MPD as last published
        self._start: str | None = None  # the MPD's availabilityStartTime, once published

    def _begin(self) -> None:
        self._told: dict[str, list[LandedSegment]] = {}  # per media playlist, in order
        self._in_bucket: dict[str, int] = {}  # per media playlist: its leading segments up
        self._inits: set[str] = set()
        self._rungs: tuple[str, ...] = ()  # the master's media playlists, once read
        self._published: dict[str, int] = {}  # segments per playlist at the last publication

    def restart(self) -> None:
        """A tier failed and the encode starts again: its segments are told anew (the
        package stays announced as playable: once an attempt)."""
        self._begin()

    async def landed(self, segments: Sequence[LandedSegment]) -> None:
        if self._error is not None:
            raise self._error
        for segment in segments:
            self._told.setdefault(segment.playlist, []).append(segment)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._pump())

    async def close(self) -> None:
        """The encode is over: publish what was told, announce if not yet, then stop."""
        await self.stop()
        if self._error is not None:
            raise self._error
        if self._told:
            await self._catch_up()

    async def mark_failed(self) -> None:
        """The job failed after the package was playable: the master and MPD published
        again as they were, with a comment that says so (the playlists stay ``EVENT``)."""
        await self.stop()
        for path, text in self._said.items():
            marked = failed_mpd(text) if path == self._layout.mpd else failed_master(text)
            await self._put_text(path, marked)

    async def withdraw(self) -> None:
        """The job failed before it was playable: delete what this attempt put."""
        await self.stop()
        if self._put:
            await self._objects.delete_keys(self._location.bucket, sorted(self._put))
        self._put = set()

    async def stop(self) -> None:
        """Publish no more (the attempt is cancelled, or its package is being finished)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _pump(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._catch_up()
                await self._sleep(self._interval)  # at most one publication per interval
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the job's failure: said by the next landed() or close()
            self._error = exc

    async def _catch_up(self) -> None:
        async with self._lock:
            told = {playlist: list(segments) for playlist, segments in self._told.items()}
            up = self._in_bucket
            waiting = [s.path for p, segs in told.items() for s in segs[up.get(p, 0) :]]
            await self._uploads.delivered(waiting)
            self._in_bucket.update({playlist: len(segs) for playlist, segs in told.items()})
            if not self._rungs:
                self._rungs = await self._read_rungs()
            counts = {playlist: len(segs) for playlist, segs in told.items()}
            ready = self._rungs and all(told.get(rung) for rung in self._rungs)
            if ready and counts != self._published:  # nothing new: nothing to say again
                await self._publish({rung: told[rung] for rung in self._rungs})
                self._published = counts

    async def _read_rungs(self) -> tuple[str, ...]:
        """The master's media playlists; none while ffmpeg has not written it."""
        master = self._layout.master
        with contextlib.suppress(FileNotFoundError, ValueError):
            text = await self._files.read_text(self._local / master)
            return tuple(resolve(master, uri) for uri in read_master(text).media_uris)
        return ()

    async def _publish(self, told: dict[str, list[LandedSegment]]) -> None:
        """Inits, media playlists, master, MPD: each tier once the one before is up."""
        inits = {s[0].init for s in told.values() if s[0].init and s[0].init not in self._inits}
        await asyncio.gather(*(self._put_file(init) for init in inits))
        self._inits |= inits
        layout = self._layout
        target = target_duration(layout.segment_seconds)
        await asyncio.gather(*(
            self._put_text(p, event_playlist(p, segs, target, layout.media_sequence))
            for p, segs in told.items()
        ))  # fmt: skip
        master = await self._files.read_text(self._local / layout.master)
        await self._put_text(layout.master, master)
        self._said[layout.master] = master
        if layout.mpd is not None:
            uploaded = {s.path for segs in told.values() for s in segs}
            raw = await self._files.read_text(self._local / layout.mpd)
            self._start = self._start or availability_start(raw)
            mpd = growing_mpd(raw, layout.mpd, uploaded, self._now(), self._start)
            await self._put_text(layout.mpd, mpd)
            self._said[layout.mpd] = mpd
        if not self.playable:
            self.playable = True
            self._on_playable()

    async def _put_text(self, path: str, text: str) -> None:
        key = output_key(self._location, self._job_id, path)
        self._put.add(key)
        content_type = headers_for(path)[0]
        await self._objects.put_bytes(
            text.encode(), self._location.bucket, key, content_type, CACHE_GROWING
        )

    async def _put_file(self, path: str) -> None:
        """An init segment: not yet final (an audio one gets its language at the end), so
        not cached either; the finish path puts it again, immutable."""
        key = output_key(self._location, self._job_id, path)
        self._put.add(key)
        content_type = headers_for(path)[0]
        await self._objects.upload_file(
            self._local / path, self._location.bucket, key, content_type, CACHE_GROWING
        )
